namespace Clarity.Events;

public interface IEventBus
{
    /// <summary>Delivers the event to every subscriber on this node and, on PostgreSQL, on every other node.</summary>
    void Publish(ClarityEvent evt);

    /// <summary>Registers a handler for every event, raised on this node or another. Handlers run inline and must be quick; hand real work to a queue.</summary>
    IDisposable Subscribe(Action<ClarityEvent> handler);

    /// <summary>
    /// Registers a handler for the events raised on this node only (not those relayed from other nodes): for work that must
    /// happen once per event across the cluster, such as journaling it for the stream or counting it in this node's metrics.
    /// </summary>
    IDisposable SubscribeLocal(Action<ClarityEvent> handler);
}

/// <summary>The single-node bus: a copy-on-write list of handlers.</summary>
public partial class InProcessEventBus(ILogger<InProcessEventBus> logger) : IEventBus
{
    private Action<ClarityEvent>[] _handlers = [];
    private Action<ClarityEvent>[] _localHandlers = [];
    private readonly Lock _gate = new();

    /// <summary>Stamps the event with the current request's correlation id, then delivers it to local-only and all-event handlers.</summary>
    public virtual void Publish(ClarityEvent evt) => PublishLocal(evt);

    protected ClarityEvent PublishLocal(ClarityEvent evt)
    {
        if (evt.CorrelationId is null && CorrelationContext.Current is { } correlationId)
        {
            evt = evt with { CorrelationId = correlationId };
        }

        Invoke(Volatile.Read(ref _localHandlers), evt);
        Dispatch(evt);
        return evt;
    }

    /// <summary>Delivers to the all-event handlers only: used for events relayed from other nodes.</summary>
    protected void Dispatch(ClarityEvent evt) => Invoke(Volatile.Read(ref _handlers), evt);

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

    private sealed class Subscription(InProcessEventBus bus, Action<ClarityEvent> handler) : IDisposable
    {
        public void Dispose() => bus.Unsubscribe(handler);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "An event handler failed on {EventType}")]
        public static partial void HandlerFailed(ILogger logger, Exception error, string eventType);
    }
}
