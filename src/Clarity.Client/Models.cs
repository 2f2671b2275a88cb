using System.Text.Json;
using System.Text.Json.Serialization;

namespace Clarity.Client;

// Identity

public sealed record SetupRequest(string Org, string OrgName, string Email, string Password, string? DisplayName = null);

public sealed record SetupStatus(bool Required);

public sealed record SetupResult(Org Org, User User);

public sealed record LoginResult(string Token, DateTimeOffset ExpiresAt);

public sealed record Org(Guid Id, string Slug, string Name, DateTimeOffset CreatedAt);

public sealed record User(Guid Id, string Email, string DisplayName, DateTimeOffset CreatedAt);

public sealed record OrgMembership(string Slug, string Name, string Role);

/// <summary>Who the caller is: a signed-in user with their orgs and the invitations waiting for them, or an API key.</summary>
public sealed record Me(User? User, IReadOnlyList<OrgMembership> Orgs, ApiKeyIdentity? ApiKey, IReadOnlyList<PendingInvitation> Invitations);

public sealed record ApiKeyIdentity(Guid Id, string Name, string Prefix, string Role, string Org);

public sealed record Member(Guid UserId, string Email, string DisplayName, string Role, DateTimeOffset JoinedAt);

public sealed record MemberPage(IReadOnlyList<Member> Items, string? NextCursor);

/// <summary>A member's new role, and the API keys they created that were capped to it (a key never outranks its creator).</summary>
public sealed record MemberRoleChange(Member Member, IReadOnlyList<ApiKeyInfo> CappedApiKeys);

/// <summary>A member who was removed (or left), and the API keys they created in the org, which were revoked with them.</summary>
public sealed record MemberRemoval(Guid UserId, IReadOnlyList<ApiKeyInfo> RevokedApiKeys);

/// <param name="CreatedBy">The person responsible for the key: who created it, or the person behind the key that created it.</param>
public sealed record ApiKeyInfo(Guid Id, string Name, string Prefix, string Role, DateTimeOffset CreatedAt, DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt, Guid? CreatedBy = null);

public sealed record ApiKeyPage(IReadOnlyList<ApiKeyInfo> Items, string? NextCursor);

/// <summary>The invitation statuses. A pending invitation past its expiry reads as expired.</summary>
public static class InvitationStatuses
{
    public const string Pending = "pending";
    public const string Accepted = "accepted";
    public const string Declined = "declined";
    public const string Revoked = "revoked";
    public const string Expired = "expired";

    public static readonly IReadOnlyList<string> All = [Pending, Accepted, Declined, Revoked, Expired];
}

/// <param name="AcceptUrl">The link that accepts the invitation (also for people without an account yet); only in the answer that creates it.</param>
public sealed record Invitation(
    Guid Id,
    string Email,
    string Role,
    string Status,
    Guid? InvitedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset ExpiresAt,
    DateTimeOffset? RespondedAt,
    string? AcceptUrl = null);

public sealed record InvitationPage(IReadOnlyList<Invitation> Items, string? NextCursor);

/// <param name="ExpiresInHours">How long the invitation stays open: 1 to 720 hours, a week when absent.</param>
public sealed record CreateInvitationRequest(string Email, string Role, int? ExpiresInHours = null);

/// <summary>An invitation accepted through its link by creating an account: the new account's sign-in token, the account, and the org joined.</summary>
public sealed record InvitationAccepted(string Token, DateTimeOffset ExpiresAt, User User, OrgMembership Org);

/// <summary>An invitation waiting for the signed-in user (in <see cref="Me.Invitations"/>).</summary>
public sealed record PendingInvitation(Guid Id, string Org, string OrgName, string Role, string? InvitedBy, DateTimeOffset ExpiresAt);

/// <summary>One of the signed-in user's sessions (a sign-in on some device). <see cref="Current"/> marks the caller's own.</summary>
public sealed record SessionInfo(Guid Id, DateTimeOffset CreatedAt, DateTimeOffset LastSeenAt, DateTimeOffset ExpiresAt, string? UserAgent, string? Address, bool Current);

public sealed record SessionPage(IReadOnlyList<SessionInfo> Items, string? NextCursor);

/// <summary>How many sessions a "sign out everywhere" ended.</summary>
public sealed record SessionsRevokedResult(int Revoked);

