using Clarity.Hosting;

namespace Clarity.Events.Audit;

/// <summary>
/// This node's word that audit entries were chained, through a position: on SQLite after each commit that wrote entries
/// (they are chained inline), on PostgreSQL after each pass of the chainer on the leader. In-memory hints only (the
/// dashboard's live page, schedules of checkpoints); the table is the truth.
/// </summary>
public sealed class AuditSignal
{
    private long _newest;

    /// <summary>Raised with the newest position chained; handlers must be quick and must not throw.</summary>
    public event Action<long>? Advanced;

    public long Newest => Interlocked.Read(ref _newest);

    public void Chained(long position)
    {
        long seen;
        do
        {
            seen = Interlocked.Read(ref _newest);
            if (position <= seen)
            {
                break;
            }
        }
        while (Interlocked.CompareExchange(ref _newest, position, seen) != seen);

        Advanced?.Invoke(position);
    }
}

/// <summary>
/// PostgreSQL, on the leader: chains committed audit entries (<see cref="AuditLog.ChainAsync"/>) as soon as they are
/// announced, and at least every second. A commit on the leader wakes it in-process; a commit on another node announces
/// itself with a NOTIFY sent after the commit, one at a time, so a burst of commits costs a few notifications and no
/// writer's transaction notifies. Writers never wait for it: an org's unrelated writes are not serialised by its chain.
/// </summary>
public sealed class AuditChainer(AuditLog log, AuditSignal signal, Leadership leadership, ILogger<AuditChainer> logger)
    : CommitFollowingLoop(log.Database, leadership, logger)
{
    protected override string Name => "audit chainer";

    protected override string? WakeChannel => AuditLog.AppendedChannel;

    protected override async Task<int> FollowAsync(int batch, CancellationToken ct)
    {
        var chained = await log.ChainAsync(batch, ct);
        if (chained > 0)
        {
            signal.Chained(await log.NewestPositionAsync(ct));
        }

        return chained;
    }

    protected override Task AnnounceAsync(CancellationToken ct) => log.AnnounceAppendedAsync(ct);
}
