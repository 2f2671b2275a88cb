using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Clarity.Features.Workflows.Definitions;

/// <summary>
/// A workflow as Markdown: a summary, the inputs, the steps, a Mermaid graph of the DAG, the approvals and the roles and
/// permissions it relies on. The CLI prints it (<c>clarity workflow docs</c>); the API can serve the same text.
/// </summary>
public static class WorkflowDocs
{
    public static string Render(WorkflowDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var md = new StringBuilder();
        md.Append("# ").Append(Inline(definition.Name)).Append("\n\n");
        if (!string.IsNullOrWhiteSpace(definition.Description))
        {
            md.Append(definition.Description.Trim()).Append("\n\n");
        }

        var kinds = definition.Steps.GroupBy(s => s.Kind).Select(g => $"{g.Count()} {Name(g.Key)}{(g.Count() == 1 ? "" : "s")}");
        var layers = WorkflowGraph.Layers(definition);
        md.Append(CultureInfo.InvariantCulture, $"{Count(definition.Steps.Count, "step")} ({string.Join(", ", kinds)}) in {Count(layers.Count, "layer")}, ")
          .Append(CultureInfo.InvariantCulture, $"{Count(definition.Inputs.Count, "input")}.")
          .Append(" Steps in one layer can run at the same time.\n\n");

        md.Append("## Inputs\n\n");
        if (definition.Inputs.Count == 0)
        {
            md.Append("None.\n\n");
        }
        else
        {
            md.Append("| name | type | required | default | description |\n|---|---|---|---|---|\n");
            foreach (var input in definition.Inputs)
            {
                md.Append(CultureInfo.InvariantCulture, $"| `{input.Name}` | {Name(input.Type)} | {(input.Required ? "yes" : "no")} | ")
                  .Append(input.Default is null ? "" : Code(input.Default.ToJsonString(JsonOptions)))
                  .Append(" | ").Append(Cell(input.Description)).Append(" |\n");
            }

            md.Append('\n');
        }

        md.Append("## Steps\n\n| id | kind | needs | what it does |\n|---|---|---|---|\n");
        foreach (var step in WorkflowGraph.TopologicalOrder(definition))
        {
            md.Append(CultureInfo.InvariantCulture, $"| `{step.Id}` | {Name(step.Kind)} | {string.Join(", ", step.Needs.Select(n => $"`{n}`"))} | ")
              .Append(Cell(What(step))).Append(" |\n");
        }

        md.Append("\n## Graph\n\n```mermaid\ngraph TD\n");
        var node = definition.Steps.Select((s, i) => (s.Id, i)).ToDictionary(p => p.Id, p => $"s{p.i}");
        foreach (var step in definition.Steps)
        {
            var label = Mermaid($"{step.Id} ({Name(step.Kind)})");
            md.Append("  ").Append(node[step.Id]).Append(step.Kind switch
            {
                WorkflowStepKind.Approval => $"{{\"{label}\"}}",
                WorkflowStepKind.Wait => $"([\"{label}\"])",
                WorkflowStepKind.Workflow => $"[[\"{label}\"]]",
                _ => $"[\"{label}\"]",
            }).Append('\n');
        }

        foreach (var step in definition.Steps)
        {
            foreach (var need in step.Needs)
            {
                md.Append("  ").Append(node[need]).Append(step.When is null ? " --> " : " -.->|when| ").Append(node[step.Id]).Append('\n');
            }
        }

        md.Append("```\n\n## Approvals\n\n");
        var approvals = definition.Steps.OfType<ApprovalStep>().ToList();
        if (approvals.Count == 0)
        {
            md.Append("None: no step waits for people.\n\n");
        }
        else
        {
            foreach (var a in approvals)
            {
                md.Append(CultureInfo.InvariantCulture, $"- `{a.Id}`: {Approval(a)}.").Append(a.Description is null ? "" : " " + Line(a.Description)).Append('\n');
            }

            md.Append('\n');
        }

        md.Append("## Roles and permissions\n\n");
        var uses = new List<(string Name, string Use)>();
        foreach (var step in definition.Steps)
        {
            if (step is TaskStep { Role: { } role })
            {
                uses.Add((role, $"agents for task `{step.Id}`"));
            }
            else if (step is ApprovalStep approval)
            {
                uses.Add((approval.From, $"approvers of `{step.Id}`"));
            }
        }

        if (uses.Count == 0)
        {
            md.Append("None.\n");
        }
        else
        {
            foreach (var group in uses.GroupBy(u => u.Name, StringComparer.Ordinal))
            {
                md.Append(CultureInfo.InvariantCulture, $"- `{group.Key}`: {string.Join("; ", group.Select(u => u.Use))}\n");
            }
        }

        var queues = definition.Steps.OfType<TaskStep>().Where(t => t.Queue is not null).Select(t => t.Queue!).Distinct(StringComparer.Ordinal).ToList();
        if (queues.Count > 0)
        {
            md.Append(CultureInfo.InvariantCulture, $"\nQueues: {string.Join(", ", queues.Select(q => $"`{q}`"))}.\n");
        }

        return md.ToString();
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string What(WorkflowStep step)
    {
        var what = step switch
        {
            TaskStep t => $"Task on {(t.Queue is not null ? $"queue `{t.Queue}`" : $"agents of role `{t.Role}`")}"
                + (t.Title is null ? "" : $": {Line(t.Title)}")
                + (t.Retry is { } r ? $"; up to {Count(r.Attempts, "try", "tries")}" : "")
                + (t.TimeoutSeconds is { } timeout ? $"; times out after {Duration(timeout)}" : ""),
            ApprovalStep a => $"Approval: {Approval(a)}",
            WaitStep { Signal: { } signal } w => $"Waits for the signal `{signal}`"
                + (w.TimeoutSeconds is { } timeout ? $" for up to {Duration(timeout)}, then {(w.OnTimeout == WaitTimeout.Fail ? "fails" : "continues")}" : ""),
            WaitStep w => $"Waits {Duration(w.Seconds ?? 0)}",
            ChildWorkflowStep c => $"Runs the workflow `{c.Workflow}`"
                + (c.Version is { } v ? $" version {v}" : c.Label is { } l ? $" labelled `{l}`" : " (newest version)")
                + (c.Inputs.Count > 0 ? $" with {string.Join(", ", c.Inputs.Keys.Select(k => $"`{k}`"))}" : ""),
            _ => "",
        };
        if (step.When is not null)
        {
            what += $"; only when `{Line(step.When)}`";
        }

        return step.Description is null ? what : $"{what}. {Line(step.Description)}";
    }

    private static string Approval(ApprovalStep a) =>
        $"{Count(a.Votes, "vote")} from `{a.From}`"
        + (a.Rejections == 1 ? ", one rejection rejects" : $", {a.Rejections} rejections reject")
        + (a.AllowSelfApproval ? ", self-approval allowed" : ", no self-approval")
        + (a.ExpiresInSeconds is { } s ? $", expires after {Duration(s)} and then {(a.OnExpiry == ApprovalExpiry.Approve ? "approves" : "rejects")}" : ", never expires");

    internal static string Duration(int seconds)
    {
        if (seconds == 0)
        {
            return "0 s";
        }

        var parts = new List<string>();
        var span = TimeSpan.FromSeconds(seconds);
        if (span.Days > 0)
        {
            parts.Add($"{span.Days} d");
        }

        if (span.Hours > 0)
        {
            parts.Add($"{span.Hours} h");
        }

        if (span.Minutes > 0)
        {
            parts.Add($"{span.Minutes} min");
        }

        if (span.Seconds > 0)
        {
            parts.Add($"{span.Seconds} s");
        }

        return string.Join(" ", parts);
    }

    private static string Count(int n, string one, string? many = null) =>
        string.Create(CultureInfo.InvariantCulture, $"{n:N0} {(n == 1 ? one : many ?? one + "s")}");

    private static string Name<T>(T value)
        where T : struct, Enum => value.ToString().ToLowerInvariant();

    private static string Line(string text) => string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private static string Cell(string? text) => text is null ? "" : Line(text).Replace("|", "\\|", StringComparison.Ordinal);

    private static string Inline(string text) => Line(text);

    private static string Code(string text) => $"`{Cell(text).Replace("`", "'", StringComparison.Ordinal)}`";

    private static string Mermaid(string text) => Line(text).Replace("\"", "#quot;", StringComparison.Ordinal);
}
