using System.Collections.Concurrent;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Clarity.Tests.Storage;

/// <summary>SQLite's single writer: writes a request waits for go ahead of background bookkeeping.</summary>
public sealed class SqliteWritePriorityTests : IAsyncLifetime
{
    private SqliteDatabase _db = null!;
    private string _dir = null!;
    private bool _disposed;

    public async Task InitializeAsync()
    {
        _dir = TestDatabases.NewTempDirectory();
        _db = new SqliteDatabase(Path.Combine(_dir, "clarity.db"), "FULL", NullLogger<SqliteDatabase>.Instance);
        await _db.WriteAsync((c, t) => c.ExecuteAsync("CREATE TABLE probe (id INTEGER PRIMARY KEY, v TEXT NOT NULL)", transaction: t));
    }

    public async Task DisposeAsync()
    {
        if (!_disposed)
        {
            await _db.DisposeAsync();
        }

        TestDatabases.DeleteDirectory(_dir);
    }

    /// <summary>Holds the writer thread inside a write until the returned gate is released.</summary>
    private Task<(SemaphoreSlim Gate, Task Held)> HoldWriterAsync() => SqliteWriterHold.HoldAsync(_db);

    private Task<int> Insert(bool background, int id, ConcurrentQueue<string> order)
    {
        Task<int> Work(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction t)
        {
            order.Enqueue(background ? "background" : "request");
            return c.ExecuteAsync("INSERT INTO probe (id, v) VALUES (@id, @v)", new { id, v = background ? "background" : "request" }, t);
        }

        return background ? _db.WriteBackgroundAsync(Work) : _db.WriteAsync(Work);
    }

    [Fact]
    public async Task RequestWrites_QueuedBehindABackgroundBacklog_RunBeforeIt()
    {
        var (gate, held) = await HoldWriterAsync();
        var order = new ConcurrentQueue<string>();
        var background = Enumerable.Range(1, 100).Select(i => Insert(background: true, i, order)).ToList();
        var requests = Enumerable.Range(1001, 10).Select(i => Insert(background: false, i, order)).ToList();

        gate.Release();
        await held;
        await Task.WhenAll(requests.Concat(background));

        var ran = order.ToArray();
        Assert.Equal(110, ran.Length);
        Assert.All(ran.Take(10), kind => Assert.Equal("request", kind));
        await using var read = await _db.OpenReadAsync();
        Assert.Equal(100, await read.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM probe WHERE v = 'background'"));
        Assert.Equal(10, await read.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM probe WHERE v = 'request'"));
    }

    [Fact]
    public async Task BackgroundWrites_WhileRequestsKeepComing_StillCommitABoundedShareOfEachGroup()
    {
        var (gate, held) = await HoldWriterAsync();
        var order = new ConcurrentQueue<string>();
        var background = Enumerable.Range(1, 20).Select(i => Insert(background: true, i, order)).ToList();
        var requests = Enumerable.Range(1001, 30).Select(i => Insert(background: false, i, order)).ToList();

        gate.Release();
        await held;
        await Task.WhenAll(requests.Concat(background));

        // One group: every queued request, then at most the background share; the rest of the background follows.
        var ran = order.ToArray();
        Assert.All(ran.Take(30), kind => Assert.Equal("request", kind));
        Assert.All(ran.Skip(30), kind => Assert.Equal("background", kind));
        Assert.Equal(20, ran.Count(kind => kind == "background"));
    }

    [Fact]
    public async Task Dispose_WithWritesQueued_CommitsThemAllAndRefusesLaterOnes()
    {
        var (gate, held) = await HoldWriterAsync();
        var order = new ConcurrentQueue<string>();
        var queued = Enumerable.Range(1, 40).Select(i => Insert(background: i % 2 == 0, i, order)).ToList();

        var disposing = Task.Run(async () => await _db.DisposeAsync());
        gate.Release();
        await held;
        await Task.WhenAll(queued);
        await disposing;
        _disposed = true;

        Assert.Equal(40, order.Count);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => _db.WriteBackgroundAsync((c, t) => Task.FromResult(0)));
    }
}
