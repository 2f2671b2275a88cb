using System.Security.Cryptography;
using System.Text;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Tasks;
using Clarity.Features.Workflows.Definitions;
using Clarity.Hosting;
using Clarity.Storage;

namespace Clarity.Features.Workflows;

/// <summary>
/// Workflow definitions of an org: upload YAML as a new immutable version (validated first; every problem is answered
/// with its line and column), list and read workflows and versions, render a version's docs, and move labels. Each
/// change is a unit of work with its event and audit entry. The API and the dashboard both come through here.
/// </summary>
public sealed class WorkflowService(WorkflowStore store, Changes changes)
{
    /// <summary>The most roles an org's role map holds.</summary>
    public const int MaxRoles = 500;

    /// <summary>How a version is named in a URL besides its number: the newest one.</summary>
    public const string Latest = "latest";

    /// <summary>The templates shipped inside the binary, parsed once (the editor starts from them).</summary>
    private static readonly Lazy<IReadOnlyList<WorkflowTemplate>> s_templates = new(() =>
        [.. WorkflowTemplates.Names.Select(name =>
        {
            var yaml = WorkflowTemplates.Read(name)!;
            return new WorkflowTemplate(name, WorkflowDefinitionParser.Parse(yaml).Definition?.Description, yaml);
        })]);

    /// <summary>The shipped templates, by name, each with its YAML.</summary>
    public static IReadOnlyList<WorkflowTemplate> Templates => s_templates.Value;

    /// <summary>
    /// Checks a definition as an upload would, against the org's role map, and stores nothing: valid with its steps
    /// (for the editor's graph), or every problem found (the first 1,000 listed, all counted).
    /// </summary>
    public async Task<WorkflowValidation> ValidateAsync(OrgContext org, string yaml, CancellationToken ct)
    {
        var parsed = await ParseAsync(org, yaml, ct);
        var problems = parsed.Problems.Take(MaxProblemsListed).Select(ToProblem).ToList();
        if (parsed.Definition is not { } definition || !parsed.IsValid)
        {
            return new WorkflowValidation(false, null, null, null, problems, parsed.Problems.Count);
        }

        return new WorkflowValidation(true, definition.Name, definition.Description, StepsOf(definition), [], 0);
    }

    /// <summary>The steps of a definition as the editor and the dashboard's graph draw them, in file order.</summary>
    public static IReadOnlyList<WorkflowStepInfo> StepsOf(WorkflowDefinition definition) =>
        [.. definition.Steps.Select(s => new WorkflowStepInfo(s.Id, s.Kind.ToString().ToLowerInvariant(), s.Needs, s.When, s.Position.Line, s.Position.Column))];

