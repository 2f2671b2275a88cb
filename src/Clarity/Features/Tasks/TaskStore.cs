using System.Data.Common;
using System.Text.Json;
using Clarity.Hosting;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Tasks;

/// <summary>Task rows: creation, listing, the claim, lease-fenced transitions and the sweeps. One SQL text per query for both backends.</summary>
public sealed class TaskStore(Database db)
{
    internal const string Columns =
        "id AS Id, org_id AS OrgId, queue AS Queue, title AS Title, status AS Status, input AS Input, output AS Output, error AS Error, " +
        "labels AS Labels, priority AS Priority, attempts AS Attempts, max_attempts AS MaxAttempts, timeout_seconds AS TimeoutSeconds, " +
        "idempotency_key AS IdempotencyKey, agent_id AS AgentId, lease_token_hash AS LeaseTokenHash, lease_expires_at AS LeaseExpiresAt, lease_seconds AS LeaseSeconds, " +
        "deadline_at AS DeadlineAt, awaiting_since AS AwaitingSince, log_seq AS LogSeq, run_id AS RunId, step_id AS StepId, " +
        "created_at AS CreatedAt, started_at AS StartedAt, finished_at AS FinishedAt, updated_at AS UpdatedAt";

    public Database Database => db;

    public Task<(TaskRow Row, bool Created)> InsertAsync(TaskRow row, Guid? createdBy, CancellationToken ct) =>
        db.WriteAsync(async (c, t) =>
        {
            var inserted = await c.ExecuteAsync(
                "INSERT INTO tasks (id, org_id, queue, title, status, input, labels, priority, attempts, max_attempts, timeout_seconds, idempotency_key, log_seq, created_by, created_at, updated_at) " +
                "VALUES (@Id, @OrgId, @Queue, @Title, @Status, @Input, @Labels, @Priority, 0, @MaxAttempts, @TimeoutSeconds, @IdempotencyKey, 0, @createdBy, @CreatedAt, @CreatedAt) " +
                "ON CONFLICT (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
                new { row.Id, row.OrgId, row.Queue, row.Title, row.Status, row.Input, row.Labels, row.Priority, row.MaxAttempts, row.TimeoutSeconds, row.IdempotencyKey, createdBy, row.CreatedAt }, t);
            if (inserted == 1)
            {
                return (row, true);
            }

            var existing = await c.QuerySingleAsync<TaskRow>(
                $"SELECT {Columns} FROM tasks WHERE org_id = @OrgId AND idempotency_key = @IdempotencyKey", new { row.OrgId, row.IdempotencyKey }, t);
            return (existing, false);
        }, ct);

    public async Task<TaskRow?> GetAsync(Guid orgId, Guid id, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<TaskRow>($"SELECT {Columns} FROM tasks WHERE org_id = @orgId AND id = @id", new { orgId, id });
    }

    public static Task<TaskRow?> GetAsync(DbConnection c, DbTransaction t, Guid orgId, Guid id) =>
        c.QuerySingleOrDefaultAsync<TaskRow>($"SELECT {Columns} FROM tasks WHERE org_id = @orgId AND id = @id", new { orgId, id }, t);

