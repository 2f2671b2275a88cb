namespace Clarity.Events.Audit;

/// <summary>The audit log's action names, <c>subject.verb</c>: the same names webhooks and notifications use for events.</summary>
public static class AuditActions
{
    public const string SetupCompleted = "setup.completed";
    public const string SignedIn = "auth.signed_in";
    public const string SignInFailed = "auth.sign_in_failed";
    public const string SignedOut = "auth.signed_out";
    public const string SignedOutEverywhere = "auth.signed_out_everywhere";
    public const string OrgCreated = "org.created";
    public const string MemberJoined = "member.joined";
    public const string MemberRoleChanged = "member.role_changed";
    public const string MemberRemoved = "member.removed";
    public const string MemberLeft = "member.left";
    public const string InvitationCreated = "invitation.created";
    public const string InvitationRevoked = "invitation.revoked";
    public const string InvitationAccepted = "invitation.accepted";
    public const string InvitationDeclined = "invitation.declined";
    public const string ApiKeyCreated = "apikey.created";
    public const string ApiKeyRevoked = "apikey.revoked";
    public const string ApiKeyCapped = "apikey.capped";
    public const string TaskCreated = "task.created";
    public const string TaskCancelled = "task.cancelled";
    public const string TaskSucceeded = "task.succeeded";
    public const string TaskFailed = "task.failed";
    public const string TaskUnblocked = "task.unblocked";
    public const string ClarificationAsked = "clarification.asked";
    public const string ClarificationAnswered = "clarification.answered";
    public const string ClarificationExpired = "clarification.expired";
    public const string ClarificationCancelled = "clarification.cancelled";
    public const string WebhookCreated = "webhook.created";
    public const string WebhookUpdated = "webhook.updated";
    public const string WebhookDeleted = "webhook.deleted";
    public const string WebhookSecretRotated = "webhook.secret_rotated";
    public const string WebhookDeliveryReplayed = "webhook.delivery_replayed";
    public const string WebhookDisabled = "webhook.disabled";
    public const string WorkflowVersionCreated = "workflow.version_created";
    public const string WorkflowLabelSet = "workflow.label_set";
    public const string WorkflowLabelRemoved = "workflow.label_removed";
    public const string WorkflowRoleSet = "workflow.role_set";
    public const string WorkflowRoleRemoved = "workflow.role_removed";
    public const string RunStarted = "run.started";
    public const string RunPaused = "run.paused";
    public const string RunResumed = "run.resumed";
    public const string RunCancelled = "run.cancelled";
    public const string RunSucceeded = "run.succeeded";
    public const string RunFailed = "run.failed";
    public const string RunStepRetried = "run.step_retried";
    public const string RunStepSkipped = "run.step_skipped";
    public const string RunStepReleased = "run.step_released";
    public const string RunSignalled = "run.signalled";
    public const string ApprovalVoted = "approval.voted";
    public const string ApprovalDecided = "approval.decided";
    public const string AuditExported = "audit.exported";
    public const string AuditVerified = "audit.verified";
}
