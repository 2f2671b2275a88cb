using System.Collections.Frozen;
using System.Text.Json.Serialization;
using Clarity.Events.Stream;

namespace Clarity.Events;

/// <summary>Who caused a change: a signed-in user, an API key (agents use keys), or the system (sweeps, expiry).</summary>
public enum ActorKind
{
    System,
    User,
    ApiKey,
}

public readonly record struct Actor(ActorKind Kind, Guid? Id)
{
    public static readonly Actor System = new(ActorKind.System, null);

    public static Actor User(Guid id) => new(ActorKind.User, id);

    public static Actor ApiKey(Guid id) => new(ActorKind.ApiKey, id);

    public string KindName => Kind switch
    {
        ActorKind.User => "user",
        ActorKind.ApiKey => "apikey",
        _ => "system",
    };

    public static ActorKind ParseKind(string? kind) => kind switch
    {
        "user" => ActorKind.User,
        "apikey" => ActorKind.ApiKey,
        _ => ActorKind.System,
    };
}

/// <summary>
/// A state change. Each event is written to the <c>events</c> table (the outbox) in the same transaction as the change
/// it describes, and reaches every consumer from there: every node's stream hub, long-poll wake-ups and caches. The
/// record's own properties are the payload, a snapshot of what changed; <see cref="OrgId"/>, the correlation id and the
/// actor travel in columns of their own.
/// </summary>
public abstract record ClarityEvent([property: JsonIgnore] Guid OrgId)
{
    /// <summary>The correlation id of the request that caused the change (null for background work).</summary>
    [JsonIgnore]
    public string? CorrelationId { get; init; }

    /// <summary>Who caused it.</summary>
    [JsonIgnore]
    public Actor Actor { get; init; } = Actor.System;

    /// <summary>What the event is about, e.g. <c>task:{id}</c>: for readers of the log, never parsed.</summary>
    [JsonIgnore]
    public abstract string Subject { get; }
}

/// <summary>
/// The event types: the <c>kind</c> stored with each row (and the stream's event name), and the stream topic a row is
/// delivered on (empty: not streamed; such events inform the nodes and, later, the audit log and webhooks).
/// </summary>
public static class EventCatalog
{
    private static readonly (Type Type, string Kind)[] s_kinds =
    [
        (typeof(TaskChanged), "task"),
        (typeof(LogsAppended), "logs"),
        (typeof(ClarificationChanged), "clarification"),
        (typeof(AgentSeen), "agent"),
        (typeof(OrgCreated), "org.created"),
        (typeof(MemberJoined), "member.joined"),
        (typeof(MemberRoleChanged), "member.role-changed"),
        (typeof(MembershipEnded), "member.removed"),
        (typeof(InvitationChanged), "invitation"),
        (typeof(ApiKeyCreated), "apikey.created"),
        (typeof(ApiKeyRevoked), "apikey.revoked"),
        (typeof(ApiKeysChanged), "apikey.capped"),
        (typeof(SessionsRevoked), "session.revoked"),
        (typeof(RolesChanged), "roles.changed"),
        (typeof(WebhookEndpointChanged), "webhook.changed"),
        (typeof(WebhookDisabled), "webhook.disabled"),
        (typeof(WorkflowChanged), "workflow.changed"),
        (typeof(WorkflowRoleChanged), "workflow.role-changed"),
        (typeof(RunChanged), "run"),
        (typeof(RunStepChanged), "run.step"),
        (typeof(ClarificationExpiring), "clarification.expiring"),
        (typeof(Features.Notifications.OnCall.OnCallConfigChanged), "oncall.changed"),
        (typeof(Features.Notifications.OnCall.EscalationChanged), "escalation"),
    ];

    private static readonly FrozenDictionary<Type, string> s_kindOf = s_kinds.ToFrozenDictionary(k => k.Type, k => k.Kind);
    private static readonly FrozenDictionary<string, Type> s_typeOf = s_kinds.ToFrozenDictionary(k => k.Kind, k => k.Type, StringComparer.Ordinal);

