using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Workflows;

/// <summary>A workflow as stored: its name in the org and its newest version.</summary>
public sealed class WorkflowRow
{
    public Guid Id { get; set; }

    public Guid OrgId { get; set; }

    public string Name { get; set; } = "";

    public string? Description { get; set; }

    public long LatestVersion { get; set; }

    public long CreatedAt { get; set; }

    public long UpdatedAt { get; set; }
}

/// <summary>One immutable version: the YAML exactly as uploaded.</summary>
public sealed class WorkflowVersionRow
{
    public Guid WorkflowId { get; set; }

    public long Version { get; set; }

    public string Yaml { get; set; } = "";

    public string Digest { get; set; } = "";

    public string? Description { get; set; }

    public long StepCount { get; set; }

    public long CreatedAt { get; set; }

    public string CreatedByKind { get; set; } = "";

    public Guid? CreatedById { get; set; }
}

public sealed class WorkflowLabelRow
{
    public Guid WorkflowId { get; set; }

    public string Label { get; set; } = "";

    public long Version { get; set; }

    public long UpdatedAt { get; set; }
}

/// <summary>A binding of the org's role map.</summary>
public sealed class WorkflowRoleRow
{
    public Guid OrgId { get; set; }

    public string Name { get; set; } = "";

    public string Queue { get; set; } = "";

    public string AgentLabels { get; set; } = "[]";

    public string? ModelAlias { get; set; }

    public string? PromptTemplate { get; set; }

    public string? Description { get; set; }

    public long UpdatedAt { get; set; }
}

/// <summary>
/// Workflows, their versions and labels. Version numbers come from <c>workflows.latest_version</c>, read and bumped under
/// the workflow row's lock, so concurrent uploads of one workflow get consecutive numbers and never the same one.
/// </summary>
public sealed class WorkflowStore(Database db)
{
    private const string WorkflowColumns =
        "id AS Id, org_id AS OrgId, name AS Name, description AS Description, latest_version AS LatestVersion, created_at AS CreatedAt, updated_at AS UpdatedAt";

    private const string VersionColumns =
        "workflow_id AS WorkflowId, version AS Version, yaml AS Yaml, digest AS Digest, description AS Description, step_count AS StepCount, " +
        "created_at AS CreatedAt, created_by_kind AS CreatedByKind, created_by_id AS CreatedById";

    // The same, without the YAML (lists of versions).
    private static readonly string VersionSummaryColumns = VersionColumns.Replace("yaml AS Yaml", "'' AS Yaml", StringComparison.Ordinal);

    /// <summary>
    /// Stores <paramref name="version"/> as the workflow's next version, creating the workflow on its first upload.
    /// When its digest equals the newest version's, nothing is written and that version is returned with
    /// <c>Created</c> false (an upload of the same file again is not a new version).
    /// </summary>
    public Task<(WorkflowRow Workflow, WorkflowVersionRow Version, bool Created)> AddVersionAsync(Change change, Guid orgId, string name, WorkflowVersionRow version) =>
        change.Run(async (c, t) =>
        {
            await c.ExecuteAsync(
                "INSERT INTO workflows (id, org_id, name, description, latest_version, created_at, updated_at) " +
                "VALUES (@id, @orgId, @name, @description, 0, @now, @now) ON CONFLICT (org_id, name) DO NOTHING",
                new { id = Guid.CreateVersion7(), orgId, name, description = version.Description, now = change.Now }, t);
            var workflow = await c.QuerySingleAsync<WorkflowRow>(
                $"SELECT {WorkflowColumns} FROM workflows WHERE org_id = @orgId AND name = @name {change.Dialect.ForUpdate}", new { orgId, name }, t);
            if (workflow.LatestVersion > 0)
            {
                var latest = await c.QuerySingleAsync<WorkflowVersionRow>(
                    $"SELECT {VersionColumns} FROM workflow_versions WHERE workflow_id = @Id AND version = @LatestVersion", workflow, t);
                if (latest.Digest == version.Digest)
                {
                    return (workflow, latest, false);
                }
            }

            version.WorkflowId = workflow.Id;
            version.Version = workflow.LatestVersion + 1;
            version.CreatedAt = change.Now;
            await c.ExecuteAsync(
                "INSERT INTO workflow_versions (workflow_id, version, yaml, digest, description, step_count, created_at, created_by_kind, created_by_id) " +
                "VALUES (@WorkflowId, @Version, @Yaml, @Digest, @Description, @StepCount, @CreatedAt, @CreatedByKind, @CreatedById)", version, t);
            workflow = await c.QuerySingleAsync<WorkflowRow>(
                $"UPDATE workflows SET latest_version = @Version, description = @Description, updated_at = @CreatedAt WHERE id = @WorkflowId RETURNING {WorkflowColumns}",
                version, t);
            return (workflow, version, true);
        });