    public async Task<IReadOnlyList<TaskRow>> ListAsync(Guid orgId, string? status, string? queue, Guid? agentId, Guid? before, int limit, CancellationToken ct)
    {
        var sql = $"SELECT {Columns} FROM tasks WHERE org_id = @orgId";
        if (status is not null)
        {
            sql += " AND status = @status";
        }

        if (queue is not null)
        {
            sql += " AND queue = @queue";
        }

        if (agentId is not null)
        {
            sql += " AND agent_id = @agentId";
        }

        if (before is not null)
        {
            sql += " AND id < @before";
        }

        sql += " ORDER BY id DESC LIMIT @limit";
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<TaskRow>(sql, new { orgId, status, queue, agentId, before, limit })).AsList();
    }

    /// <summary>A cheap read that tells whether a claim could succeed, so idle polling does not cost a write.</summary>
    public async Task<bool> AnyClaimableAsync(Guid orgId, IReadOnlyList<string>? queues, Guid? taskId, CancellationToken ct)
    {
        var sql = "SELECT 1 FROM tasks WHERE org_id = @orgId AND status = 'queued'";
        if (taskId is not null)
        {
            sql += " AND id = @taskId";
        }
        else if (queues is { Count: > 0 })
        {
            sql += " AND " + QueueFilter(queues);
        }

        await using var c = await db.OpenReadAsync(ct);
        return await c.ExecuteScalarAsync<long?>(sql + " LIMIT 1", new { orgId, queues = queues?.ToArray(), queue = queues?.FirstOrDefault(), taskId }) is not null;
    }

    private string QueueFilter(IReadOnlyList<string> queues) =>
        queues.Count == 1 ? "queue = @queue" : db.Dialect.InList("queue", "@queues");

    /// <summary>Claims the best queued task for the agent: highest priority, then oldest. Exclusive on both backends.</summary>
    public Task<TaskRow?> ClaimAsync(Guid orgId, Guid agentId, IReadOnlyList<string>? queues, string agentLabels, Guid? taskId, string leaseHash, long now, int leaseSeconds, CancellationToken ct)
    {
        var parameters = new DynamicParameters(new { orgId, agentId, agentLabels, taskId, leaseHash, now, leaseSeconds });
        var sql =
            "UPDATE tasks SET status = 'running', attempts = attempts + 1, agent_id = @agentId, lease_token_hash = @leaseHash, " +
            "lease_seconds = @leaseSeconds, lease_expires_at = @now + @leaseSeconds * 1000, started_at = @now, deadline_at = @now + timeout_seconds * 1000, updated_at = @now " +
            $"WHERE id = ({PickSql(queues, taskId, parameters)}) AND status = 'queued' RETURNING {Columns}";
        return db.WriteAsync((c, t) => c.QuerySingleOrDefaultAsync<TaskRow>(sql, parameters, t), ct);
    }

    /// <summary>
    /// The sub-select that picks the task to claim. Every shape reads the head of an ordered index instead of sorting
    /// the backlog: one queue uses (org_id, queue, priority, id); no queue uses (org_id, priority, id); several queues
    /// take the head of each queue's line and then the best of those heads.
    /// </summary>
    private string PickSql(IReadOnlyList<string>? queues, Guid? taskId, DynamicParameters parameters)
    {
        var eligible = $"org_id = @orgId AND status = 'queued' AND {db.Dialect.LabelsSubsetOf("labels", "@agentLabels")}";
        const string order = "ORDER BY priority DESC, id LIMIT 1";
        if (taskId is not null)
        {
            return $"SELECT id FROM tasks WHERE {eligible} AND id = @taskId {db.Dialect.ClaimLock}";
        }

        if (queues is not { Count: > 0 })
        {
            return $"SELECT id FROM tasks WHERE {eligible} {order} {db.Dialect.ClaimLock}";
        }

        if (queues.Count == 1)
        {
            parameters.Add("queue", queues[0]);
            return $"SELECT id FROM tasks WHERE {eligible} AND queue = @queue {order} {db.Dialect.ClaimLock}";
        }

        var heads = new List<string>(queues.Count);
        for (var i = 0; i < queues.Count; i++)
        {
            parameters.Add($"q{i}", queues[i]);
            heads.Add($"SELECT id, priority FROM (SELECT id, priority FROM tasks WHERE {eligible} AND queue = @q{i} {order} {db.Dialect.ClaimLock}) h{i}");
        }

        return $"SELECT id FROM ({string.Join(" UNION ALL ", heads)}) heads {order}";
    }

    /// <summary>Extends the lease, by the length chosen at checkout unless a new one is given, when the token matches an active task.</summary>
    public Task<TaskRow?> HeartbeatAsync(Guid orgId, Guid id, string leaseHash, long now, int? leaseSeconds, int defaultLeaseSeconds, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.QuerySingleOrDefaultAsync<TaskRow>(
            "UPDATE tasks SET lease_seconds = COALESCE(@leaseSeconds, lease_seconds, @defaultLeaseSeconds), " +
            "lease_expires_at = @now + COALESCE(@leaseSeconds, lease_seconds, @defaultLeaseSeconds) * 1000, updated_at = @now " +
            $"WHERE org_id = @orgId AND id = @id AND lease_token_hash = @leaseHash AND status IN ('running', 'awaiting_response') RETURNING {Columns}",
            new { orgId, id, leaseHash, now, leaseSeconds, defaultLeaseSeconds }, t), ct);

    /// <summary>Moves a running task to a final (or, for a retry, queued) state, fenced by its lease token.</summary>
    public Task<TaskRow?> FinishAsync(Guid orgId, Guid id, string leaseHash, string status, string? output, string? error, long now, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.QuerySingleOrDefaultAsync<TaskRow>(
            "UPDATE tasks SET status = @status, output = @output, error = @error, lease_token_hash = NULL, lease_expires_at = NULL, " +
            "finished_at = CASE WHEN @status = 'queued' THEN NULL ELSE @now END, " +
            "agent_id = CASE WHEN @status = 'queued' THEN NULL ELSE agent_id END, updated_at = @now " +
            $"WHERE org_id = @orgId AND id = @id AND lease_token_hash = @leaseHash AND status = 'running' RETURNING {Columns}",
            new { orgId, id, leaseHash, status, output, error, now }, t), ct);

    public Task<TaskRow?> CancelAsync(Guid orgId, Guid id, long now, CancellationToken ct) =>
        db.WriteAsync(async (c, t) =>
        {
            var row = await c.QuerySingleOrDefaultAsync<TaskRow>(
                "UPDATE tasks SET status = 'cancelled', lease_token_hash = NULL, lease_expires_at = NULL, finished_at = @now, updated_at = @now, " +
                "error = 'Cancelled.' " +
                $"WHERE org_id = @orgId AND id = @id AND status IN ('queued', 'running', 'awaiting_response') RETURNING {Columns}",
                new { orgId, id, now }, t);
            if (row is not null)
            {
                await c.ExecuteAsync(
                    "UPDATE clarifications SET status = 'cancelled' WHERE task_id = @id AND status = 'pending'", new { id }, t);
            }

            return row;
        }, ct);

    /// <summary>Fails running tasks whose deadline has passed.</summary>
    public Task<IReadOnlyList<TaskRow>> FailTimedOutAsync(long now, CancellationToken ct) =>
        db.WriteAsync(async (c, t) => (IReadOnlyList<TaskRow>)(await c.QueryAsync<TaskRow>(
            "UPDATE tasks SET status = 'failed', error = 'Timed out: the task ran longer than its timeoutSeconds (' || CAST(timeout_seconds AS TEXT) || ' s).', " +
            "lease_token_hash = NULL, lease_expires_at = NULL, finished_at = @now, updated_at = @now " +
            $"WHERE status = 'running' AND deadline_at < @now RETURNING {Columns}", new { now }, t)).AsList(), ct);

    /// <summary>Requeues running tasks whose lease expired, or fails them once their attempts are used up.</summary>
    public Task<IReadOnlyList<TaskRow>> ExpireLeasesAsync(long now, CancellationToken ct) =>
        db.WriteAsync(async (c, t) => (IReadOnlyList<TaskRow>)(await c.QueryAsync<TaskRow>(
            "UPDATE tasks SET " +
            "status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, " +
            "error = CASE WHEN attempts >= max_attempts THEN 'Lease expired on attempt ' || CAST(attempts AS TEXT) || ' of ' || CAST(max_attempts AS TEXT) || ': the agent stopped heartbeating.' ELSE error END, " +
            "finished_at = CASE WHEN attempts >= max_attempts THEN @now ELSE NULL END, " +
            "agent_id = CASE WHEN attempts >= max_attempts THEN agent_id ELSE NULL END, " +
            "lease_token_hash = NULL, lease_expires_at = NULL, updated_at = @now " +
            $"WHERE status = 'running' AND lease_expires_at < @now RETURNING {Columns}", new { now }, t)).AsList(), ct);

    public static string LabelsJson(IReadOnlyList<string> labels) => JsonSerializer.Serialize(labels);
}

