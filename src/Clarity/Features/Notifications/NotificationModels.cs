namespace Clarity.Features.Notifications;

/// <summary>
/// A channel of a rule as sent: <c>{type: "email", to: [addresses]}</c>, <c>{type: "slack", channel: "#name"}</c>,
/// <c>{type: "webpush", users: [user ids]}</c> or <c>{type: "webhook", endpoint: id}</c>. In a personal rule, email and
/// web push name nobody (the rule's owner is the one recipient).
/// </summary>
public sealed record NotificationChannelRequest(string? Type, IReadOnlyList<string>? To, string? Channel, IReadOnlyList<string>? Users, string? Endpoint);

public sealed record NotificationFiltersRequest(IReadOnlyList<string>? Queues, IReadOnlyList<string>? Labels, IReadOnlyList<string>? Workflows);

/// <summary><c>escalationPolicy</c>: the id of the org's escalation policy the rule starts when it fires on a question or an approval (org rules only).</summary>
public sealed record CreateNotificationRuleRequest(
    string? Name, IReadOnlyList<string>? Events, IReadOnlyList<NotificationChannelRequest>? Channels, NotificationFiltersRequest? Filters, bool? Enabled,
    string? EscalationPolicy = null);

/// <summary>A change of a rule: every member left out stays as it is; <c>escalationPolicy: ""</c> detaches the policy.</summary>
public sealed record UpdateNotificationRuleRequest(
    string? Name, IReadOnlyList<string>? Events, IReadOnlyList<NotificationChannelRequest>? Channels, NotificationFiltersRequest? Filters, bool? Enabled,
    string? EscalationPolicy = null);

/// <summary>A channel of a rule as stored and shown: only the members of its type are set.</summary>
public sealed record RuleChannel(string Type, IReadOnlyList<string>? To = null, string? Channel = null, IReadOnlyList<Guid>? Users = null, Guid? Endpoint = null);

/// <summary>Filters of a rule; each one left out (null) lets every event through.</summary>
public sealed record RuleFilters(IReadOnlyList<string>? Queues, IReadOnlyList<string>? Labels, IReadOnlyList<string>? Workflows)
{
    public static readonly RuleFilters None = new(null, null, null);
}

public sealed record NotificationRule(
    Guid Id, string? Name, bool Personal, Guid? OwnerUserId, IReadOnlyList<string> Events, IReadOnlyList<RuleChannel> Channels, RuleFilters Filters,
    bool Enabled, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, Guid? EscalationPolicy = null);

public sealed record NotificationRulePage(IReadOnlyList<NotificationRule> Items, string? NextCursor);

/// <summary>Quiet hours: local wall-clock times (HH:mm) in an IANA time zone; an end before the start spans midnight.</summary>
public sealed record QuietHoursModel(string? Start, string? End, string? TimeZone);

public sealed record NotificationPreferencesRequest(QuietHoursModel? QuietHours, IReadOnlyList<string>? MutedChannels);

public sealed record NotificationPreferences(QuietHoursModel? QuietHours, IReadOnlyList<string> MutedChannels, DateTimeOffset? UpdatedAt);

/// <summary>One row of the delivery log.</summary>
public sealed record NotificationDeliveryModel(
    Guid Id, Guid? RuleId, long? EventSeq, string EventType, string Channel, string Recipient, Guid? RecipientUserId, string Status, bool Digest,
    Guid? DigestId, int Attempts, DateTimeOffset? NextAttemptAt, string? LastError, string? Note, string? ExternalId, DateTimeOffset EventAt,
    DateTimeOffset CreatedAt, DateTimeOffset? SentAt);

public sealed record NotificationDeliveryPage(IReadOnlyList<NotificationDeliveryModel> Items, string? NextCursor);

/// <summary>The statuses of a delivery.</summary>
public static class NotificationDeliveryStatuses
{
    public const string Pending = "pending";
    public const string Sent = "sent";
    public const string Failed = "failed";
    public const string Suppressed = "suppressed";
    public const string Grouped = "grouped";

    public static readonly IReadOnlyList<string> All = [Pending, Sent, Failed, Suppressed, Grouped];
}
