using System.Collections.Concurrent;

namespace Clarity.Events;

/// <summary>
/// Lets long-polls wait for "something happened to X". Pulsing a key completes every waiter registered for it.
/// Waiters re-read the database after waking, so a pulse carries no data.
/// </summary>
public sealed class KeyedSignals : IDisposable
{
    private readonly ConcurrentDictionary<Guid, ConcurrentDictionary<Waiter, byte>> _waiters = new();
    private readonly IDisposable _subscription;

    public KeyedSignals(IEventBus events) =>
        _subscription = events.Subscribe(e =>
        {
            switch (e)
            {
                case ClarificationChanged c:
                    Pulse(c.ClarificationId);
                    break;
                case TaskChanged t:
                    Pulse(t.TaskId);
                    break;
            }
        });

    public Waiter Register(Guid key)
    {
        var waiter = new Waiter(this, key);
        _waiters.GetOrAdd(key, _ => new ConcurrentDictionary<Waiter, byte>())[waiter] = 0;
        return waiter;
    }

    public void Pulse(Guid key)
    {
        if (_waiters.TryGetValue(key, out var set))
        {
            foreach (var waiter in set.Keys)
            {
                waiter.Completion.TrySetResult();
            }
        }
    }

    private void Remove(Waiter waiter)
    {
        if (_waiters.TryGetValue(waiter.Key, out var set))
        {
            set.TryRemove(waiter, out _);
            if (set.IsEmpty)
            {
                _waiters.TryRemove(new KeyValuePair<Guid, ConcurrentDictionary<Waiter, byte>>(waiter.Key, set));
            }
        }
    }

    public void Dispose() => _subscription.Dispose();

    public sealed class Waiter(KeyedSignals owner, Guid key) : IDisposable
    {
        internal Guid Key { get; } = key;

        internal TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Task => Completion.Task;

        public void Dispose() => owner.Remove(this);
    }
}
