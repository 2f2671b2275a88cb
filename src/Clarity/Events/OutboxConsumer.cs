using System.Data.Common;
using System.Text.Json;
using Clarity.Hosting;
using Clarity.Storage;

namespace Clarity.Events;

/// <summary>One batch of the outbox past a consumer's cursor: its rows in seq order, the events of those that could be read, and the pass's time.</summary>
public sealed record OutboxBatch(IReadOnlyList<EventRow> Rows, IReadOnlyList<(EventRow Row, ClarityEvent Event)> Events, DateTimeOffset Now);

/// <summary>
/// What a consumer makes of a batch: <see cref="Write"/> runs in the transaction that advances its cursor (so the batch's
/// effects and the cursor commit together, or not at all), and <see cref="Committed"/> runs once that has committed.
/// <see cref="Change"/>, when set, runs in the same transaction after <see cref="Write"/>, and makes that transaction a
/// unit of work by the system (<see cref="Changes"/>): for a consumer whose effects are changes with events and audit
/// entries of their own (the notification fan-out starting an escalation).
/// </summary>
public sealed record OutboxWork(Func<DbConnection, DbTransaction, Task>? Write = null, Action? Committed = null, Func<Change, Task>? Change = null)
{
    public static readonly OutboxWork None = new();
}

/// <summary>
/// A durable consumer of the outbox, on the leader: it follows <c>events</c> by seq from its cursor in
/// <c>consumer_cursors</c> (<see cref="CursorName"/>), reads a batch past it (from this node's <see cref="FeedTail"/>
/// once it has caught up with the feed, else from the table), lets the consumer work out what the batch means
/// (<see cref="HandleAsync"/>), and writes that in the same transaction as it advances the cursor. A crash or restart
/// therefore resumes exactly where the last committed pass ended, and a pass whose cursor moved meanwhile (a former
/// leader's) writes nothing and reads again. Woken by the committed events of this node (<see cref="WakesOn"/>), by the
/// feed's tail growing, and by the sequencer's NOTIFY on PostgreSQL; at least every second regardless. A failing pass
/// is logged and retried on the next tick (<see cref="BackgroundLoop"/>).
/// </summary>
public abstract partial class OutboxConsumer : BackgroundLoop
{
    /// <summary>How many outbox rows one pass reads at the most.</summary>
    public const int Batch = 500;

    private readonly EventLog _log;
    private readonly ConsumerCursors _cursors;
    private readonly IDisposable _subscription;
    private readonly IDisposable _tailSubscription;

    protected OutboxConsumer(EventLog log, ConsumerCursors cursors, IEventBus bus, TimeProvider clock, Leadership leadership, ILogger logger)
        : base(leadership, logger)
    {
        _log = log;
        _cursors = cursors;
        Clock = clock;
        _subscription = bus.Subscribe(e =>
        {
            if (WakesOn(e))
            {
                Wake();
            }
        });

        // The feed delivered rows past the tail's old end (on PostgreSQL once the sequencer numbered them, which is after
        // their commits woke us above): the next pass reads them from the tail.
        _tailSubscription = log.Tail.Subscribe(rows =>
        {
            foreach (var row in rows)
            {
                if (Reads(row))
                {
                    Wake();
                    return;
                }
            }
        });
    }

    /// <summary>The consumer's row in <c>consumer_cursors</c>.</summary>
    protected abstract string CursorName { get; }

    /// <summary>Who skipped an unreadable event, for the log ("Webhooks", "Notifications").</summary>
    protected abstract string LogSubject { get; }

    protected override TimeSpan Interval => TimeSpan.FromSeconds(1);

    // Woken by every commit with events: under load, a pass at least 10 ms after the last takes what a burst of commits
    // wrote, a few queries per batch instead of per handful of events. A consumer's effects wait at most that much longer.
    protected override TimeSpan Pacing => TimeSpan.FromMilliseconds(10);

    protected override string? WakeChannel => EventLog.SequencedChannel;

    protected TimeProvider Clock { get; }

    /// <summary>Whether a committed event on this node should wake the consumer (every one, by default).</summary>
    protected virtual bool WakesOn(ClarityEvent evt) => true;

    /// <summary>Whether the consumer reads this row's event at all (every row, by default); the others are passed over unread.</summary>
    protected virtual bool Reads(EventRow row) => true;

    /// <summary>What the batch means: what to write with the cursor's advance, and what to do after the commit.</summary>
    protected abstract Task<OutboxWork> HandleAsync(OutboxBatch batch, CancellationToken ct);

