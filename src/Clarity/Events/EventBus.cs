using System.Collections.Concurrent;

namespace Clarity.Events;

/// <summary>
/// This node's in-process subscribers of committed events. Events are never published from memory: a change writes
/// them to the outbox in its transaction (<see cref="Changes"/>), and they reach subscribers from there.
/// </summary>
public interface IEventBus
{
    /// <summary>
    /// Registers a handler for every committed event, made on this node or another, each delivered once on this node:
    /// this node's own events right after their commit, other nodes' as the <see cref="EventFeed"/> reads them from the
    /// outbox. Handlers run inline and must be quick; hand real work to a queue. Use it for what is safe to repeat or
    /// reorder (wake-ups, cache evictions); ordered delivery comes from the feed (the stream).
    /// </summary>
    IDisposable Subscribe(Action<ClarityEvent> handler);

    /// <summary>
    /// Registers a handler for the events committed on this node only: for work that must happen once per event across
    /// the cluster, such as counting it in this node's metrics.
    /// </summary>
    IDisposable SubscribeLocal(Action<ClarityEvent> handler);
}

/// <summary>The node's event bus: a copy-on-write list of handlers, fed by committed changes and the outbox feed.</summary>
public sealed partial class EventBus(ILogger<EventBus> logger) : IEventBus
{
    private const int MaxRemembered = 100_000;
    private Action<ClarityEvent>[] _handlers = [];
    private Action<ClarityEvent>[] _localHandlers = [];
    private readonly Lock _gate = new();

    // Outbox row ids of this node's events that were delivered at commit: the feed skips them when it reads them back.
    private readonly ConcurrentDictionary<long, byte> _deliveredAtCommit = new();

    /// <summary>
    /// Before a change commits: its outbox rows will be delivered at commit, so the feed must skip them. Registered
    /// before the commit, because once committed the feed may read them before <see cref="DeliverCommitted"/> runs.
    /// </summary>
    internal void ExpectCommit(IReadOnlyList<long> rowIds)
    {
        if (_deliveredAtCommit.Count > MaxRemembered)
        {
            // The feed has fallen far behind (or stopped): let it deliver again rather than remember without bound.
            _deliveredAtCommit.Clear();
        }

        foreach (var id in rowIds)
        {
            _deliveredAtCommit.TryAdd(id, 0);
        }
    }

    /// <summary>A change that expected to commit rolled back: its rows will never be read.</summary>
    internal void ForgetCommit(IReadOnlyList<long> rowIds)
    {
        foreach (var id in rowIds)
        {
            _deliveredAtCommit.TryRemove(id, out _);
        }
    }

    /// <summary>Delivers this node's just-committed events to every handler.</summary>
    internal void DeliverCommitted(IReadOnlyList<ClarityEvent> events)
    {
        var local = Volatile.Read(ref _localHandlers);
        var all = Volatile.Read(ref _handlers);
        foreach (var evt in events)
        {
            Invoke(local, evt);
            Invoke(all, evt);
        }
    }

    /// <summary>
    /// Whether the feed should deliver the outbox row <paramref name="rowId"/>: false when this node delivered it at
    /// commit already (and forgets it then). Asked before the row's payload is read, so this node's own events are
    /// never deserialised again.
    /// </summary>
    internal bool ShouldDeliverFromFeed(long rowId) => !_deliveredAtCommit.TryRemove(rowId, out _);

    /// <summary>Delivers an event the feed read from the outbox (another node's, or one this node did not deliver at commit).</summary>
    internal void DeliverFromFeed(ClarityEvent evt) => Invoke(Volatile.Read(ref _handlers), evt);

    private void Invoke(Action<ClarityEvent>[] handlers, ClarityEvent evt)
    {
        foreach (var handler in handlers)
        {
            try
            {
                handler(evt);
            }
            catch (Exception ex)
            {
                Log.HandlerFailed(logger, ex, evt.GetType().Name);
            }
        }
    }

    public IDisposable Subscribe(Action<ClarityEvent> handler) => Add(ref _handlers, handler);

    public IDisposable SubscribeLocal(Action<ClarityEvent> handler) => Add(ref _localHandlers, handler);

    private Subscription Add(ref Action<ClarityEvent>[] list, Action<ClarityEvent> handler)
    {
        lock (_gate)
        {
            list = [.. list, handler];
        }

        return new Subscription(this, handler);
    }

    private void Unsubscribe(Action<ClarityEvent> handler)
    {
        lock (_gate)
        {
            _handlers = _handlers.Where(h => h != handler).ToArray();
            _localHandlers = _localHandlers.Where(h => h != handler).ToArray();
        }
    }

    private sealed class Subscription(EventBus bus, Action<ClarityEvent> handler) : IDisposable
    {
        public void Dispose() => bus.Unsubscribe(handler);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "An event handler failed on {EventType}")]
        public static partial void HandlerFailed(ILogger logger, Exception error, string eventType);
    }
}
