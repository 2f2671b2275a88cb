using System.Text.Json.Nodes;

namespace Clarity.Features.Workflows.Definitions;

/// <summary>A place in the YAML source: 1-based line and column.</summary>
public readonly record struct SourcePosition(int Line, int Column)
{
    public static readonly SourcePosition Start = new(1, 1);

    public override string ToString() => $"{Line}:{Column}";
}

/// <summary>
/// One problem in a workflow definition, where it is: <see cref="Path"/> names the value (<c>steps[2].needs[0]</c>),
/// <see cref="Code"/> is a stable slug (<see cref="DefinitionProblemCodes"/>), <see cref="Message"/> says what to change.
/// </summary>
public sealed record DefinitionProblem(int Line, int Column, string Path, string Code, string Message)
{
    public override string ToString() => $"{Line}:{Column}: {Code}: {Message}";
}

/// <summary>A parsed, valid workflow: its inputs and its steps in the order the file declares them.</summary>
public sealed record WorkflowDefinition(string Name, string? Description, IReadOnlyList<WorkflowInput> Inputs, IReadOnlyList<WorkflowStep> Steps)
{
    /// <summary>The step with this id, or null.</summary>
    public WorkflowStep? FindStep(string id) => Steps.FirstOrDefault(s => s.Id == id);

    /// <summary>The input with this name, or null.</summary>
    public WorkflowInput? FindInput(string name) => Inputs.FirstOrDefault(i => i.Name == name);
}

/// <summary>The type an input declares. Its names in YAML are lower case: string, number, integer, boolean, object, array.</summary>
public enum WorkflowInputType
{
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
}

/// <summary>A typed input of a workflow, with its default (null when none) and where it is declared.</summary>
public sealed record WorkflowInput(string Name, WorkflowInputType Type, bool Required, JsonNode? Default, string? Description, SourcePosition Position);

/// <summary>The kinds of step. Their names in YAML: task, approval, wait, workflow.</summary>
public enum WorkflowStepKind
{
    Task,
    Approval,
    Wait,
    Workflow,
}

/// <summary>
/// What every step has: an id, the ids it needs (all must finish first), an optional <c>when:</c> condition, a
/// description, and where it starts in the source (for editors and the dashboard).
/// </summary>
public abstract record WorkflowStep(string Id, IReadOnlyList<string> Needs, string? When, string? Description, SourcePosition Position)
{
    public abstract WorkflowStepKind Kind { get; }
}

/// <summary>
/// How a failed task is tried again. <see cref="Attempts"/> counts every try, the first included (1: no retry). The
/// wait before try n+1 is <see cref="BackoffSeconds"/> (fixed), or <see cref="InitialSeconds"/> × <see cref="Factor"/>^(n-1),
/// capped at <see cref="MaxSeconds"/> when given (exponential).
/// </summary>
public sealed record RetryPolicy(int Attempts, int? BackoffSeconds, int? InitialSeconds, double? Factor, int? MaxSeconds)
{
    /// <summary>The wait before the try after try <paramref name="attempt"/> (1-based).</summary>
    public TimeSpan DelayAfter(int attempt)
    {
        if (BackoffSeconds is { } fixedSeconds)
        {
            return TimeSpan.FromSeconds(fixedSeconds);
        }

        if (InitialSeconds is not { } initial)
        {
            return TimeSpan.Zero;
        }

        var seconds = initial * Math.Pow(Factor ?? 2, Math.Max(0, attempt - 1));
        if (MaxSeconds is { } max)
        {
            seconds = Math.Min(seconds, max);
        }

        return TimeSpan.FromSeconds(Math.Min(seconds, TimeSpan.MaxValue.TotalSeconds / 2));
    }
}