/// <summary>A tasks row as stored (times in epoch milliseconds).</summary>
public sealed class TaskRow
{
    public Guid Id { get; set; }
    public Guid OrgId { get; set; }
    public string Queue { get; set; } = "";
    public string Title { get; set; } = "";
    public string Status { get; set; } = "";
    public string? Input { get; set; }
    public string? Output { get; set; }
    public string? Error { get; set; }
    public string Labels { get; set; } = "[]";
    public long Priority { get; set; }
    public long Attempts { get; set; }
    public long MaxAttempts { get; set; }
    public long TimeoutSeconds { get; set; }
    public string? IdempotencyKey { get; set; }
    public Guid? AgentId { get; set; }
    public string? LeaseTokenHash { get; set; }
    public long? LeaseExpiresAt { get; set; }
    public long? LeaseSeconds { get; set; }
    public long? DeadlineAt { get; set; }
    public long? AwaitingSince { get; set; }
    public long LogSeq { get; set; }
    public Guid? RunId { get; set; }
    public string? StepId { get; set; }
    public long CreatedAt { get; set; }
    public long? StartedAt { get; set; }
    public long? FinishedAt { get; set; }
    public long UpdatedAt { get; set; }

    public bool HasLabels => Labels != "[]";

    public AgentTask ToModel() => new(
        Id, Queue, Title, Status, JsonText.ParseStored(Input), JsonText.ParseStored(Output), Error,
        JsonSerializer.Deserialize<string[]>(Labels) ?? [],
        (int)Priority, (int)Attempts, (int)MaxAttempts, (int)TimeoutSeconds, IdempotencyKey, AgentId,
        DbTime.FromDb(LeaseExpiresAt), LogSeq, RunId, StepId,
        DbTime.FromDb(CreatedAt), DbTime.FromDb(StartedAt), DbTime.FromDb(FinishedAt), DbTime.FromDb(UpdatedAt));
}
