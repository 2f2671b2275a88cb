using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Agents;
using Clarity.Features.Identity;
using Clarity.Hosting;
using Clarity.Hosting.Telemetry;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Tasks;

/// <summary>
/// Something that must happen in the same unit of work as a task's transition: a task's pending question is cancelled
/// with it; later, a workflow step advances with its task's final transition.
/// </summary>
public interface ITaskTransitionObserver
{
    Task OnTransitionAsync(Change change, TaskTransition transition, TaskRow task);
}

/// <summary>
/// The task lifecycle: create, list, checkout under a lease, heartbeat, complete, fail and cancel. Every transition is
/// one unit of work: the task's statement (<see cref="TaskStore"/>), the observers' changes, and the events.
/// </summary>
public sealed partial class TaskService(
    TaskStore store, Changes changes, AgentService agents, AgentStore agentStore, WorkSignals signals, ClarityMetrics metrics,
    IEnumerable<ITaskTransitionObserver> observers, IOptions<ClarityOptions> options, TimeProvider clock)
{
    private static readonly TimeSpan s_safetyPoll = TimeSpan.FromSeconds(2);

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}\z")]
    private static partial Regex QueuePattern();

    private TaskOptions Settings => options.Value.Tasks;

    public async Task<(AgentTask Task, bool Created)> CreateAsync(OrgContext org, CreateTaskRequest request, CancellationToken ct)
    {
        var queue = ValidQueue(request.Queue ?? "default", "queue");
        var title = Check.Required(request.Title, "title", 500);
        var labels = Check.Labels(request.Labels, "labels");
        var priority = Check.Range(request.Priority, "priority", -1000, 1000, 0);
        var maxAttempts = Check.Range(request.MaxAttempts, "maxAttempts", 1, 100, Settings.DefaultMaxAttempts);
        var timeout = Check.Range(request.TimeoutSeconds, "timeoutSeconds", 1, 7 * 86_400, Settings.DefaultTimeoutSeconds);
        var key = request.IdempotencyKey is null ? null : Check.Required(request.IdempotencyKey, "idempotencyKey", 200);
        var dependsOn = ValidDependencies(request.DependsOn);
        var now = DbTime.ToDb(clock.GetUtcNow());
        var row = new TaskRow
        {
            Id = Guid.CreateVersion7(),
            OrgId = org.OrgId,
            Queue = queue,
            Title = title,
            Status = TaskStatuses.Queued,
            Input = request.Input is { } input ? input.GetRawText() : null,
            Labels = TaskStore.LabelsJson(labels),
            Priority = priority,
            MaxAttempts = maxAttempts,
            TimeoutSeconds = timeout,
            IdempotencyKey = key,
            DependsOn = dependsOn.Count == 0 ? null : System.Text.Json.JsonSerializer.Serialize(dependsOn),
            CreatedAt = now,
            UpdatedAt = now,
        };
        // A waiter on this node that the create reserves to hand the task to, and what its claim got (see HandOffAsync).
        WorkSignals.Waiter? taker = null;
        IReadOnlyList<Lease> handed = [];
        (TaskRow Row, bool Created) outcome;
        try
        {
            outcome = await changes.RunAsync(org.Caller.Actor, CreateInUnitAsync, ct);
        }
        catch
        {
            if (taker is not null)
            {
                // Nothing was claimed for it after all: it claims for itself, as if the task had woken it.
                signals.Forget(row.Id);
                WorkSignals.HandOver(taker, row.Queue, row.Id, []);
            }

            throw;
        }

        if (taker is not null)
        {
            WorkSignals.HandOver(taker, row.Queue, row.Id, handed);
            if (handed.Count > 0)
            {
                metrics.CheckoutHandedOff(org, handed.Count);
            }
        }

        var (stored, created) = outcome;
        if (created)
        {
            metrics.TaskCreated(org, stored.Queue);
        }

        return (stored.ToModel(), created);

        async Task<(TaskRow Row, bool Created)> CreateInUnitAsync(Change change)
        {
            // Each attempt starts clean: one rolled back by a deadlock on PostgreSQL handed nothing over.
            handed = [];
            signals.Forget(row.Id);
            DependencyRow? doomedBy = null;
            if (dependsOn.Count > 0)
            {
                var found = (await TaskStore.LockDependenciesAsync(change, org.OrgId, dependsOn)).ToDictionary(d => d.Id);
                for (var i = 0; i < request.DependsOn!.Count; i++)
                {
                    if (!found.ContainsKey(request.DependsOn[i]))
                    {
                        // The same answer for an id that never existed and one of another org: nothing about other orgs leaks.
                        throw Problems.Validation($"dependsOn[{i}]", "is not a task of this org.");
                    }
                }

                row.Status = TaskStateMachine.Initial(found.Values.Select(d => d.Status));
                doomedBy = dependsOn.Select(id => found[id]).FirstOrDefault(d => TaskStateMachine.DoomsDependents(d.Status));
            }

            var inserted = await InsertAsync(change, row, labels, org.Caller.ActorId, dependsOn);
            if (!inserted.Created)
            {
                return inserted;
            }

            var task = inserted.Row;
            if (doomedBy is not null)
            {
                // A dependency already ended badly: the new task is cancelled at once, through the same transition as
                // when a dependency ends after its dependents were created.
                var dependency = new TaskRow { Id = doomedBy.Id, OrgId = org.OrgId, Status = doomedBy.Status };
                foreach (var cancelled in await TaskStore.CancelDependentsAsync(change, dependency))
                {
                    await AfterTransitionAsync(change, TaskTransition.DependencyFailed, cancelled, dependency);
                    task = cancelled.Id == task.Id ? cancelled : task;
                }
            }

            if (task.Status == TaskStatuses.Queued && !task.HasLabels && (taker ??= signals.Reserve(org.OrgId, task.Queue, task.Id)) is { Claimant: { } claimant })
            {
                handed = await HandOffAsync(change, org.OrgId, claimant, task.Id);
            }

            return (task, true);
        }
    }

    /// <summary>
    /// Claims, in the unit of work that creates task <paramref name="taskId"/>, for an agent already waiting on this node
    /// (<see cref="WorkSignals.Reserve"/>): the same claim the agent's checkout would make once woken, with its filter and
    /// batch size, attributed to the agent's caller. The agent gets its lease when the create commits, one commit
    /// instead of two. The claim takes the best task the agent may take, which is the new one unless an older or higher
    /// priority task is waiting too; only when it is the new one does its "queued" event wake nobody else.
    /// </summary>
    private async Task<IReadOnlyList<Lease>> HandOffAsync(Change change, Guid orgId, WorkSignals.Claimant claimant, Guid taskId)
    {
        var leases = await change.ActForAsync(claimant.Actor, claimant.CorrelationId,
            () => ClaimAsync(change, orgId, claimant.AgentId, claimant.Filter, taskId: null, claimant.MaxTasks));
        if (leases.Any(l => l.Task.Id == taskId))
        {
            signals.HandedOff(taskId);
        }

        return leases;
    }

    /// <summary>
    /// Creates a task in the caller's unit of work, with its event and audit entry (the API's create, and a workflow step's
    /// dispatch). With an idempotency key already used in the org, returns that task instead (Created false).
    /// </summary>
    public static async Task<(TaskRow Row, bool Created)> InsertAsync(Change change, TaskRow row, IReadOnlyList<string> labels, Guid? createdBy, IReadOnlyList<Guid>? dependsOn = null)
    {
        var inserted = await TaskStore.InsertAsync(change, row, createdBy);
        if (inserted.Created)
        {
            if (dependsOn is { Count: > 0 })
            {
                await TaskStore.InsertDependenciesAsync(change, inserted.Row.OrgId, inserted.Row.Id, dependsOn);
            }

            Record(change, inserted.Row, labels, dependsOn);
        }

        return inserted;
    }

    /// <summary>A created task's event and audit entry, in the unit of work that inserts it (<see cref="InsertAsync"/>, or a workflow's batched dispatch).</summary>
    public static void Record(Change change, TaskRow task, IReadOnlyList<string> labels, IReadOnlyList<Guid>? dependsOn = null)
    {
        change.Emit(Changed(task));
        var after = new AuditFields().Add("queue", task.Queue).Add("title", task.Title).Add("status", task.Status).Add("labels", labels)
            .Add("priority", task.Priority).Add("maxAttempts", task.MaxAttempts).Add("timeoutSeconds", task.TimeoutSeconds)
            .Add("idempotencyKey", task.IdempotencyKey);
        if (dependsOn is { Count: > 0 })
        {
            after.Add("dependsOn", dependsOn.Select(d => d.ToString()).ToList());
        }

        if (task.RunId is { } runId)
        {
            after.Add("runId", runId).Add("stepId", task.StepId);
        }

        change.Audit(new AuditRecord(task.OrgId, AuditActions.TaskCreated, Target(task), After: after));
    }

    /// <summary>Cancels a task in the caller's unit of work (its observers act in the same change); null when it is already final.</summary>
    public Task<TaskRow?> CancelAsync(Change change, Guid orgId, Guid id) =>
        TransitionAsync(change, TaskTransition.Cancel, TaskStore.CancelAsync(change, orgId, id));

    public async Task<AgentTask> GetAsync(OrgContext org, Guid id, CancellationToken ct) =>
        (await store.GetAsync(org.OrgId, id, ct) ?? throw Problems.NotFound("Task")).ToModel();

    public async Task<TaskPage> ListAsync(OrgContext org, string? status, string? queue, string? agent, string? cursor, int? limit, CancellationToken ct)
    {
        if (status is not null && !TaskStatuses.All.Contains(status))
        {
            throw Problems.Validation("status", $"must be one of {string.Join(", ", TaskStatuses.All)}.");
        }

        if (queue is not null)
        {
            ValidQueue(queue, "queue");
        }

        Guid? agentId = null;
        if (!string.IsNullOrEmpty(agent))
        {
            Check.NoNul(agent, "agent");
            // An agent may be named by id or by name; an unknown one simply matches nothing.
            agentId = Guid.TryParse(agent, out var parsed) ? parsed : await agentStore.FindIdByNameAsync(org.OrgId, agent, ct) ?? Guid.Empty;
        }

        var take = Check.Range(limit, "limit", 1, 200, 50);
        var before = Cursor.Decode(cursor);
        var rows = await store.ListAsync(org.OrgId, status, queue, agentId, before, take + 1, ct);
        var items = rows.Take(take).Select(r => r.ToModel()).ToList();
        return new TaskPage(items, rows.Count > take ? Cursor.Encode(items[^1].Id) : null);
    }

    public async Task<AgentTask> CancelAsync(OrgContext org, Guid id, CancellationToken ct)
    {
        var row = await changes.RunAsync(org.Caller.Actor, change => CancelAsync(change, org.OrgId, id), ct);
        if (row is null)
        {
            var current = await store.GetAsync(org.OrgId, id, ct) ?? throw Problems.NotFound("Task");
            throw Problems.Conflict("invalid-transition", $"The task is already {current.Status} and cannot be cancelled.");
        }

        return row.ToModel();
    }

    /// <summary>The most tasks one checkout may claim (<c>maxTasks</c>).</summary>
    public const int MaxTasksPerCheckout = 100;

    /// <summary>
    /// Hands the agent the next task it may take, waiting up to waitSeconds for one to arrive. A task created
    /// while the agent waits is delivered at once. Returns null when nothing arrived in time.
    /// </summary>
    public async Task<Lease?> CheckoutAsync(OrgContext org, CheckoutRequest request, CancellationToken ct) =>
        await CheckoutManyAsync(org, request with { MaxTasks = null }, ct) is [var lease] ? lease : null;

    /// <summary>
    /// Hands the agent up to <see cref="CheckoutRequest.MaxTasks"/> tasks (one when absent), each under its own lease, all
    /// claimed in one unit of work. Waits up to waitSeconds for at least one; empty when nothing arrived in time.
    /// </summary>
    public async Task<IReadOnlyList<Lease>> CheckoutManyAsync(OrgContext org, CheckoutRequest request, CancellationToken ct)
    {
        var agentName = AgentService.ValidName(request.Agent);
        var filter = ValidFilter(request.Queues, request.Labels, request.LeaseSeconds, "");
        var maxTasks = Check.Range(request.MaxTasks, "maxTasks", 1, MaxTasksPerCheckout, 1);
        var wait = TimeSpan.FromSeconds(Check.Range(request.WaitSeconds, "waitSeconds", 0, options.Value.Limits.MaxWaitSeconds, 0));
        using var activity = ClarityTracing.Source.StartActivity("checkout");
        activity?.SetTag("clarity.org", org.Slug);
        activity?.SetTag("clarity.agent", agentName);
        var started = clock.GetTimestamp();
        var agentId = await agents.SeenAsync(org, agentName, ct);
        var deadline = clock.GetUtcNow() + wait;
        var firstAttempt = true;
        var woken = false;

        // An agent waiting for any task may be handed one by its create on this node (WorkSignals.Reserve).
        var claimant = request.TaskId is null ? new WorkSignals.Claimant(agentId, filter, maxTasks, org.Caller.Actor, CorrelationContext.Current, ct) : null;
        while (true)
        {
            var waiter = signals.Register(org.OrgId, filter.Queues, request.TaskId, claimant);
            var consumed = false;
            try
            {
                // The first attempt claims straight away (work is usually waiting), and so does a waiter woken alone for a
                // new task it may take (the hand-off path: one read fewer); later polls and wake-ups shared with every
                // matching waiter look before they write. A checkout of one particular task is never woken alone.
                var claimed = await TryClaimAsync(org, agentId, filter, request.TaskId, maxTasks, precheck: !firstAttempt && !woken, ct);
                var waited = !firstAttempt;
                firstAttempt = false;
                if (claimed.Count > 0)
                {
                    return Checked(claimed, waited);
                }

                var remaining = deadline - clock.GetUtcNow();
                if (remaining <= TimeSpan.Zero)
                {
                    return [];
                }

                waiter.StartWaiting();
                WorkSignals.Wake wake;
                try
                {
                    wake = await waiter.Signal.Task.WaitAsync(remaining < s_safetyPoll ? remaining : s_safetyPoll, clock, ct);
                }
                catch (TimeoutException)
                {
                    if (waiter.TryLeave())
                    {
                        // Poll again: this also covers wake-ups lost while another node's notification was in flight.
                        woken = false;
                        continue;
                    }

                    // A create reserved this waiter just as the wait ran out: its outcome is a commit away.
                    wake = await waiter.Signal.Task;
                }

                consumed = true;
                if (wake.Leases is { Count: > 0 } handed)
                {
                    return Checked(handed, waited: true);
                }

                woken = wake.Alone;
            }
            finally
            {
                // A waiter reserved by a create that is still under way cannot leave; that happens only when this request
                // is aborted, and the claim made for it then stands until its lease expires, like a claim whose answer is lost
                // (a hand-off's leases are never passed on below: the task they name is claimed already).
                waiter.TryLeave();
                signals.Unregister(waiter);
                if (!consumed && waiter.Signal.Task is { IsCompletedSuccessfully: true, Result: { Alone: true, Leases: null } wake })
                {
                    // Woken alone just as we were leaving with other work (or none): pass the wake-up on. A shared wake-up
                    // reached every waiter already, and a waiter registering later claims before it waits.
                    signals.Notify(org.OrgId, wake.Queue, wake.TaskId, wakeAll: false);
                }
            }
        }

        IReadOnlyList<Lease> Checked(IReadOnlyList<Lease> leases, bool waited)
        {
            metrics.CheckoutCompleted(org, clock.GetElapsedTime(started), waited);
            activity?.SetTag("clarity.task_id", leases[0].Task.Id);
            activity?.SetTag("clarity.queue", leases[0].Task.Queue);
            activity?.SetTag("clarity.tasks", leases.Count);
            activity?.SetTag("clarity.waited", waited);
            return leases;
        }
    }

    /// <summary>The validated filter of a claim: which queues, the agent's labels (as stored JSON) and the lease length.</summary>
    public sealed record ClaimFilter(IReadOnlyList<string>? Queues, string Labels, int LeaseSeconds);

    /// <param name="prefix">The request field the filter sits in (<c>next.</c>), for the names in validation errors.</param>
    private ClaimFilter ValidFilter(IReadOnlyList<string>? queues, IReadOnlyList<string>? labels, int? leaseSeconds, string prefix)
    {
        var valid = queues?.Select(q => ValidQueue(q, prefix + "queues")).Distinct().ToArray();
        if (valid is { Length: > 50 })
        {
            throw Problems.Validation(prefix + "queues", "may name at most 50 queues.");
        }

        return new ClaimFilter(
            valid,
            TaskStore.LabelsJson(Check.Labels(labels, prefix + "labels")),
            Check.Range(leaseSeconds, prefix + "leaseSeconds", 1, 86_400, Settings.LeaseSeconds));
    }

    private async Task<IReadOnlyList<Lease>> TryClaimAsync(OrgContext org, Guid agentId, ClaimFilter filter, Guid? taskId, int maxTasks, bool precheck, CancellationToken ct)
    {
        if (precheck && !await store.AnyClaimableAsync(org.OrgId, filter.Queues, taskId, ct))
        {
            return [];
        }

        return await changes.RunAsync(org.Caller.Actor, change => ClaimAsync(change, org.OrgId, agentId, filter, taskId, maxTasks), ct);
    }

    /// <summary>
    /// Claims up to <paramref name="maxTasks"/> tasks in the caller's unit of work, one claim statement each (each task its own
    /// lease token, transition and event); stops at the first claim that finds nothing.
    /// </summary>
    private async Task<IReadOnlyList<Lease>> ClaimAsync(Change change, Guid orgId, Guid agentId, ClaimFilter filter, Guid? taskId, int maxTasks)
    {
        var leases = new List<Lease>(taskId is null ? maxTasks : 1);
        while (leases.Count < maxTasks)
        {
            var token = NewLeaseToken();
            var row = await TransitionAsync(change, TaskTransition.Claim,
                store.ClaimAsync(change, orgId, agentId, filter.Queues, filter.Labels, taskId, ApiKeySecret.Hash(token), filter.LeaseSeconds));
            if (row is null)
            {
                break;
            }

            leases.Add(new Lease(row.ToModel(), token, DbTime.FromDb(row.LeaseExpiresAt!.Value)));
            if (taskId is not null)
            {
                break;
            }
        }

        return leases;
    }

    public async Task<HeartbeatResult> HeartbeatAsync(OrgContext org, Guid id, HeartbeatRequest request, CancellationToken ct)
    {
        var token = Check.Required(request.LeaseToken, "leaseToken", 200);
        int? leaseSeconds = request.LeaseSeconds is null ? null : Check.Range(request.LeaseSeconds, "leaseSeconds", 1, 86_400, Settings.LeaseSeconds);
        var hash = ApiKeySecret.Hash(token);
        var row = await changes.RunAsync(org.Caller.Actor, change => TaskStore.HeartbeatAsync(change, org.OrgId, id, hash, leaseSeconds, Settings.LeaseSeconds), ct)
            ?? throw await LeaseConflictAsync(org, id, hash, ct);
        return new HeartbeatResult(row.Status, DbTime.FromDb(row.LeaseExpiresAt!.Value));
    }

    public async Task<AgentTask> CompleteAsync(OrgContext org, Guid id, CompleteRequest request, CancellationToken ct) =>
        (await CompleteAndClaimAsync(org, id, request with { Next = null }, ct)).Task;

    /// <summary>
    /// Completes the task and, when the request asks for <see cref="CompleteRequest.Next"/>, claims the next task for the
    /// agent that held the lease in the same unit of work, without waiting (eager dispatch). The complete stands whether
    /// or not a next task was waiting; a stale lease or a task in another org claims nothing.
    /// </summary>
    public async Task<CompletedTask> CompleteAndClaimAsync(OrgContext org, Guid id, CompleteRequest request, CancellationToken ct)
    {
        var token = Check.Required(request.LeaseToken, "leaseToken", 200);
        var next = request.Next is { } n ? ValidFilter(n.Queues, n.Labels, n.LeaseSeconds, "next.") : null;
        var output = request.Output is { } o ? o.GetRawText() : null;
        var hash = ApiKeySecret.Hash(token);
        var (row, claimed) = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var done = await TransitionAsync(change, TaskTransition.Complete, TaskStore.CompleteAsync(change, org.OrgId, id, hash, output));
            if (done is null || next is null || done.AgentId is not { } agentId)
            {
                return (done, (IReadOnlyList<Lease>)[]);
            }

            return (done, await ClaimAsync(change, org.OrgId, agentId, next, taskId: null, maxTasks: 1));
        }, ct);
        if (row is null)
        {
            throw await LeaseConflictAsync(org, id, hash, ct);
        }

        return new CompletedTask(row.ToModel(), claimed is [var lease] ? lease : null);
    }

    public async Task<AgentTask> FailAsync(OrgContext org, Guid id, FailRequest request, CancellationToken ct)
    {
        var token = Check.Required(request.LeaseToken, "leaseToken", 200);
        var error = Check.Required(request.Error, "error", 10_000);
        var hash = ApiKeySecret.Hash(token);
        var row = await changes.RunAsync(org.Caller.Actor, change =>
                TransitionAsync(change, TaskTransition.Fail, WithRetryRequest(TaskStore.FailAsync(change, org.OrgId, id, hash, error, request.Retryable == true), request.Retryable)), ct)
            ?? throw await LeaseConflictAsync(org, id, hash, ct);
        return row.ToModel();
    }

    private static async Task<TaskRow?> WithRetryRequest(Task<TaskRow?> statement, bool? retryable)
    {
        var row = await statement;
        if (row is not null)
        {
            row.RetryRequested = retryable;
        }

        return row;
    }

    /// <summary>The sweeps' transitions, by the system: tasks past their deadline fail; tasks whose lease expired are requeued or fail.</summary>
    public Task<int> SweepAsync(CancellationToken ct) =>
        changes.RunAsync(Actor.System, async change =>
        {
            var timedOut = await TaskStore.FailTimedOutAsync(change);
            foreach (var row in timedOut)
            {
                await AfterTransitionAsync(change, TaskTransition.TimedOut, row);
            }

            var expired = await TaskStore.ExpireLeasesAsync(change);
            foreach (var row in expired)
            {
                await AfterTransitionAsync(change, TaskTransition.LeaseExpired, row);
            }

            return timedOut.Count + expired.Count;
        }, ct);

    /// <summary>
    /// Completes a transition inside its unit of work: when the statement moved the task, the observers act in the same
    /// change and the task's event is emitted. Null when the statement did not apply (wrong state, stale lease).
    /// </summary>
    public async Task<TaskRow?> TransitionAsync(Change change, TaskTransition transition, Task<TaskRow?> statement)
    {
        var row = await statement;
        if (row is not null)
        {
            await AfterTransitionAsync(change, transition, row);
        }

        return row;
    }

    /// <summary>
    /// Runs after a transition's statement moved a task: its own effects (<see cref="ObserveAsync"/>), then, when it was a
    /// task's final transition and other tasks depend on it, its dependents' transitions (unblocked when it succeeded and
    /// their other dependencies had too; cancelled when it failed or was cancelled), each with its own effects. Those
    /// cancellations are final transitions too and settle their own dependents: a work list rather than recursion, so a
    /// long chain of dependencies cannot exhaust the stack. All of it in the caller's unit of work.
    /// </summary>
    /// <param name="cause">The dependency whose final transition caused this one (unblock, dependency failed).</param>
    private async Task AfterTransitionAsync(Change change, TaskTransition transition, TaskRow row, TaskRow? cause = null)
    {
        var pending = new Queue<(TaskTransition Transition, TaskRow Row, TaskRow? Cause)>();
        pending.Enqueue((transition, row, cause));
        while (pending.TryDequeue(out var next))
        {
            await ObserveAsync(change, next.Transition, next.Row, next.Cause);
            if (!next.Row.HasDependents || !TaskStatuses.IsTerminal(next.Row.Status))
            {
                continue;
            }

            var (settles, dependents) = next.Row.Status == TaskStatuses.Succeeded
                ? (TaskTransition.Unblock, await TaskStore.UnblockDependentsAsync(change, next.Row.Id))
                : (TaskTransition.DependencyFailed, await TaskStore.CancelDependentsAsync(change, next.Row));
            foreach (var dependent in dependents)
            {
                pending.Enqueue((settles, dependent, next.Row));
            }
        }
    }

    /// <summary>One task's transition's effects in its unit of work: the observers, the task's event, and its audit entry when it ended or was unblocked.</summary>
    private async Task ObserveAsync(Change change, TaskTransition transition, TaskRow row, TaskRow? cause)
    {
        foreach (var observer in observers)
        {
            await observer.OnTransitionAsync(change, transition, row);
        }

        change.Emit(Changed(row, transition));
        if (TaskStatuses.IsTerminal(row.Status) || transition == TaskTransition.Unblock)
        {
            // The final transition, whoever made it: the agent, a person, or the system (lease expiry, timeout, expiry of a
            // question, a dependency that failed); and the unblocking of a task whose dependencies all succeeded.
            var from = TaskStateMachine.From(transition);
            var after = new AuditFields().Add("status", row.Status).Add("transition", TransitionName(transition)).Add("attempts", row.Attempts)
                .Add("agentId", row.AgentId).Add("error", row.Error);
            if (cause is not null)
            {
                after.Add("dependencyId", cause.Id).Add("dependencyStatus", cause.Status);
            }

            change.Audit(new AuditRecord(row.OrgId, transition == TaskTransition.Unblock ? AuditActions.TaskUnblocked : "task." + row.Status, Target(row),
                Before: from.Count == 1 ? new AuditFields().Add("status", from[0]) : null,
                After: after));
        }
    }

    private static AuditTarget Target(TaskRow row) => new("task", row.Id, row.Title);

    /// <summary>A transition's name in the audit log: <c>lease_expired</c>, <c>timed_out</c>, …</summary>
    public static string TransitionName(TaskTransition transition) =>
        System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(transition.ToString());

    /// <summary>The event of a task's new state: a snapshot of its lifecycle fields, and the transition that led there (none at creation).</summary>
    public static TaskChanged Changed(TaskRow row, TaskTransition? transition = null) => new(row.OrgId, row.Id, row.Queue, row.Status, row.HasLabels)
    {
        Title = row.Title,
        Attempts = (int)row.Attempts,
        MaxAttempts = (int)row.MaxAttempts,
        AgentId = row.AgentId,
        Transition = transition is { } t ? TransitionName(t) : null,
    };

    /// <summary>Explains why a lease-fenced change did not apply: 404 for a missing task, 409 otherwise.</summary>
    public async Task<ApiException> LeaseConflictAsync(OrgContext org, Guid id, string leaseHash, CancellationToken ct)
    {
        var current = await store.GetAsync(org.OrgId, id, ct);
        if (current is null)
        {
            return Problems.NotFound("Task");
        }

        if (current.LeaseTokenHash is not null && current.LeaseTokenHash != leaseHash)
        {
            return Problems.Conflict("stale-lease", "The lease token does not match the task's current lease; the lease expired or another agent holds it now.");
        }

        if (current.LeaseTokenHash is null && !TaskStatuses.IsTerminal(current.Status))
        {
            return Problems.Conflict("stale-lease", $"The task is {current.Status} and this lease is no longer valid.");
        }

        return Problems.Conflict("invalid-transition", $"The task is {current.Status}; this action is not allowed in that state.");
    }

    /// <summary>The most tasks one task may depend on (<c>dependsOn</c>).</summary>
    public const int MaxDependencies = 100;

    /// <summary>The request's dependencies, each once, in the order first given: at most <see cref="MaxDependencies"/> ids.</summary>
    private static List<Guid> ValidDependencies(IReadOnlyList<Guid>? dependsOn)
    {
        if (dependsOn is null)
        {
            return [];
        }

        if (dependsOn.Count > MaxDependencies)
        {
            throw Problems.Validation("dependsOn", $"may name at most {MaxDependencies} tasks.");
        }

        return [.. dependsOn.Distinct()];
    }

    public static string NewLeaseToken() => "cll_" + ApiKeySecret.Base64Url(RandomNumberGenerator.GetBytes(24));

    internal static string ValidQueue(string queue, string field)
    {
        if (!QueuePattern().IsMatch(queue))
        {
            throw Problems.Validation(field, "queue names are 1-100 characters of letters, digits and . _ : / -, starting with a letter or digit.");
        }

        return queue;
    }
}