/// <summary>
/// A task for an agent: put on <see cref="Queue"/>, or routed to agents of <see cref="Role"/> (exactly one of them).
/// <see cref="Title"/>, <see cref="Input"/> and <see cref="Labels"/> values may hold <c>${{ }}</c> templates.
/// </summary>
public sealed record TaskStep(
    string Id, IReadOnlyList<string> Needs, string? When, string? Description, SourcePosition Position,
    string? Queue, string? Role, string? Title, JsonNode? Input, IReadOnlyDictionary<string, string> Labels, RetryPolicy? Retry, int? TimeoutSeconds)
    : WorkflowStep(Id, Needs, When, Description, Position)
{
    public override WorkflowStepKind Kind => WorkflowStepKind.Task;
}

/// <summary>What an approval that expires becomes.</summary>
public enum ApprovalExpiry
{
    Reject,
    Approve,
}

/// <summary>
/// A human gate: <see cref="Votes"/> approvals from people holding <see cref="From"/> (a permission or a role) pass it;
/// <see cref="Rejections"/> rejections fail it. It may expire after <see cref="ExpiresInSeconds"/>.
/// </summary>
public sealed record ApprovalStep(
    string Id, IReadOnlyList<string> Needs, string? When, string? Description, SourcePosition Position,
    int Votes, string From, int? ExpiresInSeconds, ApprovalExpiry OnExpiry, bool AllowSelfApproval, int Rejections)
    : WorkflowStep(Id, Needs, When, Description, Position)
{
    public override WorkflowStepKind Kind => WorkflowStepKind.Approval;
}

/// <summary>What a signal wait that times out does.</summary>
public enum WaitTimeout
{
    Fail,
    Continue,
}

/// <summary>A pause: for <see cref="Seconds"/>, or until <see cref="Signal"/> arrives (then bounded by <see cref="TimeoutSeconds"/>).</summary>
public sealed record WaitStep(
    string Id, IReadOnlyList<string> Needs, string? When, string? Description, SourcePosition Position,
    int? Seconds, string? Signal, int? TimeoutSeconds, WaitTimeout OnTimeout)
    : WorkflowStep(Id, Needs, When, Description, Position)
{
    public override WorkflowStepKind Kind => WorkflowStepKind.Wait;
}

/// <summary>
/// A child workflow, named by <see cref="Workflow"/>, pinned by <see cref="Version"/> or <see cref="Label"/> (else the
/// newest), started with <see cref="Inputs"/> (values may hold templates); its outputs are this step's output.
/// </summary>
public sealed record ChildWorkflowStep(
    string Id, IReadOnlyList<string> Needs, string? When, string? Description, SourcePosition Position,
    string Workflow, int? Version, string? Label, IReadOnlyDictionary<string, JsonNode?> Inputs)
    : WorkflowStep(Id, Needs, When, Description, Position)
{
    public override WorkflowStepKind Kind => WorkflowStepKind.Workflow;
}

/// <summary>The stable codes of <see cref="DefinitionProblem"/>.</summary>
public static class DefinitionProblemCodes
{
    public const string YamlSyntax = "yaml-syntax";
    public const string TooLarge = "too-large";
    public const string TooDeep = "too-deep";
    public const string AliasRefused = "alias-refused";
    public const string UnsupportedTag = "unsupported-tag";
    public const string MultipleDocuments = "multiple-documents";
    public const string DuplicateKey = "duplicate-key";
    public const string WrongType = "wrong-type";
    public const string UnknownField = "unknown-field";
    public const string MissingField = "missing-field";
    public const string InvalidIdentifier = "invalid-identifier";
    public const string InvalidValue = "invalid-value";
    public const string InvalidDefault = "invalid-default";
    public const string ConflictingFields = "conflicting-fields";
    public const string DuplicateStep = "duplicate-step";
    public const string DuplicateNeed = "duplicate-need";
    public const string UnknownNeed = "unknown-need";
    public const string Cycle = "cycle";
    public const string UnknownKind = "unknown-kind";
    public const string QueueOrRole = "queue-or-role";
    public const string UnknownRole = "unknown-role";
    public const string TooManySteps = "too-many-steps";
    public const string InvalidExpression = "invalid-expression";
    public const string UnknownInput = "unknown-input";
    public const string UnknownStep = "unknown-step";
    public const string NotUpstream = "not-upstream";
}
