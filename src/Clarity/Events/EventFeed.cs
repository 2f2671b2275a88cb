using Clarity.Events.Stream;
using Clarity.Hosting;
using Clarity.Storage;

namespace Clarity.Events;

/// <summary>
/// This node's reader of the outbox. It follows the sequenced events in seq order, from the newest at start-up, and
/// hands each to the node's stream hub (which delivers it to subscribed streams) and to the node's event-bus
/// subscribers (other nodes' events; this node's own reached them at commit). It wakes when this node commits a change,
/// when the sequencer announces new rows (PostgreSQL NOTIFY), and every second regardless, so a lost notification
/// delays an event by a second at most and loses nothing: the table is the truth.
/// </summary>
public sealed partial class EventFeed(EventLog log, StreamHub hub, EventBus bus, Database db, Leadership leadership, ILogger<EventFeed> logger)
    : BackgroundLoop(leadership, logger)
{
    private const int Batch = 500;
    private long _cursor = -1;
    private Task? _listen;
    private readonly CancellationTokenSource _stopping = new();

    protected override string Name => "event feed";

    protected override TimeSpan Interval => TimeSpan.FromSeconds(1);

    protected override bool LeaderOnly => false;

    /// <summary>The seq this node has delivered through.</summary>
    public long Cursor => Interlocked.Read(ref _cursor);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Start from now: older events are replayed from the table on request (lastEventId), never pushed.
        Interlocked.Exchange(ref _cursor, (await log.PositionAsync(cancellationToken)).NewestId);
        if (db is PostgresDatabase pg)
        {
            var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _listen = Task.Run(() => PostgresListener.RunAsync(
                pg,
                EventLog.SequencedChannel,
                onListening: (_, _) =>
                {
                    // (Re)connected: whatever was announced while deaf is read by the next pass.
                    listening.TrySetResult();
                    Wake();
                    return Task.CompletedTask;
                },
                onNotifications: (_, _) =>
                {
                    Wake();
                    return Task.CompletedTask;
                },
                onFailure: ex => Log.ListenFailed(logger, ex),
                _stopping.Token), CancellationToken.None);
            await listening.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        }

        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_listen is not null)
        {
            await _listen.ContinueWith(_ => { }, TaskScheduler.Default);
        }

        await base.StopAsync(cancellationToken);
    }

    protected override async Task<bool> RunOnceAsync(CancellationToken ct)
    {
        var rows = await log.ReadAfterAsync(Cursor, null, null, Batch, ct);
        if (rows.Count == 0)
        {
            return false;
        }

        hub.Dispatch(rows);
        foreach (var row in rows)
        {
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
                bus.DeliverFromFeed(row.RowId, evt);
            }
        }

        Interlocked.Exchange(ref _cursor, rows[^1].Seq);
        return rows.Count == Batch;
    }

    public override void Dispose()
    {
        _stopping.Dispose();
        base.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Event feed LISTEN connection failed; reconnecting (events are read from the table meanwhile)")]
        public static partial void ListenFailed(ILogger logger, Exception error);

        [LoggerMessage(2, LogLevel.Warning, "Skipped outbox event {Seq}, whose payload could not be read")]
        public static partial void Unreadable(ILogger logger, Exception error, long seq);
    }
}

/// <summary>
/// PostgreSQL, on the leader: numbers committed outbox rows (see <see cref="EventLog.SequenceAsync"/>) as soon as writers
/// announce them, and at least every second. Other nodes' feeds hear of each numbered range by NOTIFY.
/// </summary>
public sealed partial class EventSequencer(EventLog log, Database db, Leadership leadership, ILogger<EventSequencer> logger)
    : BackgroundLoop(leadership, logger)
{
    private const int Batch = 2000;
    private Task? _listen;
    private readonly CancellationTokenSource _stopping = new();

    protected override string Name => "event sequencer";

    protected override TimeSpan Interval => TimeSpan.FromSeconds(1);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        if (db is PostgresDatabase pg)
        {
            _listen = Task.Run(() => PostgresListener.RunAsync(
                pg,
                EventLog.AppendedChannel,
                onListening: (_, _) =>
                {
                    Wake();
                    return Task.CompletedTask;
                },
                onNotifications: (_, _) =>
                {
                    Wake();
                    return Task.CompletedTask;
                },
                onFailure: ex => Log.ListenFailed(logger, ex),
                _stopping.Token), CancellationToken.None);
        }

        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_listen is not null)
        {
            await _listen.ContinueWith(_ => { }, TaskScheduler.Default);
        }

        await base.StopAsync(cancellationToken);
    }

    protected override async Task<bool> RunOnceAsync(CancellationToken ct) =>
        db.Kind == DatabaseKind.Postgres && await log.SequenceAsync(Batch, ct) == Batch;

    public override void Dispose()
    {
        _stopping.Dispose();
        base.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Event sequencer LISTEN connection failed; reconnecting (it sequences every second meanwhile)")]
        public static partial void ListenFailed(ILogger logger, Exception error);
    }
}