    public async Task<WorkflowRow?> GetAsync(Guid orgId, string name, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<WorkflowRow>(new CommandDefinition(
            $"SELECT {WorkflowColumns} FROM workflows WHERE org_id = @orgId AND name = @name", new { orgId, name }, cancellationToken: ct));
    }

    /// <summary>A workflow by name, read in the caller's unit of work.</summary>
    public Task<WorkflowRow?> GetAsync(Change change, Guid orgId, string name) =>
        change.Connection.QuerySingleOrDefaultAsync<WorkflowRow>(
            $"SELECT {WorkflowColumns} FROM workflows WHERE org_id = @orgId AND name = @name", new { orgId, name }, change.Transaction);

    /// <summary>A version with its YAML, read in the caller's unit of work.</summary>
    public Task<WorkflowVersionRow?> GetVersionAsync(Change change, Guid workflowId, long version) =>
        change.Connection.QuerySingleOrDefaultAsync<WorkflowVersionRow>(
            $"SELECT {VersionColumns} FROM workflow_versions WHERE workflow_id = @workflowId AND version = @version", new { workflowId, version }, change.Transaction);

    /// <summary>The version a label points at, with its YAML, read in the caller's unit of work.</summary>
    public Task<WorkflowVersionRow?> GetVersionByLabelAsync(Change change, Guid workflowId, string label) =>
        change.Connection.QuerySingleOrDefaultAsync<WorkflowVersionRow>(
            $"SELECT {VersionColumns} FROM workflow_versions WHERE workflow_id = @workflowId AND version = " +
            "(SELECT version FROM workflow_labels WHERE workflow_id = @workflowId AND label = @label)", new { workflowId, label }, change.Transaction);

