using System.Text.Json;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Agents;

public sealed class AgentStore(Database db)
{
    private const string Select =
        "SELECT a.id AS Id, a.name AS Name, a.labels AS Labels, a.created_at AS CreatedAt, a.last_seen_at AS LastSeenAt, " +
        "(SELECT t.id FROM tasks t WHERE t.agent_id = a.id AND t.status IN ('running', 'awaiting_response') ORDER BY t.id LIMIT 1) AS CurrentTaskId " +
        "FROM agents a";

    /// <summary>
    /// Registers the agent by name, or refreshes an existing one's last-seen time (and its labels, when given). Returns
    /// (id, created). One statement, race-free on both backends: concurrent first calls with a new name (a pool of
    /// workers starting) make one row, and exactly one of them sees created.
    /// </summary>
    public static async Task<(Guid Id, bool Created)> UpsertAsync(Change change, Guid orgId, string name, IReadOnlyList<string>? labels)
    {
            var (c, t) = (change.Connection, change.Transaction);
            var newId = Guid.CreateVersion7();
            var id = await c.QuerySingleAsync<Guid>(
                "INSERT INTO agents (id, org_id, name, labels, created_at, last_seen_at) VALUES (@newId, @orgId, @name, COALESCE(@labels, '[]'), @at, @at) " +
                "ON CONFLICT (org_id, name) DO UPDATE SET last_seen_at = excluded.last_seen_at, labels = COALESCE(@labels, agents.labels) " +
                "RETURNING id",
                new { newId, orgId, name, labels = labels is null ? null : JsonSerializer.Serialize(labels), at = change.Now }, t);
            return (id, id == newId);
    }

    /// <summary>
    /// One page of the org's agents in name order: those whose name sorts after the agent <paramref name="after"/> (the
    /// previous page's last), at most <paramref name="limit"/>. The (org_id, name) unique index serves both the filter
    /// and the order. An <paramref name="after"/> that is no agent of this org gives an empty page.
    /// </summary>
    public async Task<IReadOnlyList<AgentRow>> ListAsync(Guid orgId, Guid? after, int limit, CancellationToken ct)
    {
        var sql = $"{Select} WHERE a.org_id = @orgId";
        if (after is not null)
        {
            sql += " AND a.name > (SELECT p.name FROM agents p WHERE p.org_id = @orgId AND p.id = @after)";
        }

        sql += " ORDER BY a.name LIMIT @limit";
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<AgentRow>(sql, new { orgId, after, limit })).AsList();
    }

    /// <summary>The names of the org's agents among <paramref name="ids"/> (ids of other orgs' agents are left out).</summary>
    public async Task<IReadOnlyDictionary<Guid, string>> NamesAsync(Guid orgId, IReadOnlyCollection<Guid> ids, CancellationToken ct)
    {
        if (ids.Count == 0)
        {
            return new Dictionary<Guid, string>();
        }

        await using var c = await db.OpenReadAsync(ct);
        var rows = await c.QueryAsync<NameRow>(
            $"SELECT id AS Id, name AS Name FROM agents WHERE org_id = @orgId AND {db.Dialect.InList("id", "@ids")}", new { orgId, ids = ids.ToArray() });
        return rows.ToDictionary(r => r.Id, r => r.Name);
    }

    public async Task<AgentRow?> FindAsync(Guid orgId, Guid id, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<AgentRow>($"{Select} WHERE a.org_id = @orgId AND a.id = @id", new { orgId, id });
    }

    public async Task<Guid?> FindIdByNameAsync(Guid orgId, string name, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<Guid?>("SELECT id FROM agents WHERE org_id = @orgId AND name = @name", new { orgId, name });
    }

    /// <summary>
    /// Milliseconds each of <paramref name="agentIds"/> (agents of the org) spent holding tasks within [since, now): for
    /// every task with one of them as its agent and a start, the overlap of [started_at, finished_at or now) with the window. started_at is the latest attempt's start
    /// and agent_id the latest holder, so an earlier attempt's time counts for the task's latest agent from its latest start.
    /// </summary>
    public async Task<IReadOnlyList<BusyRow>> BusyMillisecondsAsync(Guid orgId, IReadOnlyCollection<Guid> agentIds, long since, long now, CancellationToken ct)
    {
        if (agentIds.Count == 0)
        {
            return [];
        }

        var sql =
            "SELECT t.agent_id AS AgentId, CAST(SUM(" +
            "(CASE WHEN t.finished_at IS NOT NULL AND t.finished_at < @now THEN t.finished_at ELSE @now END) - " +
            "(CASE WHEN t.started_at > @since THEN t.started_at ELSE @since END)) AS BIGINT) AS BusyMs " +
            $"FROM tasks t WHERE t.org_id = @orgId AND {db.Dialect.InList("t.agent_id", "@agentIds")} AND t.started_at IS NOT NULL AND t.started_at < @now " +
            "AND (t.finished_at IS NULL OR t.finished_at > @since) GROUP BY t.agent_id";
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<BusyRow>(sql, new { orgId, agentIds = agentIds.ToArray(), since, now })).AsList();
    }

    /// <summary>A class with setters, not a positional record: on an empty result SQLite reports the computed column as a BLOB and Dapper would find no matching constructor.</summary>
    public sealed class BusyRow
    {
        public Guid AgentId { get; set; }

        public long BusyMs { get; set; }
    }

    public sealed record NameRow(Guid Id, string Name);

    public sealed record AgentRow(Guid Id, string Name, string Labels, long CreatedAt, long LastSeenAt, Guid? CurrentTaskId);
}