    public static string KindOf(ClarityEvent evt) =>
        s_kindOf.TryGetValue(evt.GetType(), out var kind) ? kind : throw new InvalidOperationException($"{evt.GetType().Name} is not in the event catalog.");

    public static Type? TypeOf(string kind) => s_typeOf.GetValueOrDefault(kind);

    /// <summary>The stream topic of the event, or "" when it is not streamed.</summary>
    public static string TopicOf(ClarityEvent evt) => evt switch
    {
        TaskChanged => StreamTopics.Tasks,
        LogsAppended l => StreamTopics.Logs(l.TaskId),
        ClarificationChanged => StreamTopics.Clarifications,
        AgentSeen => StreamTopics.Agents,
        RunChanged or RunStepChanged => StreamTopics.Runs,
        _ => "",
    };
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

/// <summary>
/// A task was created or changed status: a snapshot of the task's lifecycle fields (not its input or output).
/// <see cref="HasLabels"/> tells waiting agents whether any of them may take it.
/// </summary>
public sealed record TaskChanged(Guid OrgId, Guid TaskId, string Queue, string Status, bool HasLabels) : ClarityEvent(OrgId)
{
    public string? Title { get; init; }

    public int Attempts { get; init; }

    public int MaxAttempts { get; init; }

    public Guid? AgentId { get; init; }

    /// <summary>The transition that led to <see cref="Status"/>, snake case (<c>claim</c>, <c>unblock</c>, …); null when the task was created.</summary>
    public string? Transition { get; init; }

