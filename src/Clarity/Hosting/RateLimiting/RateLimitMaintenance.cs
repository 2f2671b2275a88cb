using Microsoft.Extensions.Options;

namespace Clarity.Hosting.RateLimiting;

/// <summary>Runs <see cref="ApiRateLimiter.MaintainAsync"/> every <see cref="RateLimitOptions.SyncInterval"/>.</summary>
public sealed partial class RateLimitMaintenance(ApiRateLimiter limiter, IOptions<ClarityOptions> options, TimeProvider clock, ILogger<RateLimitMaintenance> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.RateLimits.SyncInterval, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await limiter.MaintainAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    Log.Failed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Rate-limit maintenance failed; it runs again on the next tick")]
        public static partial void Failed(ILogger logger, Exception error);
    }
}
