using Clarity.Events;

namespace Clarity.Features.Tasks;

/// <summary>
/// Wakes agents that are long-polling for work the moment a task becomes claimable, on this node or (through
/// the event bus) on any other. A task without labels wakes one matching waiter; a task with labels wakes every
/// matching waiter, because only some of them may be able to take it. An agent waiting for one particular task is woken
/// by that task only, and never counts as the one waiter a task wakes, so it cannot absorb a wake-up meant for others.
/// </summary>
public sealed class WorkSignals : IDisposable
{
    private readonly Dictionary<Guid, LinkedList<Waiter>> _byOrg = [];
    private readonly Lock _gate = new();
    private readonly IDisposable _subscription;

    public WorkSignals(IEventBus events) =>
        _subscription = events.Subscribe(e =>
        {
            if (e is TaskChanged { Status: TaskStatuses.Queued } changed)
            {
                Notify(changed.OrgId, changed.Queue, changed.TaskId, changed.HasLabels);
            }
        });

    /// <param name="taskId">The one task the agent waits for (a checkout with <c>taskId</c>); null for any task it may take.</param>
    public Waiter Register(Guid orgId, IReadOnlyList<string>? queues, Guid? taskId = null)
    {
        var waiter = new Waiter(orgId, queues, taskId);
        lock (_gate)
        {
            if (!_byOrg.TryGetValue(orgId, out var list))
            {
                _byOrg[orgId] = list = new LinkedList<Waiter>();
            }

            waiter.Node = list.AddLast(waiter);
        }

        return waiter;
    }

    public void Unregister(Waiter waiter)
    {
        lock (_gate)
        {
            if (waiter.Node?.List is { } list)
            {
                list.Remove(waiter.Node);
                if (list.Count == 0)
                {
                    _byOrg.Remove(waiter.OrgId);
                }
            }
        }
    }

    /// <summary>Task <paramref name="taskId"/> on <paramref name="queue"/> became claimable: wakes one matching waiter, or every one.</summary>
    public void Notify(Guid orgId, string queue, Guid taskId, bool wakeAll)
    {
        lock (_gate)
        {
            if (!_byOrg.TryGetValue(orgId, out var list))
            {
                return;
            }

            for (var node = list.First; node is not null;)
            {
                var next = node.Next;
                var waiter = node.Value;
                if (waiter.Matches(queue, taskId))
                {
                    list.Remove(node);
                    if (waiter.TaskId is not null)
                    {
                        // Woken for its own task, beside (not instead of) the waiter that may take any task.
                        waiter.Signal.TrySetResult(new Wake(queue, taskId, Alone: false));
                    }
                    else if (waiter.Signal.TrySetResult(new Wake(queue, taskId, Alone: !wakeAll)) && !wakeAll)
                    {
                        break;
                    }
                }

                node = next;
            }

            if (list.Count == 0)
            {
                _byOrg.Remove(orgId);
            }
        }
    }

    public void Dispose() => _subscription.Dispose();

    /// <summary>
    /// Why a waiter woke: task <paramref name="TaskId"/> became claimable on <paramref name="Queue"/>. <paramref name="Alone"/> when this waiter was
    /// the only one woken for it (a task without labels), so its claim is likely to find the task; a task with labels wakes
    /// every matching waiter, and most of them will find nothing they may take.
    /// </summary>
    public readonly record struct Wake(string Queue, Guid TaskId, bool Alone);

    public sealed class Waiter(Guid orgId, IReadOnlyList<string>? queues, Guid? taskId)
    {
        public Guid OrgId { get; } = orgId;

        /// <summary>The one task this waiter wants, or null for any task on its queues.</summary>
        public Guid? TaskId { get; } = taskId;

        public TaskCompletionSource<Wake> Signal { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        internal LinkedListNode<Waiter>? Node { get; set; }

        public bool Matches(string queue, Guid task) =>
            (TaskId is null || TaskId == task) && (queues is not { Count: > 0 } || queues.Contains(queue));
    }
}
