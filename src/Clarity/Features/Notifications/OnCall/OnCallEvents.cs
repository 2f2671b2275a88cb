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
}
