using System.Text.Json;

namespace Clarity.Features.Workflows.Runs;

/// <summary>A run's statuses: running and paused are open; succeeded, failed and cancelled are final.</summary>
public static class RunStatuses
{
    public const string Running = "running";
    public const string Paused = "paused";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static readonly IReadOnlyList<string> All = [Running, Paused, Succeeded, Failed, Cancelled];

    public static bool IsFinal(string status) => status is Succeeded or Failed or Cancelled;
}

/// <summary>
/// A step's statuses. pending: its needs are not all satisfied yet (or it is ready but the run is paused or a debugger
/// holds it); waiting: an approval collecting votes or a wait step; running: its task or child run is under way;
/// succeeded, failed, skipped and cancelled are final.
/// </summary>
public static class StepStatuses
{
    public const string Pending = "pending";
    public const string Waiting = "waiting";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Skipped = "skipped";
    public const string Cancelled = "cancelled";

    public static readonly IReadOnlyList<string> All = [Pending, Waiting, Running, Succeeded, Failed, Skipped, Cancelled];

    public static bool IsFinal(string status) => status is Succeeded or Failed or Skipped or Cancelled;
}

/// <summary>Why a step was skipped: its <c>when:</c> was false, a step it needs did not succeed, or a person skipped it with an output.</summary>
public static class SkipReasons
{
    public const string Condition = "condition";
    public const string Upstream = "upstream";
    public const string Operator = "operator";
}

/// <param name="Input">The run's inputs, by name; defaults fill what is missing.</param>
/// <param name="Version">Run this version (else the label's, else the newest).</param>
/// <param name="Label">Run the version this label points at.</param>
/// <param name="Debug">Pause before dispatching every step, for stepping through.</param>
/// <param name="Breakpoints">Pause before dispatching these steps.</param>
public sealed record StartRunRequest(JsonElement? Input, int? Version, string? Label, bool? Debug, IReadOnlyList<string>? Breakpoints);

public sealed record SkipStepRequest(JsonElement? Output);

public sealed record SignalRequest(JsonElement? Payload);

public sealed record VoteRequest(string? Decision, string? Comment);

/// <summary>A run as lists show it.</summary>
public sealed record RunSummary(
    Guid Id, string Workflow, int Version, string Status, bool Debug, Guid? ParentRunId, string? ParentStepId, string? Error,
    string CreatedByKind, Guid? CreatedBy, DateTimeOffset CreatedAt, DateTimeOffset? FinishedAt, DateTimeOffset UpdatedAt);

public sealed record RunPage(IReadOnlyList<RunSummary> Items, string? NextCursor);

/// <summary>A run with every step's state, attempts, timings and outputs.</summary>
public sealed record RunDetail(
    Guid Id, string Workflow, int Version, string Status, JsonElement? Input, JsonElement? Output, string? Error, bool Debug,
    IReadOnlyList<string> Breakpoints, Guid? ParentRunId, string? ParentStepId, string CreatedByKind, Guid? CreatedBy,
    DateTimeOffset CreatedAt, DateTimeOffset? FinishedAt, DateTimeOffset UpdatedAt, IReadOnlyList<RunStep> Steps);

/// <summary>One step of a run. Times in the profile are milliseconds.</summary>
public sealed record RunStep(
    string Id, string Kind, string Status, IReadOnlyList<string> Needs, bool Held, string? SkipReason, int Attempts, Guid? TaskId, Guid? ChildRunId,
    JsonElement? Input, JsonElement? Output, string? Error, DateTimeOffset? ReadyAt, DateTimeOffset? DispatchedAt, DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt, DateTimeOffset? WakeAt, StepProfile Profile, ApprovalState? Approval, string? Signal);

/// <summary>
/// Where a step's time went, in milliseconds: queued (dispatched until an agent claimed it), running (claimed until it
/// finished, less the time its agent waited for answers), awaiting a response (its agent's questions), awaiting
/// approval (an approval step's whole wait), waiting (a wait step). Null where it does not apply yet.
/// </summary>
public sealed record StepProfile(long? QueuedMs, long? RunningMs, long? AwaitingResponseMs, long? AwaitingApprovalMs, long? WaitingMs, bool OnCriticalPath);

/// <summary>An approval's tally: how many approvals it needs and from whom, and the votes so far.</summary>
public sealed record ApprovalState(int Required, int RejectionsToReject, string From, bool AllowSelfApproval, DateTimeOffset? ExpiresAt, IReadOnlyList<RunVote> Votes);

public sealed record RunVote(Guid UserId, string Decision, string? Comment, DateTimeOffset CreatedAt);

/// <summary>A run's answer to a start or an intervention.</summary>
public sealed record RunState(Guid Id, string Status);

/// <summary>A signal as recorded: consumed by a step, or kept until a step waits for it.</summary>
public sealed record SignalResult(Guid Id, string Name, bool Delivered, IReadOnlyList<string> Steps);

/// <summary>A pending approval the caller may vote on, for the inbox.</summary>
public sealed record PendingApproval(Guid RunId, string Workflow, string StepId, string? Description, int Required, int Approvals, DateTimeOffset? ExpiresAt, DateTimeOffset ReadyAt);

/// <summary>One row of a version's bottleneck table: a step's times across finished runs.</summary>
public sealed record StepTimings(string StepId, string Kind, int Runs, long P50Ms, long P95Ms, long MaxMs);

public sealed record WorkflowProfile(string Workflow, int Version, int Runs, IReadOnlyList<StepTimings> Steps);