/// <summary>A new API key. <see cref="Secret"/> is shown only this once.</summary>
public sealed record CreatedApiKey(Guid Id, string Name, string Prefix, string Role, DateTimeOffset CreatedAt, string Secret);

/// <summary>The built-in roles, weakest first.</summary>
public static class Roles
{
    public const string Viewer = "viewer";
    public const string Member = "member";
    public const string Admin = "admin";
    public const string Owner = "owner";
}

// Agents

public sealed record Agent(Guid Id, string Name, IReadOnlyList<string> Labels, string Status, Guid? CurrentTaskId, DateTimeOffset CreatedAt, DateTimeOffset LastSeenAt);

/// <summary>One page of agents, by name. Pass <see cref="NextCursor"/> to get the next page; null when this is the last.</summary>
public sealed record AgentPage(IReadOnlyList<Agent> Items, string? NextCursor);

// Tasks

/// <summary>
/// The task statuses: (blocked →) queued → running ⇄ awaiting_response → succeeded | failed | cancelled. A task created
/// with dependencies is blocked until all of them succeed, and cancelled when one of them fails or is cancelled.
/// </summary>
public static class TaskStatuses
{
    public const string Blocked = "blocked";
    public const string Queued = "queued";
    public const string Running = "running";
    public const string AwaitingResponse = "awaiting_response";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static readonly IReadOnlyList<string> All = [Blocked, Queued, Running, AwaitingResponse, Succeeded, Failed, Cancelled];

    public static bool IsTerminal(string status) => status is Succeeded or Failed or Cancelled;
}

/// <param name="Input">Any value that serializes to JSON; the agent receives it as <see cref="AgentTask.Input"/>.</param>
/// <param name="IdempotencyKey">A repeated key returns the existing task instead of creating another.</param>
/// <param name="DependsOn">
/// Tasks of the org (at most 100) that must all succeed before this one may be claimed; until then it is blocked. When
/// one of them fails or is cancelled, this task is cancelled.
/// </param>
public sealed record CreateTaskRequest(
    string Queue,
    string Title,
    object? Input = null,
    IReadOnlyList<string>? Labels = null,
    int? Priority = null,
    int? MaxAttempts = null,
    int? TimeoutSeconds = null,
    string? IdempotencyKey = null,
    IReadOnlyList<Guid>? DependsOn = null);

/// <param name="DependsOn">The tasks this one waits for (<see cref="CreateTaskRequest.DependsOn"/>); absent when none.</param>
public sealed record AgentTask(
    Guid Id,
    string Queue,
    string Title,
    string Status,
    JsonElement? Input,
    JsonElement? Output,
    string? Error,
    IReadOnlyList<string> Labels,
    int Priority,
    int Attempts,
    int MaxAttempts,
    int TimeoutSeconds,
    string? IdempotencyKey,
    Guid? AgentId,
    DateTimeOffset? LeaseExpiresAt,
    long LogCount,
    Guid? RunId,
    string? StepId,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    DateTimeOffset UpdatedAt,
    JsonElement? Context = null,
    IReadOnlyList<Guid>? DependsOn = null);

/// <summary>Filters for listing tasks; every one is optional.</summary>
public sealed record TaskQuery(string? Status = null, string? Queue = null, string? Agent = null, int? Limit = null);

public sealed record TaskPage(IReadOnlyList<AgentTask> Items, string? NextCursor);

/// <param name="Agent">The agent's name; an unknown name registers the agent.</param>
/// <param name="Queues">Queues to take work from; none means every queue.</param>
/// <param name="Labels">The agent's capabilities: it receives only tasks whose labels are all among these.</param>
/// <param name="WaitSeconds">How long the server waits for work before answering that there is none.</param>
/// <param name="LeaseSeconds">Lease length; the server default when null.</param>
/// <param name="TaskId">Claim this particular queued task instead of the next one.</param>
public sealed record CheckoutRequest(
    string Agent,
    IReadOnlyList<string>? Queues = null,
    IReadOnlyList<string>? Labels = null,
    int? WaitSeconds = null,
    int? LeaseSeconds = null,
    Guid? TaskId = null);

/// <summary>A checked-out task and the lease that lets this agent heartbeat, log, complete or fail it.</summary>
public sealed record Lease(AgentTask Task, string LeaseToken, DateTimeOffset LeaseExpiresAt);

