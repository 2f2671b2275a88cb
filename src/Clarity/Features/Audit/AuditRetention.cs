using Clarity.Events.Audit;
using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Audit;

/// <summary>
/// Audit retention (<c>Audit:RetentionDays</c>; 0, the default, keeps every entry whole): on the leader, every ten
/// minutes, removes the payload of entries older than that and marks them pruned, keeping each one's digest and hash as a
/// tombstone, so the chain still verifies and a prune never looks like tampering.
/// </summary>
public sealed class AuditRetention(AuditLog log, IOptions<ClarityOptions> options) : PeriodicSweep(TimeSpan.FromMinutes(10))
{
    private const int Batch = 5000;

    public override string Name => "audit retention";

    protected override Task<int> RunAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var days = options.Value.Audit.RetentionDays;
        if (days <= 0)
        {
            return Task.FromResult(0);
        }

        var cutoff = DbTime.ToDb(now - TimeSpan.FromDays(days));
        return InBatchesAsync(Batch, () => log.PruneAsync(cutoff, DbTime.ToDb(now), Batch, cancellationToken));
    }
}