    protected override Task<bool> RunOnceAsync(CancellationToken ct) => ConsumeAsync(ct);

    /// <summary>
    /// How long the durable cursor may trail a run of batches that meant nothing to the consumer (no write, no change, no
    /// after-commit action), and how often the cursor is read back from <c>consumer_cursors</c>. Such passes move the
    /// cursor in memory only; the next pass with work, or the first pass this long after the last durable move, writes
    /// it. Under load most passes of a consumer with nothing to do (no webhook endpoints, no rules) would otherwise each
    /// be a read and a write transaction (a commit, on PostgreSQL) for nothing. After a crash those events are read
    /// again, and again mean nothing. A pass with work moves the cursor from where this node last saw it, so a cursor
    /// moved meanwhile by another pass (a former leader's) fails that move and is read again: nothing is done twice.
    /// </summary>
    internal static readonly TimeSpan IdleFlush = TimeSpan.FromSeconds(1);

    // The cursor as last read from or written to consumer_cursors; how far this node has consumed past it in memory;
    // when it was last written, and last read back.
    private long _durable = -1;
    private long _position = -1;
    private long _durableAt;
    private long _checkedAt;

    /// <summary>One batch past the cursor. True when there is more to read at once (a full batch, or the cursor moved meanwhile).</summary>
    protected async Task<bool> ConsumeAsync(CancellationToken ct)
    {
        var flushMs = (long)IdleFlush.TotalMilliseconds;
        var readBack = _durable < 0 || Environment.TickCount64 - _checkedAt >= flushMs;
        if (readBack)
        {
            // The first pass, after a failed move, and every IdleFlush: someone may have moved (or an operator rewound) it.
            var durable = await _cursors.ReadAsync(CursorName, ct);
            _checkedAt = Environment.TickCount64;
            if (durable != _durable)
            {
                (_durable, _position, _durableAt) = (durable, durable, _checkedAt);
            }
        }

        // Caught up with this node's feed, the batch comes from its tail (nothing new there: an empty batch, and the
        // feed wakes us when it grows); behind it or ahead of it, from the table. The pass that reads the cursor back
        // (about once a second) reads the table too, so a tail that ever stopped short of it delays a batch by that much.
        var rows = !readBack && _log.Tail.TryRead(_position, Batch, out var tail) ? tail : await _log.ReadAfterAsync(_position, null, null, Batch, ct);
        var flushDue = _position > _durable && Environment.TickCount64 - _durableAt >= flushMs;
        if (rows.Count == 0)
        {
            if (flushDue)
            {
                await AdvanceAsync(_position, DbTime.ToDb(Clock.GetUtcNow()), OutboxWork.None, ct);
            }

            return false;
        }

        var now = Clock.GetUtcNow();
        var work = await HandleAsync(new OutboxBatch(rows, Decode(rows), now), ct);
        if (work == OutboxWork.None && !flushDue)
        {
            _position = rows[^1].Seq;
            return rows.Count == Batch;
        }

        if (!await AdvanceAsync(rows[^1].Seq, DbTime.ToDb(now), work, ct))
        {
            // Another pass (a former leader's) moved the cursor meanwhile: read again from where it is now.
            return true;
        }

        work.Committed?.Invoke();
        return rows.Count == Batch;
    }

    /// <summary>Moves the durable cursor from where it was last seen to <paramref name="to"/>, with the batch's work; false when another pass moved it first.</summary>
    private async Task<bool> AdvanceAsync(long to, long now, OutboxWork work, CancellationToken ct)
    {
        if (!await _cursors.AdvanceAsync(CursorName, _durable, to, now, work.Write, work.Change, ct))
        {
            _durable = -1;
            return false;
        }

        (_durable, _position, _durableAt) = (to, to, Environment.TickCount64);
        return true;
    }

    private List<(EventRow Row, ClarityEvent Event)> Decode(IReadOnlyList<EventRow> rows)
    {
        var events = new List<(EventRow, ClarityEvent)>(rows.Count);
        foreach (var row in rows)
        {
            if (!Reads(row))
            {
                continue;
            }

            try
            {
                if (row.ToEvent() is { } evt)
                {
                    events.Add((row, evt));
                }
            }
            catch (JsonException ex)
            {
                Log.Unreadable(Logger, ex, LogSubject, row.Seq);
            }
        }

        return events;
    }

    public override void Dispose()
    {
        _subscription.Dispose();
        _tailSubscription.Dispose();
        base.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "{Consumer} skipped outbox event {Seq}, whose payload could not be read")]
        public static partial void Unreadable(ILogger logger, Exception error, string consumer, long seq);
    }
}