/// <summary>The answer to a checkout with <c>maxTasks</c>: one to <c>maxTasks</c> leases, each its own task and token.</summary>
public sealed record CheckoutBatch(IReadOnlyList<Lease> Leases);

/// <summary>
/// The filter of the next task that a complete claims for the same agent in the same request (eager dispatch): the
/// same meaning as in <see cref="CheckoutRequest"/>. The server does not wait for work.
/// </summary>
public sealed record NextTaskRequest(IReadOnlyList<string>? Queues = null, IReadOnlyList<string>? Labels = null, int? LeaseSeconds = null);

/// <summary>The answer to a complete that asked for the next task: the finished task and the agent's next lease, or null when no task was waiting.</summary>
public sealed record CompletedTask(
    AgentTask Task,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] Lease? Next);

public sealed record HeartbeatResult(string Status, DateTimeOffset LeaseExpiresAt);

// Logs

/// <summary>The log levels the server accepts.</summary>
public static class LogLevels
{
    public const string Trace = "trace";
    public const string Debug = "debug";
    public const string Info = "info";
    public const string Warn = "warn";
    public const string Error = "error";

    public static readonly IReadOnlyList<string> All = [Trace, Debug, Info, Warn, Error];
}

/// <summary>One line to append to a task's log. Level defaults to info, stream to stdout, time to the server's clock.</summary>
public sealed record LogLine(string Text, string? Stream = null, string? Level = null, DateTimeOffset? Ts = null);

public sealed record AppendLogsResult(long FirstSeq, long LastSeq, int Count);

public sealed record LogEntry(long Seq, DateTimeOffset Ts, string Level, string Stream, string Text);

/// <param name="NextAfterSeq">Pass as afterSeq to read on; null when this page reached the end.</param>
public sealed record LogPage(IReadOnlyList<LogEntry> Entries, long LastSeq, long? NextAfterSeq);

/// <summary>One search hit. <see cref="Snippet"/> is HTML-escaped text with the matches wrapped in &lt;mark&gt;.</summary>
public sealed record LogSearchHit(Guid TaskId, long Seq, DateTimeOffset Ts, string Level, string Stream, string Snippet);

public sealed record LogSearchResult(IReadOnlyList<LogSearchHit> Results, string? NextCursor);

// Clarifications

public static class ClarificationStatuses
{
    public const string Pending = "pending";
    public const string Answered = "answered";
    public const string Expired = "expired";
    public const string Cancelled = "cancelled";

    public static readonly IReadOnlyList<string> All = [Pending, Answered, Expired, Cancelled];
}

/// <summary>What happens when nobody answers in time: the task fails, or it resumes with the default answer.</summary>
public static class OnExpiry
{
    public const string Fail = "fail";
    public const string Default = "default";
}

public sealed record CreateClarificationRequest(
    string LeaseToken,
    string Question,
    int ExpiresInSeconds,
    IReadOnlyList<string>? Options = null,
    string OnExpiry = "fail",
    string? DefaultAnswer = null);

public sealed record Clarification(
    Guid Id,
    Guid TaskId,
    string Question,
    IReadOnlyList<string>? Options,
    string Status,
    string OnExpiry,
    string? DefaultAnswer,
    string? Answer,
    Guid? AnsweredBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset ExpiresAt,
    DateTimeOffset? AnsweredAt,
    string? AnsweredVia = null,
    string? AnsweredByName = null);

public sealed record ClarificationPage(IReadOnlyList<Clarification> Items, string? NextCursor);

/// <summary>
/// One audit log entry. <see cref="Entry"/> is the entry exactly as stored and digested (its canonical JSON: actor,
/// action, target, before and after, outcome, correlation id, address, user agent), null once retention pruned it;
/// <see cref="Seq"/> and <see cref="Hash"/> are null until the entry is chained (PostgreSQL: within about a second).
/// Digest and hash are lowercase hex.
/// </summary>
public sealed record AuditEntry(
    long Id,
    long? Seq,
    DateTimeOffset At,
    AuditActor Actor,
    string Action,
    AuditTargetRef? Target,
    JsonElement? Entry,
    string Digest,
    string? Hash,
    DateTimeOffset? PrunedAt);

public sealed record AuditActor(string Kind, Guid? Id);

public sealed record AuditTargetRef(string Type, string? Id);

public sealed record AuditPage(IReadOnlyList<AuditEntry> Items, string? NextCursor);
