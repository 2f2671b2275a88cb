using Clarity.Events;

namespace Clarity.Features.Notifications.OnCall;

/// <summary>A roster or escalation policy was created, updated or deleted, or a roster's overrides changed (<see cref="Action"/>).</summary>
public sealed record OnCallConfigChanged(Guid OrgId, string Kind, Guid Id, string Action, string? Name) : ClarityEvent(OrgId)
{
    public override string Subject => Kind + ":" + Id;
}

/// <summary>
/// An escalation moved: <see cref="Step"/> is started, notified (a level was paged: <see cref="Level"/> and
/// <see cref="Recipients"/>), acknowledged, answered (its question was answered or closed) or exhausted.
/// <see cref="EscalationCorrelationId"/> is the id that links the alert, every page, the acknowledgement and the answer.
/// </summary>
public sealed record EscalationChanged(
    Guid OrgId, Guid EscalationId, string SubjectKind, Guid SubjectId, string Status, string Step, int Level, IReadOnlyList<Guid> Recipients, bool IsDrill,
    string EscalationCorrelationId) : ClarityEvent(OrgId)
{
    public override string Subject => "escalation:" + EscalationId;

    /// <summary>
    /// On a <c>notified</c> step: the channels the pager chose for each person paged. The notification core turns them into
    /// deliveries keyed by this event's seq, so the page reaches each person once per channel however often it is read.
    /// </summary>
    public IReadOnlyList<PageTarget>? Targets { get; init; }

    /// <summary>True on the fallback's page.</summary>
    public bool? Fallback { get; init; }
}

/// <summary>One person of a page and one channel to reach them through (email, webpush, slack).</summary>
public sealed record PageTarget(Guid UserId, string Channel);
