using System.Text.Json.Serialization;

namespace Clarity.Events;

/// <summary>
/// A state change, published after its transaction commits. Events are small and serialisable so that they can
/// cross nodes (PostgreSQL NOTIFY) and, later, be stored durably; subscribers re-read anything larger.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(TaskChanged), "task")]
[JsonDerivedType(typeof(LogsAppended), "logs")]
[JsonDerivedType(typeof(ClarificationChanged), "clarification")]
[JsonDerivedType(typeof(AgentSeen), "agent")]
[JsonDerivedType(typeof(ApiKeyRevoked), "apikey-revoked")]
public abstract record ClarityEvent(Guid OrgId)
{
    /// <summary>The correlation id of the request that caused the change (null for background sweeps); the bus stamps it on publish.</summary>
    public string? CorrelationId { get; init; }
}

/// <summary>The correlation id of the request being served on this async flow, set by the correlation-id middleware.</summary>
public static class CorrelationContext
{
    private static readonly AsyncLocal<string?> s_current = new();

    public static string? Current
    {
        get => s_current.Value;
        set => s_current.Value = value;
    }
}

/// <summary>A task was created or changed status. <see cref="HasLabels"/> tells waiting agents whether any of them may take it.</summary>
public sealed record TaskChanged(Guid OrgId, Guid TaskId, string Queue, string Status, bool HasLabels) : ClarityEvent(OrgId);

public sealed record LogsAppended(Guid OrgId, Guid TaskId, long FirstSeq, long LastSeq) : ClarityEvent(OrgId);

public sealed record ClarificationChanged(Guid OrgId, Guid ClarificationId, Guid TaskId, string Status) : ClarityEvent(OrgId);

public sealed record AgentSeen(Guid OrgId, Guid AgentId, string Name) : ClarityEvent(OrgId);

public sealed record ApiKeyRevoked(Guid OrgId, Guid KeyId) : ClarityEvent(OrgId);
