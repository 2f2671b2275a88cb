using Microsoft.Extensions.Options;

namespace Clarity.Hosting;

/// <summary>One kind of background sweep: expired leases, timeouts, expired clarifications, retention, and more.</summary>
public interface ISweep
{
    string Name { get; }

    /// <summary>Applies every change that is due at <paramref name="now"/> and returns how many rows changed.</summary>
    Task<int> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken);
}

/// <summary>
/// A sweep that does its work at most once every <paramref name="every"/> (by the <c>now</c> it is given), however
/// often the <see cref="Sweeper"/> ticks: for clean-ups that need not run every second. The first tick runs it.
/// </summary>
public abstract class PeriodicSweep(TimeSpan every) : ISweep
{
    private DateTimeOffset _next;

    public abstract string Name { get; }

    public async Task<int> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (now < _next)
        {
            return 0;
        }

        var changed = await RunAsync(now, cancellationToken);
        _next = now + every;
        return changed;
    }

    /// <summary>The sweep's work, when it is due; returns how many rows changed.</summary>
    protected abstract Task<int> RunAsync(DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Runs <paramref name="batch"/> (which changes at most <paramref name="size"/> rows) until a run changes fewer; returns the total.</summary>
    protected static async Task<int> InBatchesAsync(int size, Func<Task<int>> batch)
    {
        var total = 0;
        int changed;
        do
        {
            changed = await batch();
            total += changed;
        }
        while (changed == size);

        return total;
    }
}

/// <summary>
/// Runs every registered <see cref="ISweep"/> every <c>Tasks:SweepIntervalMilliseconds</c>, on the leader only. The sweeps
/// keep their state in the database and make conditional updates, so a restart or a change of leader loses nothing.
/// </summary>
public sealed partial class Sweeper(IEnumerable<ISweep> sweeps, IOptions<ClarityOptions> options, TimeProvider clock, Leadership leadership, ILogger<Sweeper> logger)
    : BackgroundLoop(leadership, logger)
{
    protected override string Name => "sweeper";

    protected override TimeSpan Interval => TimeSpan.FromMilliseconds(options.Value.Tasks.SweepIntervalMilliseconds);

    protected override async Task<bool> RunOnceAsync(CancellationToken ct)
    {
        foreach (var sweep in sweeps)
        {
            try
            {
                var changed = await sweep.SweepAsync(clock.GetUtcNow(), ct);
                if (changed > 0)
                {
                    Log.Swept(logger, sweep.Name, changed);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.Failed(logger, ex, sweep.Name);
            }
        }

        return false;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Sweep {Sweep} changed {Count} rows")]
        public static partial void Swept(ILogger logger, string sweep, int count);

        [LoggerMessage(2, LogLevel.Error, "Sweep {Sweep} failed; it runs again on the next tick")]
        public static partial void Failed(ILogger logger, Exception error, string sweep);
    }
}