    public override string Subject => "task:" + TaskId;
}

public sealed record LogsAppended(Guid OrgId, Guid TaskId, long FirstSeq, long LastSeq) : ClarityEvent(OrgId)
{
    public override string Subject => "task:" + TaskId;
}

public sealed record ClarificationChanged(Guid OrgId, Guid ClarificationId, Guid TaskId, string Status) : ClarityEvent(OrgId)
{
    public override string Subject => "clarification:" + ClarificationId;
}

public sealed record AgentSeen(Guid OrgId, Guid AgentId, string Name) : ClarityEvent(OrgId)
{
    public override string Subject => "agent:" + AgentId;
}

public sealed record OrgCreated(Guid OrgId, string Slug, Guid OwnerId) : ClarityEvent(OrgId)
{
    public override string Subject => "org:" + OrgId;
}

/// <summary>A user joined an org (setup, a new org's owner, an accepted invitation).</summary>
public sealed record MemberJoined(Guid OrgId, Guid UserId, string Role) : ClarityEvent(OrgId)
{
    public override string Subject => "member:" + UserId;
}

public sealed record MemberRoleChanged(Guid OrgId, Guid UserId, string From, string To) : ClarityEvent(OrgId)
{
    public override string Subject => "member:" + UserId;
}

/// <summary>A user left or was removed from an org: their open streams of that org end.</summary>
public sealed record MembershipEnded(Guid OrgId, Guid UserId) : ClarityEvent(OrgId)
{
    public override string Subject => "member:" + UserId;
}

/// <summary>An invitation was created, withdrawn, accepted or declined (<see cref="Status"/>); the email is not repeated here.</summary>
public sealed record InvitationChanged(Guid OrgId, Guid InvitationId, string Role, string Status) : ClarityEvent(OrgId)
{
    public override string Subject => "invitation:" + InvitationId;
}

public sealed record ApiKeyCreated(Guid OrgId, Guid KeyId, string Name, string Role) : ClarityEvent(OrgId)
{
    public override string Subject => "apikey:" + KeyId;
}

public sealed record ApiKeyRevoked(Guid OrgId, Guid KeyId) : ClarityEvent(OrgId)
{
    public override string Subject => "apikey:" + KeyId;
}

/// <summary>API keys whose role changed (capped when their creator's role was lowered): caches must forget them.</summary>
public sealed record ApiKeysChanged(Guid OrgId, IReadOnlyList<Guid> KeyIds) : ClarityEvent(OrgId)
{
    public override string Subject => "apikeys:" + OrgId;
}

/// <summary>Sign-in sessions that were revoked (sign-out, sign out everywhere): their tokens stop working on every node. Not org-scoped: OrgId is empty.</summary>
public sealed record SessionsRevoked(Guid UserId, IReadOnlyList<Guid> SessionIds) : ClarityEvent(Guid.Empty)
{
    public override string Subject => "user:" + UserId;
}

/// <summary>Roles or their permissions changed: an org's own (OrgId), or the built-in ones (OrgId empty). Caches of roles must forget them.</summary>
public sealed record RolesChanged(Guid OrgId) : ClarityEvent(OrgId)
{
    public override string Subject => OrgId == Guid.Empty ? "roles:built-in" : "roles:" + OrgId;
}

/// <summary>
/// A webhook endpoint was created, updated, deleted or had its secret rotated (<see cref="Action"/>: created, updated,
/// deleted, rotated). Never carries the secret.
/// </summary>
public sealed record WebhookEndpointChanged(Guid OrgId, Guid WebhookId, string Action, string Url) : ClarityEvent(OrgId)
{
    public override string Subject => "webhook:" + WebhookId;
}

/// <summary>
/// A workflow changed (<see cref="Action"/>: <c>version_created</c>, <c>label_set</c>, <c>label_removed</c>):
/// <see cref="Version"/> is the version created, or the one the label points at (or pointed at, when removed).
/// </summary>
public sealed record WorkflowChanged(Guid OrgId, Guid WorkflowId, string Name, string Action, int Version, string? Label) : ClarityEvent(OrgId)
{
    public override string Subject => "workflow:" + WorkflowId;
}

/// <summary>A binding of the org's workflow role map was set or removed (<see cref="Action"/>: <c>set</c>, <c>removed</c>).</summary>
public sealed record WorkflowRoleChanged(Guid OrgId, string Name, string Action) : ClarityEvent(OrgId)
{
    public override string Subject => "workflow-role:" + Name;
}

/// <summary>
/// A workflow run's status changed (<see cref="Action"/>: <c>started</c>, <c>paused</c>, <c>resumed</c>, <c>succeeded</c>,
/// <c>failed</c>, <c>cancelled</c>, <c>reopened</c> when a retry or skip brings a finished run back).
/// </summary>
public sealed record RunChanged(Guid OrgId, Guid RunId, string Workflow, int Version, string Status, string Action) : ClarityEvent(OrgId)
{
    public override string Subject => "run:" + RunId;
}

/// <summary>A step of a workflow run changed: its status, or (for a debug run) whether it is held before dispatch.</summary>
public sealed record RunStepChanged(Guid OrgId, Guid RunId, string StepId, string Kind, string Status, bool Held, Guid? TaskId) : ClarityEvent(OrgId)
{
    /// <summary>For an approval that just decided or expired: approved, rejected or expired.</summary>
    public string? Decision { get; init; }

    public override string Subject => "run:" + RunId;
}

/// <summary>A webhook endpoint was disabled automatically after <see cref="ConsecutiveFailures"/> failed attempts in a row.</summary>
public sealed record WebhookDisabled(Guid OrgId, Guid WebhookId, string Url, int ConsecutiveFailures, string Reason) : ClarityEvent(OrgId)
{
    public override string Subject => "webhook:" + WebhookId;
}

/// <summary>
/// A pending question is close to its expiry (raised once per question by the notifications' expiry sweep, so that
/// people can still answer it). Not streamed: the clarification itself has not changed.
/// </summary>
public sealed record ClarificationExpiring(Guid OrgId, Guid ClarificationId, Guid TaskId, long ExpiresAt) : ClarityEvent(OrgId)
{
    public override string Subject => "clarification:" + ClarificationId;
}
