using Clarity.Events.Stream;
using Clarity.Hosting;
using Clarity.Storage;

namespace Clarity.Events;

/// <summary>
/// This node's reader of the outbox. It follows the sequenced events in seq order, from the newest at start-up, and
/// hands each to the node's stream hub (which delivers it to subscribed streams) and to the node's event-bus
/// subscribers (other nodes' events; this node's own reached them at commit). On PostgreSQL it reads the table when the
/// sequencer announces new rows (NOTIFY). On SQLite, whose single writer gives each row its seq as it commits, a change
/// hands its committed rows over in memory (<see cref="Offer"/>) and the feed delivers them as soon as they continue the
/// sequence, without reading them back. Either way it also reads the table every second, so a lost notification or an
/// offer that never came delays an event by a second at most and loses nothing: the table is the truth.
/// </summary>
public sealed partial class EventFeed(EventLog log, StreamHub hub, EventBus bus, Leadership leadership, ILogger<EventFeed> logger)
    : BackgroundLoop(leadership, logger)
{
    private const int Batch = 500;
    private long _cursor = -1;

    // Guards the cursor's advance and the hand-over to the hub, so rows go out in seq order from either path.
    private readonly Lock _gate = new();

    // Rows offered ahead of a gap (a concurrent commit whose offer is still to come), by seq.
    private readonly SortedList<long, EventRow> _ahead = [];

    protected override string Name => "event feed";

    protected override TimeSpan Interval => TimeSpan.FromSeconds(1);

    protected override bool LeaderOnly => false;

    /// <summary>The seq this node has delivered through.</summary>
    public long Cursor
    {
        get
        {
            lock (_gate)
            {
                return _cursor;
            }
        }
    }

    protected override string? WakeChannel => EventLog.SequencedChannel;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Start from now: older events are replayed from the table on request (lastEventId), never pushed.
        var newest = (await log.PositionAsync(cancellationToken)).NewestId;
        lock (_gate)
        {
            _cursor = newest;
            log.Tail.Start(newest);
        }

        await base.StartAsync(cancellationToken);
        await Listening.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
    }

    /// <summary>
    /// SQLite: rows a change has just committed, with their seqs. They are delivered at once if they continue the
    /// sequence, else held until the rows before them arrive (by offer or from the table).
    /// </summary>
    public void Offer(IReadOnlyList<EventRow> rows)
    {
        lock (_gate)
        {
            foreach (var row in rows)
            {
                if (row.Seq > _cursor)
                {
                    _ahead[row.Seq] = row;
                }
            }

            DeliverHeldRun();
            if (_ahead.Count > 1_000)
            {
                // An offer went missing (its change failed after the commit): the next table pass fills the gap.
                _ahead.Clear();
                Wake();
            }
        }
    }

    /// <summary>Delivers the held rows that now continue the sequence, and drops those already behind it. Under the gate.</summary>
    private void DeliverHeldRun()
    {
        while (_ahead.Count > 0 && _ahead.Keys[0] <= _cursor)
        {
            _ahead.RemoveAt(0);
        }

        List<EventRow>? run = null;
        while (_ahead.Count > 0 && _ahead.Keys[0] == _cursor + 1)
        {
            (run ??= []).Add(_ahead.Values[0]);
            _ahead.RemoveAt(0);
            _cursor++;
        }

        if (run is not null)
        {
            Deliver(run);
        }
    }

    protected override async Task<bool> RunOnceAsync(CancellationToken ct)
    {
        var rows = await log.ReadAfterAsync(Cursor, null, null, Batch, ct);
        if (rows.Count == 0)
        {
            return false;
        }

        lock (_gate)
        {
            // Offers may have moved the cursor while the rows were read.
            var fresh = rows.Where(r => r.Seq > _cursor).ToList();
            if (fresh.Count > 0)
            {
                Deliver(fresh);
                _cursor = fresh[^1].Seq;
            }

            // Rows offered while the table was read may continue right after what it held.
            DeliverHeldRun();
        }

        return rows.Count == Batch;
    }

    /// <summary>Hands rows, in seq order and each once, to the hub and to this node's bus subscribers. Under the gate.</summary>
    private void Deliver(IReadOnlyList<EventRow> rows)
    {
        // The tail first: it must end where the cursor does (the offers' path moves the cursor before it delivers).
        log.Tail.Append(rows);
        hub.Dispatch(rows);
        foreach (var row in rows)
        {
            if (!bus.ShouldDeliverFromFeed(row.RowId))
            {
                continue;
            }

            ClarityEvent? evt = null;
            try
            {
                evt = row.ToEvent();
            }
            catch (System.Text.Json.JsonException ex)
            {
                Log.Unreadable(logger, ex, row.Seq);
            }

            if (evt is not null)
            {
                bus.DeliverFromFeed(evt);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(2, LogLevel.Warning, "Skipped outbox event {Seq}, whose payload could not be read")]
        public static partial void Unreadable(ILogger logger, Exception error, long seq);
    }
}

/// <summary>
/// PostgreSQL, on the leader: numbers committed outbox rows (see <see cref="EventLog.SequenceAsync"/>) as soon as they
/// are announced, and at least every second. A commit on the leader wakes it in-process; a commit on another node
/// announces itself with a NOTIFY sent after the commit, one at a time, so a burst of commits costs a few
/// notifications, and no writer's transaction notifies (PostgreSQL serialises the commits of notifying transactions).
/// Other nodes' feeds hear of each numbered range by NOTIFY.
/// </summary>
public sealed class EventSequencer(EventLog log, Database db, Leadership leadership, ILogger<EventSequencer> logger)
    : CommitFollowingLoop(db, leadership, logger)
{
    protected override string Name => "event sequencer";

    protected override string? WakeChannel => EventLog.AppendedChannel;

    protected override Task<int> FollowAsync(int batch, CancellationToken ct) => log.SequenceAsync(batch, ct);

    protected override Task AnnounceAsync(CancellationToken ct) => log.AnnounceAppendedAsync(ct);
}
