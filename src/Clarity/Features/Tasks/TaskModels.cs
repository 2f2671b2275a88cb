using System.Text.Json;

namespace Clarity.Features.Tasks;

/// <param name="DependsOn">
/// Tasks of the org (at most <see cref="TaskService.MaxDependencies"/>; a repeated id counts once) that must all succeed
/// before this one may be claimed: until then it is blocked. When one of them fails or is cancelled, it is cancelled.
/// </param>
public sealed record CreateTaskRequest(
    string? Queue,
    string? Title,
    JsonElement? Input,
    IReadOnlyList<string>? Labels,
    int? Priority,
    int? MaxAttempts,
    int? TimeoutSeconds,
    string? IdempotencyKey,
    IReadOnlyList<Guid>? DependsOn = null);

/// <param name="Agent">The agent's name; an unknown name registers the agent.</param>
/// <param name="Queues">Queues to take work from; none means every queue.</param>
/// <param name="Labels">The agent's capabilities: it receives only tasks whose labels are all among these.</param>
/// <param name="WaitSeconds">How long to wait for work before answering 204.</param>
/// <param name="LeaseSeconds">Lease length; the server default when absent.</param>
/// <param name="TaskId">Claim this particular queued task instead of the next one.</param>
/// <param name="MaxTasks">
/// Claim up to this many tasks at once (1 to <see cref="TaskService.MaxTasksPerCheckout"/>); the answer is then a
/// <see cref="CheckoutBatch"/>. Absent, the answer is one <see cref="Lease"/> as before.
/// </param>
public sealed record CheckoutRequest(string? Agent, IReadOnlyList<string>? Queues, IReadOnlyList<string>? Labels, int? WaitSeconds, int? LeaseSeconds, Guid? TaskId, int? MaxTasks = null);

/// <param name="LeaseSeconds">A new lease length for this and later heartbeats; the one chosen at checkout when absent.</param>
public sealed record HeartbeatRequest(string? LeaseToken, int? LeaseSeconds);

/// <param name="Next">
/// Eager dispatch: in the same request, claim the next task for the agent that held this lease, with this filter, without
/// waiting. The answer is then a <see cref="CompletedTask"/>.
/// </param>
public sealed record CompleteRequest(string? LeaseToken, JsonElement? Output, NextTaskRequest? Next = null);

/// <summary>What the next task of a complete-with-next may be: the same filter a checkout takes, for the task's own agent.</summary>
/// <param name="Queues">Queues to take work from; none means every queue.</param>
/// <param name="Labels">The agent's capabilities: only tasks whose labels are all among these.</param>
/// <param name="LeaseSeconds">Lease length; the server default when absent.</param>
public sealed record NextTaskRequest(IReadOnlyList<string>? Queues, IReadOnlyList<string>? Labels, int? LeaseSeconds);

public sealed record FailRequest(string? LeaseToken, string? Error, bool? Retryable);
