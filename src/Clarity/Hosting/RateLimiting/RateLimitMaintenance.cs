using Microsoft.Extensions.Options;

namespace Clarity.Hosting.RateLimiting;

/// <summary>
/// Runs <see cref="ApiRateLimiter.MaintainAsync"/> every <see cref="RateLimitOptions.SyncInterval"/>, on every node:
/// each node syncs its own buckets, so this is not a leader-only job.
/// </summary>
public sealed class RateLimitMaintenance(ApiRateLimiter limiter, IOptions<ClarityOptions> options, Leadership leadership, ILogger<RateLimitMaintenance> logger)
    : BackgroundLoop(leadership, logger)
{
    protected override string Name => "rate-limit maintenance";

    protected override TimeSpan Interval => options.Value.RateLimits.SyncInterval;

    protected override bool LeaderOnly => false;

    protected override async Task<bool> RunOnceAsync(CancellationToken ct)
    {
        await limiter.MaintainAsync(ct);
        return false;
    }
}
