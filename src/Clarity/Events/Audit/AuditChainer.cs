using Clarity.Hosting;
using Clarity.Storage;

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
public sealed partial class AuditChainer(AuditLog log, AuditSignal signal, Leadership leadership, ILogger<AuditChainer> logger)
    : BackgroundLoop(leadership, logger)
{
    private const int Batch = 2000;
    private static readonly TimeSpan s_pacing = TimeSpan.FromMilliseconds(10);
    private readonly SemaphoreSlim _announce = new(0, 1);
    private readonly CancellationTokenSource _stopping = new();
    private Task? _announcer;

    protected override string Name => "audit chainer";

    protected override TimeSpan Interval => TimeSpan.FromSeconds(1);

    protected override string? WakeChannel => AuditLog.AppendedChannel;

    /// <summary>This node committed audit entries: wakes the chainer here if this node leads, else tells the leader.</summary>
    public void Appended()
    {
        if (IsLeader)
        {
            Wake();
            return;
        }

        try
        {
            _announce.Release();
        }
        catch (SemaphoreFullException)
        {
            // An announcement is already due; it covers this commit too.
        }
    }

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        _announcer = Task.Run(() => AnnounceAsync(_stopping.Token), CancellationToken.None);
        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_announcer is not null)
        {
            await _announcer.ContinueWith(_ => { }, TaskScheduler.Default);
        }

        await base.StopAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _announce.Dispose();
        _stopping.Dispose();
        base.Dispose();
    }

    protected override async Task<bool> RunOnceAsync(CancellationToken ct)
    {
        if (log.Database.Kind != DatabaseKind.Postgres)
        {
            return false;
        }

        var chained = await log.ChainAsync(Batch, ct);
        if (chained > 0)
        {
            signal.Chained(await log.NewestPositionAsync(ct));
        }

        if (chained == Batch)
        {
            return true;
        }

        if (chained > 0)
        {
            // Commits that arrive meanwhile are chained together by the next pass (see EventSequencer's pacing).
            await Task.Delay(s_pacing, ct);
        }

        return false;
    }

    private async Task AnnounceAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _announce.WaitAsync(ct);
                await log.AnnounceAppendedAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                Log.AnnounceFailed(logger, ex);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Could not tell the leader of new audit entries (it finds them within a second anyway)")]
        public static partial void AnnounceFailed(ILogger logger, Exception error);
    }
}
