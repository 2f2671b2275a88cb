namespace Clarity.Events;

public interface IEventBus
{
    /// <summary>Delivers the event to every subscriber on this node and, on PostgreSQL, on every other node.</summary>
    void Publish(ClarityEvent evt);

    /// <summary>Registers a handler. Handlers run inline and must be quick; hand real work to a queue.</summary>
    IDisposable Subscribe(Action<ClarityEvent> handler);
}

/// <summary>The single-node bus: a copy-on-write list of handlers.</summary>
public partial class InProcessEventBus(ILogger<InProcessEventBus> logger) : IEventBus
{
    private Action<ClarityEvent>[] _handlers = [];
    private readonly Lock _gate = new();

    public virtual void Publish(ClarityEvent evt) => Dispatch(evt);

    protected void Dispatch(ClarityEvent evt)
    {
        foreach (var handler in Volatile.Read(ref _handlers))
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

    public IDisposable Subscribe(Action<ClarityEvent> handler)
    {
        lock (_gate)
        {
            _handlers = [.. _handlers, handler];
        }

        return new Subscription(this, handler);
    }

    private void Unsubscribe(Action<ClarityEvent> handler)
    {
        lock (_gate)
        {
            _handlers = _handlers.Where(h => h != handler).ToArray();
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
