namespace Clarity.Features.Notifications;

/// <summary>
/// A way to reach people (email, Slack, web push, webhook). The notification core fans events out into deliveries (one
/// per event, recipient and channel) and hands each due one to the channel of its type, on the leader, never on a
/// request's path; the channel renders the <see cref="NotificationView"/> with its own templates and sends it.
/// Registered as <c>services.AddSingleton&lt;INotificationChannel, MyChannel&gt;()</c>.
/// </summary>
public interface INotificationChannel
{
    /// <summary>The channel type of rules and deliveries: <c>email</c>, <c>slack</c>, <c>webpush</c> or <c>webhook</c>.</summary>
    string Type { get; }

    /// <summary>
    /// Sends one delivery. Never throws for a failure of the far side: it answers <see cref="DeliveryOutcome.Retry"/>
    /// (the core tries again with backoff) or <see cref="DeliveryOutcome.Fail"/> (no point trying again).
    /// </summary>
    Task<DeliveryOutcome> SendAsync(NotificationDelivery delivery, NotificationView view, CancellationToken ct);
}

/// <summary>
/// One message to one recipient through one channel. <see cref="Recipient"/> is what the channel addresses: an email
/// address, a Slack channel (<c>#name</c> or an id), a user id for web push, a webhook endpoint id.
/// <see cref="RecipientUserId"/> is the Clarity user behind it when there is one (personal rules, web push, an email
/// address that is a member's).
/// </summary>
public sealed record NotificationDelivery(Guid Id, Guid OrgId, string Channel, string Recipient, Guid? RecipientUserId, int Attempt, string CorrelationId);

/// <summary>The result of one attempt. <see cref="ExternalId"/> is what the far side called it (a Message-Id, a Slack ts).</summary>
public sealed record DeliveryOutcome(bool Sent, bool Retryable, string? Detail, string? ExternalId = null)
{
    public static DeliveryOutcome Ok(string? externalId = null, string? detail = null) => new(true, false, detail, externalId);

    public static DeliveryOutcome Retry(string detail) => new(false, true, detail);

    public static DeliveryOutcome Fail(string detail) => new(false, false, detail);
}

/// <summary>
/// What a notification is about, read once per event by the core so that channels never query for it: what a person
/// needs to act well (the task's title, the agent that asks, its run and step, the last log lines before the question)
/// and where to do it (absolute links built from <c>Clarity:PublicUrl</c>).
/// </summary>
public sealed record NotificationView
{
    /// <summary>One of <see cref="NotificationEvents"/>.</summary>
    public required string EventType { get; init; }

    /// <summary>The outbox event's sequence number (the delivery's identity with recipient and channel).</summary>
    public required long EventSeq { get; init; }

    public required Guid OrgId { get; init; }

    public required string OrgSlug { get; init; }

    public required DateTimeOffset OccurredAt { get; init; }

    /// <summary>A one-line summary, e.g. "Question from agent build-bot: Deploy to production?".</summary>
    public required string Summary { get; init; }

    /// <summary>Where the dashboard shows the subject (absolute when <c>Clarity:PublicUrl</c> is set, else a path).</summary>
    public required string Url { get; init; }

    public Guid? TaskId { get; init; }

    public string? TaskTitle { get; init; }

    public string? TaskStatus { get; init; }

    public string? Queue { get; init; }

    public string? AgentName { get; init; }

    public Guid? RunId { get; init; }

    public string? StepId { get; init; }

    public string? WorkflowName { get; init; }

    /// <summary>The clarification for clarification.asked / clarification.expiring; null otherwise.</summary>
    public NotificationQuestion? Question { get; init; }

    /// <summary>The last log lines of the task before the event, oldest first (at most 20; channels show fewer).</summary>
    public IReadOnlyList<string> RecentLogLines { get; init; } = [];

    /// <summary>The task's full log in the dashboard.</summary>
    public string? LogUrl { get; init; }

    /// <summary>Free text for events without a richer shape (a run's status, a disabled webhook's reason).</summary>
    public string? Detail { get; init; }

    /// <summary>A drill (<c>clarity oncall drill</c>): every channel marks the message clearly as a test.</summary>
    public bool IsTest { get; init; }

    /// <summary>An on-call page (event type <c>escalation.page</c>): which escalation, which level; null otherwise.</summary>
    public NotificationPage? Page { get; init; }

    /// <summary>When a burst was grouped into one digest: every event it stands for (this view is the first).</summary>
    public IReadOnlyList<NotificationView>? Digest { get; init; }
}

/// <summary>
/// What a page is about: the escalation (its id, the policy's name, what it escalates), the level paged (or the fallback),
/// and the subject it escalates (a clarification, an approval, or a drill's test page).
/// </summary>
public sealed record NotificationPage(Guid EscalationId, string PolicyName, int Level, bool Fallback, string SubjectKind, Guid SubjectId)
{
    /// <summary>The escalation's status when the view was built: a page of one no longer <c>open</c> is not sent.</summary>
    public string EscalationStatus { get; init; } = "open";
}

/// <summary>A pending question as a notification shows it.</summary>
public sealed record NotificationQuestion(Guid Id, string Text, IReadOnlyList<string>? Options, DateTimeOffset ExpiresAt, string OnExpiry, string? DefaultAnswer);

/// <summary>The event types notification rules name (issue 12's names, kept exactly).</summary>
public static class NotificationEvents
{
    public const string ClarificationAsked = "clarification.asked";
    public const string ClarificationExpiring = "clarification.expiring";
    public const string TaskFailed = "task.failed";
    public const string TaskSucceeded = "task.succeeded";
    public const string RunFinished = "run.finished";
    public const string ApprovalPending = "approval.pending";
    public const string WebhookDisabled = "webhook.disabled";

    public static readonly IReadOnlyList<string> All =
        [ClarificationAsked, ClarificationExpiring, TaskFailed, TaskSucceeded, RunFinished, ApprovalPending, WebhookDisabled];

    /// <summary>
    /// An on-call page: not a rule's event type (rules never name it), the notification an escalation sends to the people
    /// it pages, through the channels its pager chose.
    /// </summary>
    public const string EscalationPage = "escalation.page";
}

/// <summary>The channel types of rules.</summary>
public static class NotificationChannels
{
    public const string Email = "email";
    public const string Slack = "slack";
    public const string WebPush = "webpush";
    public const string Webhook = "webhook";

    public static readonly IReadOnlyList<string> All = [Email, Slack, WebPush, Webhook];
}
