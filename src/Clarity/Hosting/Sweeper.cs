using Microsoft.Extensions.Options;

namespace Clarity.Hosting;

/// <summary>One kind of background sweep: expired leases, timeouts, expired clarifications, and later more.</summary>
public interface ISweep
{
    string Name { get; }

    /// <summary>Applies every change that is due at <paramref name="now"/> and returns how many rows changed.</summary>
    Task<int> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken);
}

/// <summary>
/// Runs every registered <see cref="ISweep"/> on an interval. The sweeps keep their state in the database and
/// make conditional updates, so a restart loses nothing and several nodes may sweep at once safely.
/// </summary>
public sealed partial class Sweeper(IEnumerable<ISweep> sweeps, IOptions<ClarityOptions> options, TimeProvider clock, ILogger<Sweeper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(options.Value.Tasks.SweepIntervalMilliseconds), clock);
        do
        {
            foreach (var sweep in sweeps)
            {
                try
                {
                    var changed = await sweep.SweepAsync(clock.GetUtcNow(), stoppingToken);
                    if (changed > 0)
                    {
                        Log.Swept(logger, sweep.Name, changed);
                    }
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex)
                {
                    Log.Failed(logger, ex, sweep.Name);
                }
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).AsTask().ContinueWith(t => t.IsCompletedSuccessfully && t.Result, TaskScheduler.Default));
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Sweep {Sweep} changed {Count} rows")]
        public static partial void Swept(ILogger logger, string sweep, int count);

        [LoggerMessage(2, LogLevel.Error, "Sweep {Sweep} failed; it runs again on the next tick")]
        public static partial void Failed(ILogger logger, Exception error, string sweep);
    }
}