    /// <summary>An org's workflows by name, after the cursor's name.</summary>
    public async Task<IReadOnlyList<WorkflowRow>> ListAsync(Guid orgId, string? after, int limit, CancellationToken ct)
    {
        var sql = $"SELECT {WorkflowColumns} FROM workflows WHERE org_id = @orgId" + (after is null ? "" : " AND name > @after") + " ORDER BY name LIMIT @limit";
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<WorkflowRow>(new CommandDefinition(sql, new { orgId, after, limit }, cancellationToken: ct))).AsList();
    }

    public async Task<WorkflowVersionRow?> GetVersionAsync(Guid workflowId, long version, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<WorkflowVersionRow>(new CommandDefinition(
            $"SELECT {VersionColumns} FROM workflow_versions WHERE workflow_id = @workflowId AND version = @version", new { workflowId, version }, cancellationToken: ct));
    }

    /// <summary>A workflow's versions, newest first, below <paramref name="before"/>; without their YAML.</summary>
    public async Task<IReadOnlyList<WorkflowVersionRow>> ListVersionsAsync(Guid workflowId, long? before, int limit, CancellationToken ct)
    {
        var sql = $"SELECT {VersionSummaryColumns} FROM workflow_versions WHERE workflow_id = @workflowId" +
            (before is null ? "" : " AND version < @before") + " ORDER BY version DESC LIMIT @limit";
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<WorkflowVersionRow>(new CommandDefinition(sql, new { workflowId, before, limit }, cancellationToken: ct))).AsList();
    }

    /// <summary>The labels of these workflows.</summary>
    public async Task<IReadOnlyList<WorkflowLabelRow>> LabelsAsync(IReadOnlyList<Guid> workflowIds, CancellationToken ct)
    {
        if (workflowIds.Count == 0)
        {
            return [];
        }

        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<WorkflowLabelRow>(new CommandDefinition(
            "SELECT workflow_id AS WorkflowId, label AS Label, version AS Version, updated_at AS UpdatedAt FROM workflow_labels WHERE " +
            db.Dialect.InList("workflow_id", "@ids") + " ORDER BY label",
            new { ids = workflowIds.ToArray() }, cancellationToken: ct))).AsList();
    }

    /// <summary>Points the label at the version; returns the version it pointed at before, if any. False when the version does not exist.</summary>
    public Task<(bool Found, long? Previous)> SetLabelAsync(Change change, Guid workflowId, string label, long version) =>
        change.Run(async (c, t) =>
        {
            // The workflow row's lock orders label moves against each other and against uploads.
            await c.ExecuteScalarAsync<Guid?>($"SELECT id FROM workflows WHERE id = @workflowId {change.Dialect.ForUpdate}", new { workflowId }, t);
            if (await c.ExecuteScalarAsync<long?>(
                    "SELECT version FROM workflow_versions WHERE workflow_id = @workflowId AND version = @version", new { workflowId, version }, t) is null)
            {
                return (false, (long?)null);
            }

            var previous = await c.ExecuteScalarAsync<long?>(
                "SELECT version FROM workflow_labels WHERE workflow_id = @workflowId AND label = @label", new { workflowId, label }, t);
            await c.ExecuteAsync(
                "INSERT INTO workflow_labels (workflow_id, label, version, updated_at) VALUES (@workflowId, @label, @version, @now) " +
                "ON CONFLICT (workflow_id, label) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
                new { workflowId, label, version, now = change.Now }, t);
            return (true, previous);
        });

    /// <summary>Removes the label; returns the version it pointed at, or null when there was no such label.</summary>
    public Task<long?> RemoveLabelAsync(Change change, Guid workflowId, string label) =>
        change.Run((c, t) => c.ExecuteScalarAsync<long?>(
            "DELETE FROM workflow_labels WHERE workflow_id = @workflowId AND label = @label RETURNING version", new { workflowId, label }, t));

    private const string RoleColumns =
        "org_id AS OrgId, name AS Name, queue AS Queue, agent_labels AS AgentLabels, model_alias AS ModelAlias, prompt_template AS PromptTemplate, " +
        "description AS Description, updated_at AS UpdatedAt";

    /// <summary>The org's role map, by name.</summary>
    public async Task<IReadOnlyList<WorkflowRoleRow>> RolesAsync(Guid orgId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<WorkflowRoleRow>(new CommandDefinition(
            $"SELECT {RoleColumns} FROM workflow_roles WHERE org_id = @orgId ORDER BY name", new { orgId }, cancellationToken: ct))).AsList();
    }

    /// <summary>
    /// Binds the role (inserting or replacing it); returns the binding it replaced, if any. Full (and nothing written)
    /// when the role is new and the org already has <paramref name="max"/> roles.
    /// </summary>
    public Task<(WorkflowRoleRow? Previous, bool Full)> PutRoleAsync(Change change, WorkflowRoleRow row, int max) =>
        change.Run(async (c, t) =>
        {
            // The org row's lock orders concurrent bindings, so the count below holds.
            await c.ExecuteScalarAsync<Guid?>($"SELECT id FROM orgs WHERE id = @OrgId {change.Dialect.ForUpdate}", row, t);
            var previous = await c.QuerySingleOrDefaultAsync<WorkflowRoleRow>(
                $"SELECT {RoleColumns} FROM workflow_roles WHERE org_id = @OrgId AND name = @Name", row, t);
            if (previous is null && await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM workflow_roles WHERE org_id = @OrgId", row, t) >= max)
            {
                return (null, true);
            }

            await c.ExecuteAsync(
                "INSERT INTO workflow_roles (org_id, name, queue, agent_labels, model_alias, prompt_template, description, updated_at) " +
                "VALUES (@OrgId, @Name, @Queue, @AgentLabels, @ModelAlias, @PromptTemplate, @Description, @UpdatedAt) " +
                "ON CONFLICT (org_id, name) DO UPDATE SET queue = excluded.queue, agent_labels = excluded.agent_labels, model_alias = excluded.model_alias, " +
                "prompt_template = excluded.prompt_template, description = excluded.description, updated_at = excluded.updated_at", row, t);
            return (previous, false);
        });

    /// <summary>Removes the binding; returns it, or null when there was none.</summary>
    public Task<WorkflowRoleRow?> DeleteRoleAsync(Change change, Guid orgId, string name) =>
        change.Run((c, t) => c.QuerySingleOrDefaultAsync<WorkflowRoleRow?>(
            $"DELETE FROM workflow_roles WHERE org_id = @orgId AND name = @name RETURNING {RoleColumns}", new { orgId, name }, t));
}
