using System.Collections.Concurrent;
using System.Diagnostics;
using Clarity.Hosting;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Clarity.Tests.Hosting;

/// <summary>The loop every background job runs in: woken passes, and their pacing under a stream of wake-ups.</summary>
public sealed class BackgroundLoopTests : IAsyncLifetime
{
    private SqliteDatabase _db = null!;
    private Leadership _leadership = null!;
    private string _dir = null!;

    public Task InitializeAsync()
    {
        _dir = TestDatabases.NewTempDirectory();
        _db = new SqliteDatabase(Path.Combine(_dir, "clarity.db"), "FULL", NullLogger<SqliteDatabase>.Instance);
        _leadership = new Leadership(_db, TimeProvider.System, NullLogger<Leadership>.Instance);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _leadership.Dispose();
        await _db.DisposeAsync();
        TestDatabases.DeleteDirectory(_dir);
    }

    /// <summary>A loop that notes when each pass starts, and can report more work once.</summary>
    private sealed class ProbeLoop(Leadership leadership, TimeSpan pacing) : BackgroundLoop(leadership, NullLogger.Instance)
    {
        public ConcurrentQueue<long> Starts { get; } = new();

        public ConcurrentQueue<long> Ends { get; } = new();

        public SemaphoreSlim Passed { get; } = new(0);

        public int MoreOnce;

        protected override string Name => "probe";

        protected override TimeSpan Interval => TimeSpan.FromHours(1);

        protected override bool LeaderOnly => false;

        protected override TimeSpan Pacing => pacing;

        protected override Task<bool> RunOnceAsync(CancellationToken ct)
        {
            Starts.Enqueue(Stopwatch.GetTimestamp());
            var more = Interlocked.Exchange(ref MoreOnce, 0) == 1;
            Ends.Enqueue(Stopwatch.GetTimestamp());
            Passed.Release();
            return Task.FromResult(more);
        }
    }

    private static async Task PassesAsync(ProbeLoop loop, int count)
    {
        for (var i = 0; i < count; i++)
        {
            Assert.True(await loop.Passed.WaitAsync(TimeSpan.FromSeconds(30)), $"pass {i + 1} of {count} never ran");
        }
    }

    [Fact]
    public async Task WokenPasses_UnderAStreamOfWakeUps_StartNoSoonerThanThePacingAfterThePassBefore()
    {
        var pacing = TimeSpan.FromMilliseconds(200);
        using var loop = new ProbeLoop(_leadership, pacing);
        await loop.StartAsync(CancellationToken.None);
        try
        {
            await PassesAsync(loop, 1);

            // Wake it again and again: every pass after the first waits out the pacing from the end of the one before.
            using var waking = new CancellationTokenSource();
            var waker = Task.Run(async () =>
            {
                while (!waking.IsCancellationRequested)
                {
                    loop.Wake();
                    await Task.Delay(1);
                }
            });
            await PassesAsync(loop, 4);
            await waking.CancelAsync();
            await waker;
        }
        finally
        {
            await loop.StopAsync(CancellationToken.None);
        }

        var starts = loop.Starts.ToArray();
        var ends = loop.Ends.ToArray();
        Assert.True(starts.Length >= 5);
        for (var i = 1; i < starts.Length; i++)
        {
            // A lower bound only (a slow machine makes the gaps longer, never shorter); the timer may round a millisecond early.
            var gap = Stopwatch.GetElapsedTime(ends[i - 1], starts[i]);
            Assert.True(gap >= pacing - TimeSpan.FromMilliseconds(5), $"pass {i + 1} started {gap.TotalMilliseconds:F1} ms after the one before ended");
        }
    }

    [Fact]
    public async Task APassWithMoreWork_IsFollowedAtOnce_WithoutWaitingForAWakeUpOrThePacing()
    {
        using var loop = new ProbeLoop(_leadership, TimeSpan.FromHours(1)) { MoreOnce = 1 };
        await loop.StartAsync(CancellationToken.None);
        try
        {
            // The interval and the pacing are an hour: only "more work" can bring the second pass.
            await PassesAsync(loop, 2);
        }
        finally
        {
            await loop.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task AWakeUp_AfterAQuietSpellLongerThanThePacing_RunsAPass()
    {
        using var loop = new ProbeLoop(_leadership, TimeSpan.FromMilliseconds(20));
        await loop.StartAsync(CancellationToken.None);
        try
        {
            await PassesAsync(loop, 1);
            await Task.Delay(100);
            loop.Wake();
            await PassesAsync(loop, 1);
            Assert.Equal(2, loop.Starts.Count);
        }
        finally
        {
            await loop.StopAsync(CancellationToken.None);
        }
    }
}
