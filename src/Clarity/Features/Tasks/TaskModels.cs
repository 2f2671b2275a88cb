using System.Text.Json;

namespace Clarity.Features.Tasks;

public sealed record CreateTaskRequest(
    string? Queue,
    string? Title,
    JsonElement? Input,
    IReadOnlyList<string>? Labels,
    int? Priority,
    int? MaxAttempts,
    int? TimeoutSeconds,
    string? IdempotencyKey);

/// <param name="Agent">The agent's name; an unknown name registers the agent.</param>
/// <param name="Queues">Queues to take work from; none means every queue.</param>
/// <param name="Labels">The agent's capabilities: it receives only tasks whose labels are all among these.</param>
/// <param name="WaitSeconds">How long to wait for work before answering 204.</param>
/// <param name="LeaseSeconds">Lease length; the server default when absent.</param>
/// <param name="TaskId">Claim this particular queued task instead of the next one.</param>
public sealed record CheckoutRequest(string? Agent, IReadOnlyList<string>? Queues, IReadOnlyList<string>? Labels, int? WaitSeconds, int? LeaseSeconds, Guid? TaskId);

/// <param name="LeaseSeconds">A new lease length for this and later heartbeats; the one chosen at checkout when absent.</param>
public sealed record HeartbeatRequest(string? LeaseToken, int? LeaseSeconds);

public sealed record CompleteRequest(string? LeaseToken, JsonElement? Output);

public sealed record FailRequest(string? LeaseToken, string? Error, bool? Retryable);