    public async Task<WorkflowVersionInfo> UploadAsync(OrgContext org, string yaml, CancellationToken ct)
    {
        var parsed = await ParseAsync(org, yaml, ct);
        if (!parsed.IsValid)
        {
            throw InvalidDefinition(parsed.Problems);
        }

        var definition = parsed.Definition!;
        var actor = org.Caller.Actor;
        var row = new WorkflowVersionRow
        {
            Yaml = yaml,
            Digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(yaml))),
            Description = definition.Description,
            StepCount = definition.Steps.Count,
            CreatedByKind = actor.KindName,
            CreatedById = actor.Id,
        };
        var (workflow, version, created) = await changes.RunAsync(actor, async change =>
        {
            var added = await store.AddVersionAsync(change, org.OrgId, definition.Name, row);
            if (added.Created)
            {
                change.Emit(new WorkflowChanged(org.OrgId, added.Workflow.Id, definition.Name, "version_created", (int)added.Version.Version, null));
                change.Audit(new AuditRecord(org.OrgId, AuditActions.WorkflowVersionCreated, Target(added.Workflow), After: new AuditFields()
                    .Add("version", added.Version.Version)
                    .Add("digest", added.Version.Digest)
                    .Add("steps", added.Version.StepCount)));
            }

            return added;
        }, ct);
        // A new version has no labels yet; an unchanged upload answers the newest version, which may.
        var labels = created ? [] : await LabelsOfAsync(workflow.Id, ct);
        return ToInfo(workflow, version, labels) with { Unchanged = !created };
    }

    public async Task<WorkflowPage> ListAsync(OrgContext org, string? cursor, int? limit, CancellationToken ct)
    {
        var take = Check.Range(limit, "limit", 1, 200, 100);
        var rows = await store.ListAsync(org.OrgId, Cursor.DecodeText(cursor), take + 1, ct);
        var page = rows.Take(take).ToList();
        var labels = (await store.LabelsAsync([.. page.Select(w => w.Id)], ct)).ToLookup(l => l.WorkflowId);
        var items = page.Select(w => ToSummary(w, labels[w.Id])).ToList();
        return new WorkflowPage(items, rows.Count > take ? Cursor.EncodeText(page[^1].Name) : null);
    }

    public async Task<WorkflowSummary> GetAsync(OrgContext org, string name, CancellationToken ct)
    {
        var workflow = await FindAsync(org, name, ct);
        return ToSummary(workflow, await store.LabelsAsync([workflow.Id], ct));
    }

    public async Task<WorkflowVersionPage> ListVersionsAsync(OrgContext org, string name, string? cursor, int? limit, CancellationToken ct)
    {
        var take = Check.Range(limit, "limit", 1, 200, 100);
        var workflow = await FindAsync(org, name, ct);
        long? before = null;
        if (!string.IsNullOrEmpty(cursor))
        {
            before = long.TryParse(Cursor.DecodeText(cursor), out var v) && v > 0 ? v : throw Problems.Validation("cursor", "is not a cursor returned by this API.");
        }

        var rows = await store.ListVersionsAsync(workflow.Id, before, take + 1, ct);
        var labels = await LabelsOfAsync(workflow.Id, ct);
        var items = rows.Take(take).Select(v => ToInfo(workflow, v, labels)).ToList();
        return new WorkflowVersionPage(items, rows.Count > take ? Cursor.EncodeText(items[^1].Version.ToString(System.Globalization.CultureInfo.InvariantCulture)) : null);
    }

    /// <summary>A version by number, by label (<c>stable</c>) or <c>latest</c>.</summary>
    public async Task<WorkflowVersionDetail> GetVersionAsync(OrgContext org, string name, string version, CancellationToken ct)
    {
        var (workflow, row, labels) = await ResolveAsync(org, name, version, ct);
        var info = ToInfo(workflow, row, labels);
        return new WorkflowVersionDetail(
            info.Name, info.Version, info.Digest, info.Description, info.Steps, info.Labels, info.CreatedAt, info.CreatedByKind, info.CreatedBy,
            row.Yaml, WorkflowDefinitionParser.ToJson(row.Yaml).Json);
    }

    /// <summary>The version's docs as Markdown: summary, inputs, steps, a Mermaid graph, approvals and roles.</summary>
    public async Task<string> DocsAsync(OrgContext org, string name, string version, CancellationToken ct)
    {
        var (_, row, _) = await ResolveAsync(org, name, version, ct);
        var parsed = WorkflowDefinitionParser.Parse(row.Yaml);
        return parsed.Definition is { } definition
            ? WorkflowDocs.Render(definition)
            : throw Problems.Conflict("invalid-stored-definition", "This version no longer passes validation, so its docs cannot be rendered.");
    }

    public async Task<WorkflowLabel> SetLabelAsync(OrgContext org, string name, string label, SetWorkflowLabelRequest request, CancellationToken ct)
    {
        CheckLabel(label);
        var version = request.Version is { } v && v >= 1 ? v : throw Problems.Validation("version", "must be a version number, 1 or more.");
        var workflow = await FindAsync(org, name, ct);
        var found = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var (exists, previous) = await store.SetLabelAsync(change, workflow.Id, label, version);
            if (exists && previous != version)
            {
                change.Emit(new WorkflowChanged(org.OrgId, workflow.Id, workflow.Name, "label_set", version, label));
                change.Audit(new AuditRecord(org.OrgId, AuditActions.WorkflowLabelSet, Target(workflow),
                    Before: new AuditFields().Add("label", label).Add("version", previous),
                    After: new AuditFields().Add("label", label).Add("version", version)));
            }

            return exists;
        }, ct);
        return found ? new WorkflowLabel(workflow.Name, label, version) : throw Problems.NotFound($"Version {version} of workflow '{workflow.Name}'");
    }

    public async Task RemoveLabelAsync(OrgContext org, string name, string label, CancellationToken ct)
    {
        CheckLabel(label);
        var workflow = await FindAsync(org, name, ct);
        var removed = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var version = await store.RemoveLabelAsync(change, workflow.Id, label);
            if (version is { } v)
            {
                change.Emit(new WorkflowChanged(org.OrgId, workflow.Id, workflow.Name, "label_removed", (int)v, label));
                change.Audit(new AuditRecord(org.OrgId, AuditActions.WorkflowLabelRemoved, Target(workflow), Before: new AuditFields().Add("label", label).Add("version", v)));
            }

            return version is not null;
        }, ct);
        if (!removed)
        {
            throw Problems.NotFound($"Label '{label}' of workflow '{workflow.Name}'");
        }
    }

    public async Task<WorkflowRoleList> ListRolesAsync(OrgContext org, CancellationToken ct) =>
        new([.. (await store.RolesAsync(org.OrgId, ct)).Select(ToRole)]);

    /// <summary>Binds a role of the org's role map, or changes what it means; every workflow naming it follows.</summary>
    public async Task<WorkflowRole> PutRoleAsync(OrgContext org, string name, PutWorkflowRoleRequest request, CancellationToken ct)
    {
        CheckRoleName(name);
        var row = new WorkflowRoleRow
        {
            OrgId = org.OrgId,
            Name = name,
            Queue = TaskService.ValidQueue(Check.Required(request.Queue, "queue", 100), "queue"),
            AgentLabels = TaskStore.LabelsJson(Check.Labels(request.AgentLabels, "agentLabels")),
            ModelAlias = request.ModelAlias is null ? null
                : WorkflowDefinitionParser.Name().IsMatch(request.ModelAlias) ? request.ModelAlias
                : throw Problems.Validation("modelAlias", "model aliases are 1-128 characters of letters, digits and _ . : -, starting with a letter or digit."),
            PromptTemplate = Check.Optional(request.PromptTemplate, "promptTemplate", 64 * 1024),
            Description = Check.Optional(request.Description, "description", 500),
        };
        var full = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            row.UpdatedAt = change.Now;
            var (previous, full) = await store.PutRoleAsync(change, row, MaxRoles);
            if (full)
            {
                return true;
            }

            change.Emit(new WorkflowRoleChanged(org.OrgId, name, "set"));
            change.Audit(new AuditRecord(org.OrgId, AuditActions.WorkflowRoleSet, new AuditTarget("workflow-role", name, name),
                previous is null ? null : RoleFields(previous), RoleFields(row)));
            return false;
        }, ct);
        return full
            ? throw Problems.Conflict("too-many-roles", $"The org's role map already holds {MaxRoles} roles, the most it may.")
            : ToRole(row);
    }

    public async Task RemoveRoleAsync(OrgContext org, string name, CancellationToken ct)
    {
        CheckRoleName(name);
        var removed = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var row = await store.DeleteRoleAsync(change, org.OrgId, name);
            if (row is not null)
            {
                change.Emit(new WorkflowRoleChanged(org.OrgId, name, "removed"));
                change.Audit(new AuditRecord(org.OrgId, AuditActions.WorkflowRoleRemoved, new AuditTarget("workflow-role", name, name), Before: RoleFields(row)));
            }

            return row is not null;
        }, ct);
        if (!removed)
        {
            throw Problems.NotFound($"Role '{Shorten(name)}'");
        }
    }

    private static void CheckRoleName(string name)
    {
        if (!WorkflowDefinitionParser.Name().IsMatch(name))
        {
            throw Problems.Validation("name", "role names are 1-128 characters of letters, digits and _ . : -, starting with a letter or digit.");
        }
    }

    private static AuditFields RoleFields(WorkflowRoleRow row) => new AuditFields()
        .Add("queue", row.Queue).Add("agentLabels", (IReadOnlyList<string>)(System.Text.Json.JsonSerializer.Deserialize<string[]>(row.AgentLabels) ?? [])).Add("modelAlias", row.ModelAlias)
        .Add("promptTemplate", row.PromptTemplate).Add("description", row.Description);

    private static WorkflowRole ToRole(WorkflowRoleRow row) => new(
        row.Name, row.Queue, (IReadOnlyList<string>)(System.Text.Json.JsonSerializer.Deserialize<string[]>(row.AgentLabels) ?? []), row.ModelAlias, row.PromptTemplate, row.Description, DbTime.FromDb(row.UpdatedAt));

    /// <summary>The most problems an answer lists; the detail gives the total.</summary>
    public const int MaxProblemsListed = 1000;

    /// <summary>A 400 listing every problem with its line and column (<c>problems</c>, at most 1,000), the first one in the detail.</summary>
    public static ApiException InvalidDefinition(IReadOnlyList<DefinitionProblem> problems)
    {
        var first = problems[0];
        var detail = problems.Count == 1
            ? $"The workflow definition has a problem at line {first.Line}, column {first.Column}: {first.Message}"
            : $"The workflow definition has {problems.Count} problems{(problems.Count > MaxProblemsListed ? $" (the first {MaxProblemsListed} are listed)" : "")}; " +
              $"the first, at line {first.Line}, column {first.Column}: {first.Message}";
        var status = problems.Any(p => p.Code == DefinitionProblemCodes.TooLarge) ? 413 : 400;
        return new ApiException(status, status == 413 ? "too-large" : "invalid-workflow", status == 413 ? "Payload too large" : "Invalid workflow", detail)
        {
            Extensions = new Dictionary<string, object?>
            {
                ["problems"] = problems.Take(MaxProblemsListed).Select(ToProblem).ToList(),
            },
        };
    }

    private static WorkflowProblem ToProblem(DefinitionProblem p) => new(p.Line, p.Column, p.Path, p.Code, p.Message);

    /// <summary>Parses and validates a definition against the org: a role named by a task step must be bound in the org's role map; an approval's from: may also name a member role.</summary>
    private async Task<WorkflowParseResult> ParseAsync(OrgContext org, string yaml, CancellationToken ct)
    {
        var roles = await store.RolesAsync(org.OrgId, ct);
        var known = new HashSet<string>(roles.Select(r => r.Name).Concat(BuiltInRoles.All), StringComparer.Ordinal);
        return WorkflowDefinitionParser.Parse(yaml, new WorkflowValidationOptions { KnownRoles = known });
    }

    private async Task<WorkflowRow> FindAsync(OrgContext org, string name, CancellationToken ct) =>
        (WorkflowDefinitionParser.Identifier().IsMatch(name) ? await store.GetAsync(org.OrgId, name, ct) : null)
            ?? throw Problems.NotFound($"Workflow '{Shorten(name)}'");

    /// <summary>A workflow by name, or null (a name that is not an identifier names none).</summary>
    internal async Task<WorkflowRow?> FindOrNullAsync(OrgContext org, string name, CancellationToken ct) =>
        WorkflowDefinitionParser.Identifier().IsMatch(name) ? await store.GetAsync(org.OrgId, name, ct) : null;

    /// <summary>A stored version's YAML.</summary>
    internal async Task<string?> VersionYamlAsync(Guid workflowId, long version, CancellationToken ct) =>
        (await store.GetVersionAsync(workflowId, version, ct))?.Yaml;

    internal async Task<(WorkflowRow Workflow, WorkflowVersionRow Version, IReadOnlyList<WorkflowLabelRow> Labels)> ResolveAsync(
        OrgContext org, string name, string version, CancellationToken ct)
    {
        var workflow = await FindAsync(org, name, ct);
        var labels = await LabelsOfAsync(workflow.Id, ct);
        long? number = version == Latest ? workflow.LatestVersion
            : long.TryParse(version, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n
            : labels.FirstOrDefault(l => l.Label == version)?.Version;
        var row = number is { } v ? await store.GetVersionAsync(workflow.Id, v, ct) : null;
        return row is null
            ? throw Problems.NotFound($"Version '{Shorten(version)}' of workflow '{workflow.Name}'")
            : (workflow, row, labels);
    }

    private Task<IReadOnlyList<WorkflowLabelRow>> LabelsOfAsync(Guid workflowId, CancellationToken ct) => store.LabelsAsync([workflowId], ct);

    private static void CheckLabel(string label)
    {
        if (!WorkflowDefinitionParser.Identifier().IsMatch(label) || label == Latest)
        {
            throw Problems.Validation("label", "labels are a lower-case letter, then up to 62 of a-z, 0-9, '_' and '-', and not 'latest'.");
        }
    }

    private static string Shorten(string value) => value.Length > 100 ? value[..100] + "…" : value;

    private static AuditTarget Target(WorkflowRow workflow) => new("workflow", workflow.Id, workflow.Name);

    private static WorkflowSummary ToSummary(WorkflowRow w, IEnumerable<WorkflowLabelRow> labels) => new(
        w.Name, w.Description, (int)w.LatestVersion, labels.ToDictionary(l => l.Label, l => (int)l.Version, StringComparer.Ordinal),
        DbTime.FromDb(w.CreatedAt), DbTime.FromDb(w.UpdatedAt));

    private static WorkflowVersionInfo ToInfo(WorkflowRow w, WorkflowVersionRow v, IReadOnlyList<WorkflowLabelRow> labels) => new(
        w.Name, (int)v.Version, v.Digest, v.Description, (int)v.StepCount, [.. labels.Where(l => l.Version == v.Version).Select(l => l.Label)],
        DbTime.FromDb(v.CreatedAt), v.CreatedByKind, v.CreatedById);
}
