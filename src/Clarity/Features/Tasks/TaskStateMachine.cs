using System.Collections.Frozen;

namespace Clarity.Features.Tasks;

/// <summary>What can happen to a task.</summary>
public enum TaskTransition
{
    /// <summary>An agent checks the task out: queued → running (a new attempt, a new lease).</summary>
    Claim,

    /// <summary>The agent asks people a question: running → awaiting_response.</summary>
    Ask,

    /// <summary>The question was answered (or expired with a default answer): awaiting_response → running.</summary>
    Resume,

    /// <summary>The agent reports success: running → succeeded.</summary>
    Complete,

    /// <summary>The agent reports failure: running → queued when it may be retried and attempts remain, else failed.</summary>
    Fail,

    /// <summary>Someone cancels it: blocked, queued, running or awaiting_response → cancelled.</summary>
    Cancel,

    /// <summary>The agent stopped heartbeating: running → queued while attempts remain, else failed.</summary>
    LeaseExpired,

    /// <summary>It ran past its timeoutSeconds: running → failed.</summary>
    TimedOut,

    /// <summary>Its question expired without an answer and without a default: awaiting_response → failed.</summary>
    QuestionExpired,

    /// <summary>The last of its dependencies succeeded: blocked → queued.</summary>
    Unblock,

    /// <summary>One of its dependencies failed or was cancelled: blocked → cancelled.</summary>
    DependencyFailed,
}

/// <summary>
/// The task lifecycle, in one place: (blocked →) queued → running ⇄ awaiting_response → succeeded | failed | cancelled,
/// with lease expiry requeueing or failing, and a task with dependencies blocked until they all succeed. Pure: the store writes each transition with one statement whose guard
/// (<see cref="From"/>) and retry rule (<see cref="RetrySql"/>) come from here, and tests check that the database does
/// exactly what <see cref="Next"/> says.
/// </summary>
public static class TaskStateMachine
{
    private static readonly FrozenDictionary<TaskTransition, string[]> s_from = new Dictionary<TaskTransition, string[]>
    {
        [TaskTransition.Claim] = [TaskStatuses.Queued],
        [TaskTransition.Ask] = [TaskStatuses.Running],
        [TaskTransition.Resume] = [TaskStatuses.AwaitingResponse],
        [TaskTransition.Complete] = [TaskStatuses.Running],
        [TaskTransition.Fail] = [TaskStatuses.Running],
        [TaskTransition.Cancel] = [TaskStatuses.Blocked, TaskStatuses.Queued, TaskStatuses.Running, TaskStatuses.AwaitingResponse],
        [TaskTransition.LeaseExpired] = [TaskStatuses.Running],
        [TaskTransition.TimedOut] = [TaskStatuses.Running],
        [TaskTransition.QuestionExpired] = [TaskStatuses.AwaitingResponse],
        [TaskTransition.Unblock] = [TaskStatuses.Blocked],
        [TaskTransition.DependencyFailed] = [TaskStatuses.Blocked],
    }.ToFrozenDictionary();

    /// <summary>
    /// The status a new task starts in, from the statuses of the tasks it depends on: queued when they all succeeded (or
    /// there are none), else blocked. A task created with a dependency that already failed or was cancelled starts
    /// blocked too, and its creation cancels it at once (<see cref="TaskTransition.DependencyFailed"/>), exactly as if
    /// the dependency had ended a moment later.
    /// </summary>
    public static string Initial(IEnumerable<string> dependencyStatuses) =>
        dependencyStatuses.All(s => s == TaskStatuses.Succeeded) ? TaskStatuses.Queued : TaskStatuses.Blocked;

    /// <summary>Whether a dependency in this status dooms its dependents (<see cref="TaskTransition.DependencyFailed"/>).</summary>
    public static bool DoomsDependents(string dependencyStatus) => dependencyStatus is TaskStatuses.Failed or TaskStatuses.Cancelled;

    /// <summary>The statuses the transition may start from.</summary>
    public static IReadOnlyList<string> From(TaskTransition transition) => s_from[transition];

    /// <summary>
    /// Whether a failed attempt goes back to the queue: it may be retried (always after a lease expiry; after an agent's
    /// failure only when it says so) and the task has attempts left. The one definition of "retry or fail".
    /// </summary>
    public static bool Retries(int attempts, int maxAttempts, bool retryable) => retryable && attempts < maxAttempts;

    /// <summary>
    /// <see cref="Retries"/> in SQL over the tasks row, with <paramref name="retryable"/> a SQL boolean expression (a
    /// parameter or a literal): the same rule, so the database cannot decide differently from the C# above.
    /// </summary>
    public static string RetrySql(string retryable) => $"({retryable} AND attempts < max_attempts)";

    /// <summary>The status after <paramref name="transition"/> from <paramref name="status"/>; null when the transition is not allowed there.</summary>
    public static string? Next(string status, TaskTransition transition, int attempts, int maxAttempts, bool retryable = false)
    {
        if (!s_from[transition].Contains(status))
        {
            return null;
        }

        return transition switch
        {
            TaskTransition.Claim => TaskStatuses.Running,
            TaskTransition.Ask => TaskStatuses.AwaitingResponse,
            TaskTransition.Resume => TaskStatuses.Running,
            TaskTransition.Complete => TaskStatuses.Succeeded,
            TaskTransition.Fail => Retries(attempts, maxAttempts, retryable) ? TaskStatuses.Queued : TaskStatuses.Failed,
            TaskTransition.LeaseExpired => Retries(attempts, maxAttempts, retryable: true) ? TaskStatuses.Queued : TaskStatuses.Failed,
            TaskTransition.Cancel or TaskTransition.DependencyFailed => TaskStatuses.Cancelled,
            TaskTransition.Unblock => TaskStatuses.Queued,
            TaskTransition.TimedOut or TaskTransition.QuestionExpired => TaskStatuses.Failed,
            _ => throw new ArgumentOutOfRangeException(nameof(transition)),
        };
    }

    /// <summary>
    /// The SQL guard of a transition: <c>status = 'running'</c> from one state, <c>status IN ('queued', …)</c> from several.
    /// One state is written as an equality because SQLite uses a partial index (<c>tasks_lease</c>, <c>tasks_deadline</c>:
    /// <c>WHERE status = 'running'</c>) only for a query whose terms say so literally; it rewrites <c>status IN ('running')</c>
    /// to a term that does not match, and the sweeps would scan every task each second.
    /// </summary>
    public static string GuardSql(TaskTransition transition) =>
        s_from[transition] is [var only]
            ? $"status = '{only}'"
            : "status IN (" + string.Join(", ", s_from[transition].Select(s => $"'{s}'")) + ")";
}
