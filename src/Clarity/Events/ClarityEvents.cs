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
[JsonDerivedType(typeof(ApiKeysChanged), "apikeys-changed")]
[JsonDerivedType(typeof(SessionsRevoked), "sessions-revoked")]
[JsonDerivedType(typeof(MembershipEnded), "membership-ended")]
[JsonDerivedType(typeof(RolesChanged), "roles-changed")]
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

/// <summary>API keys whose role changed (capped when their creator's role was lowered): caches must forget them.</summary>
public sealed record ApiKeysChanged(Guid OrgId, IReadOnlyList<Guid> KeyIds) : ClarityEvent(OrgId);

/// <summary>Sign-in sessions that were revoked (sign-out, sign out everywhere): their tokens stop working on every node. Not org-scoped: OrgId is empty.</summary>
public sealed record SessionsRevoked(Guid UserId, IReadOnlyList<Guid> SessionIds) : ClarityEvent(Guid.Empty);

/// <summary>A user left or was removed from an org: their open streams of that org end.</summary>
public sealed record MembershipEnded(Guid OrgId, Guid UserId) : ClarityEvent(OrgId);

/// <summary>Roles or their permissions changed: an org's own (OrgId), or the built-in ones (OrgId empty). Caches of roles must forget them.</summary>
public sealed record RolesChanged(Guid OrgId) : ClarityEvent(OrgId);
