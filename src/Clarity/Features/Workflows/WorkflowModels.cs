using System.Text.Json.Nodes;

namespace Clarity.Features.Workflows;

/// <summary>A workflow of the org: its newest version and where its labels point.</summary>
public sealed record WorkflowSummary(
    string Name, string? Description, int LatestVersion, IReadOnlyDictionary<string, int> Labels, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

public sealed record WorkflowPage(IReadOnlyList<WorkflowSummary> Items, string? NextCursor);

/// <summary>
/// One version of a workflow. <see cref="Unchanged"/> is true when an upload matched the newest version byte for byte,
/// so no version was created.
/// </summary>
public sealed record WorkflowVersionInfo(
    string Name, int Version, string Digest, string? Description, int Steps, IReadOnlyList<string> Labels,
    DateTimeOffset CreatedAt, string CreatedByKind, Guid? CreatedBy, bool Unchanged = false);

public sealed record WorkflowVersionPage(IReadOnlyList<WorkflowVersionInfo> Items, string? NextCursor);

/// <summary>One version with its YAML exactly as uploaded, and the same as JSON (what the JSON Schema describes).</summary>
public sealed record WorkflowVersionDetail(
    string Name, int Version, string Digest, string? Description, int Steps, IReadOnlyList<string> Labels,
    DateTimeOffset CreatedAt, string CreatedByKind, Guid? CreatedBy, string Yaml, JsonNode? Definition);

public sealed record SetWorkflowLabelRequest(int? Version);

/// <summary>
/// A binding of the org's role map: what a generic role (<c>role: writer</c> in a workflow) means in this org — the queue
/// its tasks go to, the agent labels they ask for, and the model alias and prompt template handed to the agent.
/// </summary>
public sealed record WorkflowRole(
    string Name, string Queue, IReadOnlyList<string> AgentLabels, string? ModelAlias, string? PromptTemplate, string? Description, DateTimeOffset UpdatedAt);

public sealed record PutWorkflowRoleRequest(string? Queue, IReadOnlyList<string>? AgentLabels, string? ModelAlias, string? PromptTemplate, string? Description);

public sealed record WorkflowRoleList(IReadOnlyList<WorkflowRole> Items);

public sealed record WorkflowLabel(string Name, string Label, int Version);

/// <summary>
/// A dry run of an upload (<c>POST …/workflows/validate</c>): valid with the workflow's name and steps, or the problems
/// (the first 1,000; <see cref="ProblemCount"/> counts them all). Nothing is stored.
/// </summary>
public sealed record WorkflowValidation(
    bool Valid, string? Name, string? Description, IReadOnlyList<WorkflowStepInfo>? Steps, IReadOnlyList<WorkflowProblem> Problems, int ProblemCount);

/// <summary>A step as the editor draws it: its id, kind, the ids it needs, its <c>when:</c> condition and where it starts.</summary>
public sealed record WorkflowStepInfo(string Id, string Kind, IReadOnlyList<string> Needs, string? When, int Line, int Column);

/// <summary>One problem of a definition: where it is (1-based line and column), the value's path, a stable code and what to change.</summary>
public sealed record WorkflowProblem(int Line, int Column, string Path, string Code, string Message);

/// <summary>A workflow template shipped with Clarity.</summary>
public sealed record WorkflowTemplate(string Name, string? Description, string Yaml);

public sealed record WorkflowTemplateList(IReadOnlyList<WorkflowTemplate> Items);
