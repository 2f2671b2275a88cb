namespace Clarity.Features.Notifications.OnCall;

/// <summary>A roster: <c>handoff</c> is daily or weekly, <c>handoffTime</c> HH:mm local time, <c>startDate</c> yyyy-MM-dd, members in order.</summary>
public sealed record RosterRequest(string? Name, string? TimeZone, string? Handoff, string? HandoffTime, string? StartDate, IReadOnlyList<Guid>? Members);

public sealed record Roster(Guid Id, string Name, string TimeZone, string Handoff, string HandoffTime, string StartDate, IReadOnlyList<Guid> Members, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

public sealed record RosterPage(IReadOnlyList<Roster> Items, string? NextCursor);

public sealed record OverrideRequest(Guid? UserId, DateTimeOffset? From, DateTimeOffset? To);

public sealed record RosterOverrideModel(Guid Id, Guid RosterId, Guid UserId, DateTimeOffset From, DateTimeOffset To, DateTimeOffset CreatedAt);

/// <summary>Who is on call in a roster at <see cref="At"/> (nobody before its first shift), and whether an override put them there.</summary>
public sealed record OnCallNow(Guid RosterId, DateTimeOffset At, Guid? UserId, string? Email, bool Override);

public sealed record TargetsModel(IReadOnlyList<Guid>? Rosters, IReadOnlyList<Guid>? Users);

public sealed record LevelModel(TargetsModel? Targets, int? DelayMinutes);

public sealed record PolicyRequest(string? Name, IReadOnlyList<LevelModel>? Levels, int? Repeat, TargetsModel? Fallback);

public sealed record EscalationPolicy(Guid Id, string Name, IReadOnlyList<LevelModel> Levels, int Repeat, TargetsModel? Fallback, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

public sealed record EscalationPolicyPage(IReadOnlyList<EscalationPolicy> Items, string? NextCursor);

/// <summary>One entry of an escalation's timeline: <c>kind</c> is notified, acknowledged, answered, resolved or exhausted.</summary>
public sealed record EscalationTimelineEntry(DateTimeOffset At, string Kind, int Level, IReadOnlyList<Guid> Recipients, string? Detail);

public sealed record Escalation(
    Guid Id, Guid PolicyId, string PolicyName, string Subject, Guid SubjectId, string CorrelationId, DateTimeOffset StartedAt, int LevelReached,
    DateTimeOffset? NextAt, string Status, Guid? AcknowledgedBy, string? AcknowledgedByName, DateTimeOffset? AcknowledgedAt, string? AcknowledgedVia,
    bool IsDrill, IReadOnlyList<EscalationTimelineEntry>? Timeline);

public sealed record EscalationPage(IReadOnlyList<Escalation> Items, string? NextCursor);

/// <summary><c>via</c>: where the acknowledgement came from (dashboard, email, slack, webpush, api, cli); api when left out.</summary>
public sealed record AcknowledgeRequest(string? Via);

public static class EscalationStatuses
{
    public const string Open = "open";
    public const string Acknowledged = "acknowledged";
    public const string Resolved = "resolved";
    public const string Exhausted = "exhausted";

    public static readonly IReadOnlyList<string> All = [Open, Acknowledged, Resolved, Exhausted];
}

public static class EscalationSubjects
{
    public const string Clarification = "clarification";
    public const string Approval = "approval";
    public const string Test = "test";

    public static readonly IReadOnlyList<string> All = [Clarification, Approval, Test];

    /// <summary>An approval step's subject id: its run and step id, hashed to one id (a step run has no id of its own).</summary>
    public static Guid ApprovalStep(Guid runId, string stepId)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{runId:N}/{stepId}"));
        return new Guid(hash.AsSpan(0, 16));
    }
}

public static class EscalationEventKinds
{
    public const string Notified = "notified";
    public const string Acknowledged = "acknowledged";
    public const string Answered = "answered";
    public const string Exhausted = "exhausted";
}

public static class AcknowledgeChannels
{
    public const string Api = "api";
    public const string Dashboard = "dashboard";

    public static readonly IReadOnlyList<string> All = [Api, Dashboard, "cli", NotificationChannels.Email, NotificationChannels.Slack, NotificationChannels.WebPush];
}
