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

    /// <summary>Registers the agent by name, or refreshes an existing one's labels and last-seen time. Returns (id, created).</summary>
    public Task<(Guid Id, bool Created)> UpsertAsync(Guid orgId, string name, IReadOnlyList<string>? labels, DateTimeOffset now, CancellationToken ct) =>
        db.WriteAsync(async (c, t) =>
        {
            var existing = await c.QuerySingleOrDefaultAsync<Guid?>("SELECT id FROM agents WHERE org_id = @orgId AND name = @name", new { orgId, name }, t);
            var at = DbTime.ToDb(now);
            if (existing is { } id)
            {
                if (labels is null)
                {
                    await c.ExecuteAsync("UPDATE agents SET last_seen_at = @at WHERE id = @id", new { id, at }, t);
                }
                else
                {
                    await c.ExecuteAsync("UPDATE agents SET last_seen_at = @at, labels = @labels WHERE id = @id",
                        new { id, at, labels = JsonSerializer.Serialize(labels) }, t);
                }

                return (id, false);
            }

            var newId = Guid.CreateVersion7();
            await c.ExecuteAsync(
                "INSERT INTO agents (id, org_id, name, labels, created_at, last_seen_at) VALUES (@newId, @orgId, @name, @labels, @at, @at)",
                new { newId, orgId, name, labels = JsonSerializer.Serialize(labels ?? []), at }, t);
            return (newId, true);
        }, ct);

    public async Task<IReadOnlyList<AgentRow>> ListAsync(Guid orgId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<AgentRow>($"{Select} WHERE a.org_id = @orgId ORDER BY a.name", new { orgId })).AsList();
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
    /// Milliseconds each agent of the org spent holding tasks within [since, now): for every task with an agent and a
    /// start, the overlap of [started_at, finished_at or now) with the window. started_at is the latest attempt's start
    /// and agent_id the latest holder, so an earlier attempt's time counts for the task's latest agent from its latest start.
    /// </summary>
    public async Task<IReadOnlyList<BusyRow>> BusyMillisecondsAsync(Guid orgId, long since, long now, CancellationToken ct)
    {
        const string sql =
            "SELECT t.agent_id AS AgentId, CAST(SUM(" +
            "(CASE WHEN t.finished_at IS NOT NULL AND t.finished_at < @now THEN t.finished_at ELSE @now END) - " +
            "(CASE WHEN t.started_at > @since THEN t.started_at ELSE @since END)) AS BIGINT) AS BusyMs " +
            "FROM tasks t WHERE t.org_id = @orgId AND t.agent_id IS NOT NULL AND t.started_at IS NOT NULL AND t.started_at < @now " +
            "AND (t.finished_at IS NULL OR t.finished_at > @since) GROUP BY t.agent_id";
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<BusyRow>(sql, new { orgId, since, now })).AsList();
    }

    /// <summary>A class with setters, not a positional record: on an empty result SQLite reports the computed column as a BLOB and Dapper would find no matching constructor.</summary>
    public sealed class BusyRow
    {
        public Guid AgentId { get; set; }

        public long BusyMs { get; set; }
    }

    public sealed record AgentRow(Guid Id, string Name, string Labels, long CreatedAt, long LastSeenAt, Guid? CurrentTaskId);
}
