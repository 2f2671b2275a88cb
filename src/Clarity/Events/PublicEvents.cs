using System.Collections.Frozen;

namespace Clarity.Events;

/// <summary>
/// The public names of events, <c>&lt;subject&gt;.&lt;verb&gt;</c>, as webhooks (and later notifications) offer them to
/// subscribers: one catalogue, mapped from the internal events of the outbox. Internal events that mean nothing outside
/// (log batches, agent heartbeats, cache hints) have no public name. <see cref="All"/> (<c>*</c>) subscribes to every one.
/// </summary>
public static class PublicEvents
{
    /// <summary>Subscribes to every public event type.</summary>
    public const string All = "*";

    /// <summary>Every public event type, with what it means (docs/api.md lists the same).</summary>
    public static readonly IReadOnlyList<(string Type, string Meaning)> Catalogue =
    [
        ("task.created", "a task was created (queued, or blocked on its dependencies)"),
        ("task.unblocked", "the last dependency of a blocked task succeeded: it is queued now"),
        ("task.started", "an agent checked a task out, or it resumed after its question was answered"),
        ("task.awaiting_response", "a task's agent asked people a question and waits"),
        ("task.requeued", "a task went back to its queue for another attempt (failure with attempts left, expired lease)"),
        ("task.succeeded", "a task succeeded"),
        ("task.failed", "a task failed for good"),
        ("task.cancelled", "a task was cancelled"),
        ("clarification.asked", "an agent asked a question"),
        ("clarification.answered", "a question was answered"),
        ("clarification.expired", "a question expired unanswered"),
        ("clarification.cancelled", "a question was withdrawn (its task was cancelled)"),
        ("member.joined", "a person joined the org"),
        ("member.role_changed", "a member's role changed"),
        ("member.removed", "a member left or was removed"),
        ("invitation.created", "someone was invited"),
        ("invitation.revoked", "an invitation was withdrawn"),
        ("invitation.accepted", "an invitation was accepted"),
        ("invitation.declined", "an invitation was declined"),
        ("apikey.created", "an API key was created"),
        ("apikey.revoked", "an API key was revoked"),
        ("webhook.created", "a webhook endpoint was created"),
        ("webhook.updated", "a webhook endpoint was changed (URL, events, filters, enabled)"),
        ("webhook.rotated", "a webhook endpoint's signing secret was rotated"),
        ("webhook.deleted", "a webhook endpoint was deleted"),
        ("webhook.disabled", "a webhook endpoint was disabled after repeated failed deliveries"),
        ("workflow.version_created", "a workflow definition was uploaded as a new version"),
        ("workflow.label_set", "a workflow label (such as stable) was pointed at a version"),
        ("workflow.label_removed", "a workflow label was removed"),
        ("workflow.role_set", "a role of the org's workflow role map was bound (created or changed)"),
        ("workflow.role_removed", "a role of the org's workflow role map was removed"),
        ("run.started", "a workflow run started"),
        ("run.paused", "a workflow run was paused: it dispatches nothing new"),
        ("run.resumed", "a paused workflow run was resumed, or a finished one reopened by a retry or skip"),
        ("run.succeeded", "a workflow run succeeded"),
        ("run.failed", "a workflow run failed (a step failed and nothing more can run)"),
        ("run.cancelled", "a workflow run was cancelled"),
        ("approval.pending", "an approval step of a run is waiting for votes"),
        ("approval.approved", "an approval step got its votes (or expired with onExpiry: approve)"),
        ("approval.rejected", "an approval step was rejected (or expired with onExpiry: reject)"),
    ];

    private static readonly FrozenSet<string> s_types = Catalogue.Select(c => c.Type).ToFrozenSet(StringComparer.Ordinal);

    public static bool IsKnown(string type) => s_types.Contains(type);

    /// <summary>The public type of an internal event, or null when it has none.</summary>
    public static string? TypeOf(ClarityEvent evt) => evt switch
    {
        TaskChanged t => t.Status switch
        {
            "blocked" => "task.created",
            "queued" => t.Transition == "unblock" ? "task.unblocked" : t.Attempts == 0 ? "task.created" : "task.requeued",
            "running" => "task.started",
            "awaiting_response" => "task.awaiting_response",
            "succeeded" => "task.succeeded",
            "failed" => "task.failed",
            "cancelled" => "task.cancelled",
            _ => null,
        },
        ClarificationChanged c => c.Status switch
        {
            "pending" => "clarification.asked",
            "answered" => "clarification.answered",
            "expired" => "clarification.expired",
            "cancelled" => "clarification.cancelled",
            _ => null,
        },
        MemberJoined => "member.joined",
        MemberRoleChanged => "member.role_changed",
        MembershipEnded => "member.removed",
        InvitationChanged i => i.Status switch
        {
            "pending" => "invitation.created",
            "revoked" => "invitation.revoked",
            "accepted" => "invitation.accepted",
            "declined" => "invitation.declined",
            _ => null,
        },
        ApiKeyCreated => "apikey.created",
        ApiKeyRevoked => "apikey.revoked",
        WebhookEndpointChanged w => w.Action switch
        {
            "created" => "webhook.created",
            "updated" => "webhook.updated",
            "rotated" => "webhook.rotated",
            "deleted" => "webhook.deleted",
            _ => null,
        },
        WebhookDisabled => "webhook.disabled",
        WorkflowChanged w => w.Action switch
        {
            "version_created" => "workflow.version_created",
            "label_set" => "workflow.label_set",
            "label_removed" => "workflow.label_removed",
            _ => null,
        },
        WorkflowRoleChanged r => r.Action == "removed" ? "workflow.role_removed" : "workflow.role_set",
        RunChanged r => r.Action switch
        {
            "started" => "run.started",
            "paused" => "run.paused",
            "resumed" or "reopened" => "run.resumed",
            "succeeded" => "run.succeeded",
            "failed" => "run.failed",
            "cancelled" => "run.cancelled",
            _ => null,
        },
        RunStepChanged { Kind: "approval" } a => (a.Status, a.Decision) switch
        {
            ("waiting", _) => "approval.pending",
            ("succeeded", _) => "approval.approved",
            ("failed", "rejected" or "expired") => "approval.rejected",
            _ => null,
        },
        _ => null,
    };

    /// <summary>The task an event is about (task and clarification events), for filters by queue and labels.</summary>
    public static Guid? TaskOf(ClarityEvent evt) => evt switch
    {
        TaskChanged t => t.TaskId,
        ClarificationChanged c => c.TaskId,
        _ => null,
    };
}
