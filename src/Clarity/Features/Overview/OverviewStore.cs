using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Overview;

/// <summary>
/// Aggregates for the overview, one SQL text per query for both backends. Buckets come from integer division of the
/// epoch-millisecond timestamps (integer ÷ integer truncates on both engines), so no date functions are needed.
/// </summary>
public sealed class OverviewStore(Database db)
{
    /// <summary>Tasks created per bucket in [from, to].</summary>
    public async Task<IReadOnlyList<CreatedRow>> CreatedAsync(Guid orgId, long from, long to, long bucketMs, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<CreatedRow>(new CommandDefinition(
            "SELECT created_at / @bucketMs AS Bucket, COUNT(*) AS Count FROM tasks " +
            "WHERE org_id = @orgId AND created_at >= @from AND created_at <= @to GROUP BY 1",
            new { orgId, from, to, bucketMs }, cancellationToken: ct))).AsList();
    }

    /// <summary>
    /// Tasks that finished in [from, to], per bucket and final status, with the summed created→finished and
    /// started→finished times (started_at is the start of the last attempt; a task cancelled while queued has none).
    /// </summary>
    public async Task<IReadOnlyList<FinishedRow>> FinishedAsync(Guid orgId, long from, long to, long bucketMs, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<FinishedRow>(new CommandDefinition(
            "SELECT finished_at / @bucketMs AS Bucket, status AS Status, COUNT(*) AS Count, " +
            "CAST(SUM(finished_at - created_at) AS BIGINT) AS TotalCompletionMs, " +
            "COUNT(started_at) AS Started, CAST(SUM(finished_at - started_at) AS BIGINT) AS TotalRunMs " +
            "FROM tasks WHERE org_id = @orgId AND finished_at >= @from AND finished_at <= @to " +
            "AND status IN ('succeeded', 'failed', 'cancelled') GROUP BY 1, 2",
            new { orgId, from, to, bucketMs }, cancellationToken: ct))).AsList();
    }

    /// <summary>How many of the org's tasks are in each unfinished status right now.</summary>
    public async Task<IReadOnlyList<StatusRow>> OpenStatusesAsync(Guid orgId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<StatusRow>(new CommandDefinition(
            "SELECT status AS Status, COUNT(*) AS Count FROM tasks " +
            "WHERE org_id = @orgId AND status IN ('blocked', 'queued', 'running', 'awaiting_response') GROUP BY status",
            new { orgId }, cancellationToken: ct))).AsList();
    }

    /// <summary>Agents right now: busy (holding a running or awaiting task), idle (seen since <paramref name="seenSince"/>), and the total.</summary>
    public async Task<AgentCounts> AgentsAsync(Guid orgId, long seenSince, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleAsync<AgentCounts>(new CommandDefinition(
            "SELECT COUNT(*) AS Total, " +
            "COALESCE(SUM(CASE WHEN x.held > 0 THEN 1 ELSE 0 END), 0) AS Busy, " +
            "COALESCE(SUM(CASE WHEN x.held = 0 AND x.last_seen_at >= @seenSince THEN 1 ELSE 0 END), 0) AS Idle " +
            "FROM (SELECT a.last_seen_at, (SELECT COUNT(*) FROM tasks t WHERE t.agent_id = a.id AND t.status IN ('running', 'awaiting_response')) AS held " +
            "FROM agents a WHERE a.org_id = @orgId) x",
            new { orgId, seenSince }, cancellationToken: ct));
    }

    public async Task<long> PendingClarificationsAsync(Guid orgId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM clarifications WHERE org_id = @orgId AND status = 'pending'", new { orgId }, cancellationToken: ct));
    }

    public sealed class CreatedRow
    {
        public long Bucket { get; set; }
        public long Count { get; set; }
    }

    public sealed class FinishedRow
    {
        public long Bucket { get; set; }
        public string Status { get; set; } = "";
        public long Count { get; set; }
        public long? TotalCompletionMs { get; set; }
        public long Started { get; set; }
        public long? TotalRunMs { get; set; }
    }

    public sealed class StatusRow
    {
        public string Status { get; set; } = "";
        public long Count { get; set; }
    }

    public sealed class AgentCounts
    {
        public long Total { get; set; }
        public long Busy { get; set; }
        public long Idle { get; set; }
    }
}