/// <summary>Opaque list cursors: the last id of the previous page.</summary>
public static class Cursor
{
    public static string Encode(Guid id) => ApiKeySecret.Base64Url(id.ToByteArray(bigEndian: true));

    public static Guid? Decode(string? cursor)
    {
        if (string.IsNullOrEmpty(cursor))
        {
            return null;
        }

        try
        {
            var padded = cursor.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - padded.Length % 4) % 4);
            var bytes = Convert.FromBase64String(padded);
            if (bytes.Length == 16)
            {
                return new Guid(bytes, bigEndian: true);
            }
        }
        catch (FormatException)
        {
        }

        throw Problems.Validation("cursor", "is not a cursor returned by this API.");
    }

    /// <summary>A cursor for lists ordered by a text key (members by email): the last key of the previous page.</summary>
    public static string EncodeText(string key) => ApiKeySecret.Base64Url(System.Text.Encoding.UTF8.GetBytes(key));

    public static string? DecodeText(string? cursor)
    {
        if (string.IsNullOrEmpty(cursor))
        {
            return null;
        }

        try
        {
            var padded = cursor.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - padded.Length % 4) % 4);
            var text = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Convert.FromBase64String(padded));
            if (text.Length is > 0 and <= 320 && !text.Contains('\0', StringComparison.Ordinal))
            {
                return text;
            }
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
        }

        throw Problems.Validation("cursor", "is not a cursor returned by this API.");
    }
}
