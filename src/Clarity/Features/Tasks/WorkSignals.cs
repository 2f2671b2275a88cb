using System.Collections.Concurrent;
using Clarity.Events;

namespace Clarity.Features.Tasks;

/// <summary>
/// Wakes agents that are long-polling for work the moment a task becomes claimable, on this node or (through
/// the event bus) on any other. A task without labels wakes one matching waiter; a task with labels wakes every
/// matching waiter, because only some of them may be able to take it. An agent waiting for one particular task is woken
/// by that task only, and never counts as the one waiter a task wakes, so it cannot absorb a wake-up meant for others.
/// </summary>
/// <remarks>
/// A task created on this node without labels is not woken for at all when a waiter here can take it: the create's own
/// unit of work reserves that waiter (<see cref="Reserve"/>), claims for it, and hands it the lease once committed
/// (<see cref="HandOver"/>). One commit instead of two, and no second trip through the writer.
/// </remarks>
public sealed class WorkSignals : IDisposable
{
    private readonly Dictionary<Guid, LinkedList<Waiter>> _byOrg = [];
    private readonly Lock _gate = new();
    private readonly IDisposable _subscription;

    // Tasks claimed in the unit of work that created them (a hand-off): their "queued" event must wake nobody.
    private readonly ConcurrentDictionary<Guid, byte> _handedOff = new();

    public WorkSignals(IEventBus events) =>
        _subscription = events.Subscribe(e =>
        {
            if (e is TaskChanged { Status: TaskStatuses.Queued } changed && !(changed.Transition is null && _handedOff.TryRemove(changed.TaskId, out _)))
            {
                Notify(changed.OrgId, changed.Queue, changed.TaskId, changed.HasLabels);
            }
        });

    /// <param name="taskId">The one task the agent waits for (a checkout with <c>taskId</c>); null for any task it may take.</param>
    /// <param name="claimant">How to claim for the agent, so that a task created on this node can be handed to it directly; null for none.</param>
    public Waiter Register(Guid orgId, IReadOnlyList<string>? queues, Guid? taskId = null, Claimant? claimant = null)
    {
        var waiter = new Waiter(orgId, queues, taskId, claimant);
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

    /// <summary>
    /// Takes the longest-waiting agent on this node that could be handed a new task without labels on <paramref name="queue"/>:
    /// one that has started waiting (<see cref="Waiter.StartWaiting"/>), waits for any task, and whose request is still
    /// open. It leaves the list, so no wake-up reaches it, and it cannot leave on its own until <see cref="HandOver"/>.
    /// Null when there is none.
    /// </summary>
    public Waiter? Reserve(Guid orgId, string queue, Guid taskId)
    {
        lock (_gate)
        {
            if (!_byOrg.TryGetValue(orgId, out var list))
            {
                return null;
            }

            for (var node = list.First; node is not null; node = node.Next)
            {
                var waiter = node.Value;
                if (waiter is { TaskId: null, Claimant: { } claimant } && !claimant.Aborted.IsCancellationRequested && waiter.Matches(queue, taskId) && waiter.TryReserve())
                {
                    list.Remove(node);
                    if (list.Count == 0)
                    {
                        _byOrg.Remove(orgId);
                    }

                    return waiter;
                }
            }

            return null;
        }
    }

    /// <summary>How many agents of the org wait on this node and may be handed a task now (for tests and diagnostics).</summary>
    internal int ReadyForHandOff(Guid orgId)
    {
        lock (_gate)
        {
            return _byOrg.TryGetValue(orgId, out var list) ? list.Count(w => w is { TaskId: null, Claimant: not null, IsWaiting: true }) : 0;
        }
    }

    /// <summary>
    /// Records, inside the unit of work that creates <paramref name="taskId"/>, that the same unit claimed it for a reserved
    /// waiter: its "queued" event then wakes nobody on this node. <see cref="Forget"/> undoes it if the unit does not commit.
    /// </summary>
    public void HandedOff(Guid taskId) => _handedOff.TryAdd(taskId, 0);

    /// <summary>The unit of work that would have handed <paramref name="taskId"/> off did not commit.</summary>
    public void Forget(Guid taskId) => _handedOff.TryRemove(taskId, out _);

    /// <summary>
    /// Ends a reservation (<see cref="Reserve"/>) once the create's unit of work has committed or failed: the waiter gets
    /// the leases claimed for it, or, with none, a wake-up alone, so it claims for itself as if the task had woken it.
    /// </summary>
    public static void HandOver(Waiter waiter, string queue, Guid taskId, IReadOnlyList<Lease> leases) =>
        waiter.Signal.TrySetResult(new Wake(queue, taskId, Alone: true, leases.Count > 0 ? leases : null));

    public void Dispose() => _subscription.Dispose();

    /// <summary>
    /// Why a waiter woke: task <paramref name="TaskId"/> became claimable on <paramref name="Queue"/>. <paramref name="Alone"/> when this waiter was
    /// the only one woken for it (a task without labels), so its claim is likely to find the task; a task with labels wakes
    /// every matching waiter, and most of them will find nothing they may take. <paramref name="Leases"/> when the task's
    /// create already claimed for this waiter (a hand-off): the waiter returns them and claims nothing itself.
    /// </summary>
    public readonly record struct Wake(string Queue, Guid TaskId, bool Alone, IReadOnlyList<Lease>? Leases = null);

    /// <summary>
    /// How a task's create claims for a waiting agent: the agent, its claim's filter and batch size, and who its events are
    /// attributed to (the agent's caller and request, not the creator's). <paramref name="Aborted"/> is the agent's request.
    /// </summary>
    public sealed record Claimant(Guid AgentId, TaskService.ClaimFilter Filter, int MaxTasks, Actor Actor, string? CorrelationId, CancellationToken Aborted);

    public sealed class Waiter(Guid orgId, IReadOnlyList<string>? queues, Guid? taskId, Claimant? claimant = null)
    {
        private const int Claiming = 0, Waiting = 1, Reserved = 2, Left = 3;
        private int _state;

        public Guid OrgId { get; } = orgId;

        /// <summary>The one task this waiter wants, or null for any task on its queues.</summary>
        public Guid? TaskId { get; } = taskId;

        /// <summary>How to claim for this waiter when a task is handed to it; null when none may be.</summary>
        public Claimant? Claimant { get; } = claimant;

        public TaskCompletionSource<Wake> Signal { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        internal LinkedListNode<Waiter>? Node { get; set; }

        public bool Matches(string queue, Guid task) =>
            (TaskId is null || TaskId == task) && (queues is not { Count: > 0 } || queues.Contains(queue));

        /// <summary>
        /// Its own claim found nothing and it starts waiting: from now on a task may be handed to it. Not before, or it could
        /// hold its own claim and a handed one at once.
        /// </summary>
        public void StartWaiting() => Interlocked.CompareExchange(ref _state, Waiting, Claiming);

        internal bool IsWaiting => Volatile.Read(ref _state) == Waiting;

        internal bool TryReserve() => Interlocked.CompareExchange(ref _state, Reserved, Waiting) == Waiting;

        /// <summary>
        /// Stops taking hand-offs. False when one is already under way: its outcome (<see cref="HandOver"/>) is then
        /// coming, soon, on <see cref="Signal"/>, and the waiter must take it.
        /// </summary>
        public bool TryLeave()
        {
            var state = Volatile.Read(ref _state);
            while (state is Claiming or Waiting)
            {
                var seen = Interlocked.CompareExchange(ref _state, Left, state);
                if (seen == state)
                {
                    return true;
                }

                state = seen;
            }

            return state == Left;
        }
    }
}
