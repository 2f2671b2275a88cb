using System.Data.Common;
using System.Text.Json;
using Clarity.Hosting;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Tasks;

/// <summary>
/// Task rows: creation, listing, and the lifecycle's transitions, one statement each, guarded by the statuses
/// <see cref="TaskStateMachine"/> allows them from. Every write takes the caller's <see cref="Change"/>, so a transition
/// commits together with whatever else the change does (its events, a clarification, later a workflow step). Other
/// features move tasks only through these methods. One SQL text per query for both backends.
/// </summary>
public sealed class TaskStore(Database db)
{
    internal const string Columns =
        "id AS Id, org_id AS OrgId, queue AS Queue, title AS Title, status AS Status, input AS Input, output AS Output, error AS Error, " +
        "labels AS Labels, priority AS Priority, attempts AS Attempts, max_attempts AS MaxAttempts, timeout_seconds AS TimeoutSeconds, " +
        "idempotency_key AS IdempotencyKey, agent_id AS AgentId, lease_token_hash AS LeaseTokenHash, lease_expires_at AS LeaseExpiresAt, lease_seconds AS LeaseSeconds, " +
        "deadline_at AS DeadlineAt, awaiting_since AS AwaitingSince, log_seq AS LogSeq, run_id AS RunId, step_id AS StepId, context AS Context, " +
        "depends_on AS DependsOn, has_dependents AS HasDependents, created_at AS CreatedAt, started_at AS StartedAt, finished_at AS FinishedAt, updated_at AS UpdatedAt";

    public Database Database => db;

    /// <summary>
    /// Creates a task (queued, or blocked on its dependencies); with an idempotency key already used in the org, returns
    /// that task instead (Created false). The dependency edges are written with it (<see cref="InsertDependenciesAsync"/>).
    /// </summary>
    public static async Task<(TaskRow Row, bool Created)> InsertAsync(Change change, TaskRow row, Guid? createdBy)
    {
            var (c, t) = (change.Connection, change.Transaction);
            var inserted = await c.ExecuteAsync(
                "INSERT INTO tasks (id, org_id, queue, title, status, input, labels, priority, attempts, max_attempts, timeout_seconds, idempotency_key, log_seq, run_id, step_id, context, depends_on, created_by, created_at, updated_at) " +
                "VALUES (@Id, @OrgId, @Queue, @Title, @Status, @Input, @Labels, @Priority, 0, @MaxAttempts, @TimeoutSeconds, @IdempotencyKey, 0, @RunId, @StepId, @Context, @DependsOn, @createdBy, @CreatedAt, @CreatedAt) " +
                "ON CONFLICT (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
                new { row.Id, row.OrgId, row.Queue, row.Title, row.Status, row.Input, row.Labels, row.Priority, row.MaxAttempts, row.TimeoutSeconds, row.IdempotencyKey, row.RunId, row.StepId, row.Context, row.DependsOn, createdBy, row.CreatedAt }, t);
            if (inserted == 1)
            {
                return (row, true);
            }

            var existing = await c.QuerySingleAsync<TaskRow>(
                $"SELECT {Columns} FROM tasks WHERE org_id = @OrgId AND idempotency_key = @IdempotencyKey", new { row.OrgId, row.IdempotencyKey }, t);
            return (existing, false);
    }

    /// <summary>
    /// Creates many tasks without idempotency keys or dependencies (a workflow's dispatch); their events and audit entries
    /// are the caller's (<see cref="TaskService.Record"/>). PostgreSQL gets one statement over arrays, as the event log's
    /// and the audit log's inserts do. SQLite, in process, gets a statement per row: there is no round trip to save, and
    /// a statement of many rows' parameters costs SQLite a lookup through all of them for each one.
    /// </summary>
    public static async Task InsertManyAsync(Change change, IReadOnlyList<TaskRow> rows, Guid? createdBy)
    {
        if (rows.Any(r => r.IdempotencyKey is not null || r.DependsOn is not null))
        {
            throw new ArgumentException("InsertManyAsync creates tasks without idempotency keys or dependencies.", nameof(rows));
        }

        if (change.Dialect.Kind == DatabaseKind.Sqlite)
        {
            foreach (var row in rows)
            {
                await InsertAsync(change, row, createdBy);
            }

            return;
        }

        await change.Connection.ExecuteAsync(
            "INSERT INTO tasks (id, org_id, queue, title, status, input, labels, priority, attempts, max_attempts, timeout_seconds, log_seq, run_id, step_id, context, created_by, created_at, updated_at) " +
            "SELECT id, org_id, queue, title, status, input, labels, priority, 0, max_attempts, timeout_seconds, 0, run_id, step_id, context, @createdBy::uuid, created_at, created_at " +
            "FROM unnest(@ids::uuid[], @orgs::uuid[], @queues::text[], @titles::text[], @statuses::text[], @inputs::text[], @labels::text[], @priorities::bigint[], " +
            "@maxAttempts::bigint[], @timeouts::bigint[], @runs::uuid[], @steps::text[], @contexts::text[], @createdAts::bigint[]) " +
            "AS u(id, org_id, queue, title, status, input, labels, priority, max_attempts, timeout_seconds, run_id, step_id, context, created_at)",
            new
            {
                ids = rows.Select(r => r.Id).ToArray(),
                orgs = rows.Select(r => r.OrgId).ToArray(),
                queues = rows.Select(r => r.Queue).ToArray(),
                titles = rows.Select(r => r.Title).ToArray(),
                statuses = rows.Select(r => r.Status).ToArray(),
                inputs = rows.Select(r => r.Input).ToArray(),
                labels = rows.Select(r => r.Labels).ToArray(),
                priorities = rows.Select(r => r.Priority).ToArray(),
                maxAttempts = rows.Select(r => r.MaxAttempts).ToArray(),
                timeouts = rows.Select(r => r.TimeoutSeconds).ToArray(),
                runs = rows.Select(r => r.RunId).ToArray(),
                steps = rows.Select(r => r.StepId).ToArray(),
                contexts = rows.Select(r => r.Context).ToArray(),
                createdAts = rows.Select(r => r.CreatedAt).ToArray(),
                createdBy,
            },
            change.Transaction);
    }

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

    /// <summary>Claim: the best queued task for the agent (highest priority, then oldest) → running. Exclusive on both backends.</summary>
    public Task<TaskRow?> ClaimAsync(Change change, Guid orgId, Guid agentId, IReadOnlyList<string>? queues, string agentLabels, Guid? taskId, string leaseHash, int leaseSeconds)
    {
        var parameters = new DynamicParameters(new { orgId, agentId, agentLabels, taskId, leaseHash, now = change.Now, leaseSeconds });
        var sql =
            $"UPDATE tasks SET status = '{TaskStatuses.Running}', attempts = attempts + 1, agent_id = @agentId, lease_token_hash = @leaseHash, " +
            "lease_seconds = @leaseSeconds, lease_expires_at = @now + @leaseSeconds * 1000, started_at = @now, deadline_at = @now + timeout_seconds * 1000, updated_at = @now " +
            $"WHERE id = ({PickSql(queues, taskId, parameters)}) AND {TaskStateMachine.GuardSql(TaskTransition.Claim)} RETURNING {Columns}";
        return change.Connection.QuerySingleOrDefaultAsync<TaskRow>(sql, parameters, change.Transaction);
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

    /// <summary>
    /// The tasks a new task will depend on, locked and marked as having dependents (<c>has_dependents</c>), with their
    /// statuses as of the lock: only those of the org (an unknown or foreign id is simply missing). The lock orders this
    /// creation with the dependencies' own transitions on PostgreSQL: a dependency that ends while this creation holds
    /// its row waits for the creation to commit and then finds the new dependent (it reads has_dependents from the row
    /// it locked); one that ended first is seen here in its final status. Rows are locked in id order (dependencies
    /// before dependents, since ids are time-ordered), the order every dependency statement locks in.
    /// </summary>
    public static async Task<IReadOnlyList<DependencyRow>> LockDependenciesAsync(Change change, Guid orgId, IReadOnlyList<Guid> ids) =>
        (await change.Connection.QueryAsync<DependencyRow>(
            "UPDATE tasks SET has_dependents = TRUE WHERE id IN (" +
            $"SELECT id FROM tasks WHERE org_id = @orgId AND {change.Dialect.InList("id", "@ids")} ORDER BY id {change.Dialect.ForUpdate}) " +
            "RETURNING id AS Id, status AS Status",
            new { orgId, ids = ids.ToArray() }, change.Transaction)).AsList();

    /// <summary>Records that <paramref name="taskId"/> depends on each of <paramref name="dependsOn"/> (all locked by <see cref="LockDependenciesAsync"/>).</summary>
    public static Task InsertDependenciesAsync(Change change, Guid orgId, Guid taskId, IReadOnlyList<Guid> dependsOn) =>
        change.Connection.ExecuteAsync(
            "INSERT INTO task_dependencies (task_id, depends_on_id, org_id) VALUES (@taskId, @dependsOnId, @orgId)",
            dependsOn.Select(d => new { taskId, dependsOnId = d, orgId }), change.Transaction);

    /// <summary>
    /// Unblock: the blocked dependents of <paramref name="dependency"/> (which just succeeded) whose dependencies have now
    /// all succeeded → queued. On PostgreSQL the candidates are locked first, in id order, and the check reads the
    /// dependencies in a later statement: two dependencies of one task that succeed at the same time queue it exactly
    /// once, because the second to take the lock sees the first's success.
    /// </summary>
    public static async Task<IReadOnlyList<TaskRow>> UnblockDependentsAsync(Change change, Guid dependency)
    {
        const string Candidates = "SELECT task_id FROM task_dependencies WHERE depends_on_id = @dependency";
        if (change.Dialect.ForUpdate.Length > 0)
        {
            await change.Connection.ExecuteAsync(
                $"SELECT id FROM tasks WHERE id IN ({Candidates}) AND status = '{TaskStatuses.Blocked}' ORDER BY id {change.Dialect.ForUpdate}",
                new { dependency }, change.Transaction);
        }

        return (await change.Connection.QueryAsync<TaskRow>(
            $"UPDATE tasks SET status = '{TaskStatuses.Queued}', updated_at = @now " +
            $"WHERE id IN ({Candidates}) AND {TaskStateMachine.GuardSql(TaskTransition.Unblock)} " +
            "AND NOT EXISTS (SELECT 1 FROM task_dependencies d JOIN tasks dep ON dep.id = d.depends_on_id " +
            $"WHERE d.task_id = tasks.id AND dep.status <> '{TaskStatuses.Succeeded}') RETURNING {Columns}",
            new { dependency, now = change.Now }, change.Transaction)).AsList();
    }

    /// <summary>
    /// DependencyFailed: the blocked dependents of <paramref name="dependency"/> (which failed or was cancelled) →
    /// cancelled, naming it in their error. Locked in id order on PostgreSQL.
    /// </summary>
    public static async Task<IReadOnlyList<TaskRow>> CancelDependentsAsync(Change change, TaskRow dependency)
    {
        var error = $"Dependency {dependency.Id} {(dependency.Status == TaskStatuses.Failed ? "failed" : "was cancelled")}.";
        return (await change.Connection.QueryAsync<TaskRow>(
            $"UPDATE tasks SET status = '{TaskStatuses.Cancelled}', error = @error, finished_at = @now, updated_at = @now " +
            $"WHERE id IN (SELECT id FROM tasks WHERE id IN (SELECT task_id FROM task_dependencies WHERE depends_on_id = @dependency) " +
            $"AND status = '{TaskStatuses.Blocked}' ORDER BY id {change.Dialect.ForUpdate}) " +
            $"AND {TaskStateMachine.GuardSql(TaskTransition.DependencyFailed)} RETURNING {Columns}",
            new { dependency = dependency.Id, error, now = change.Now }, change.Transaction)).AsList();
    }

    /// <summary>Extends the lease, by the length chosen at checkout unless a new one is given, when the token matches an active task. Not a transition.</summary>
    public static Task<TaskRow?> HeartbeatAsync(Change change, Guid orgId, Guid id, string leaseHash, int? leaseSeconds, int defaultLeaseSeconds) =>
        change.Connection.QuerySingleOrDefaultAsync<TaskRow>(
            "UPDATE tasks SET lease_seconds = COALESCE(@leaseSeconds, lease_seconds, @defaultLeaseSeconds), " +
            "lease_expires_at = @now + COALESCE(@leaseSeconds, lease_seconds, @defaultLeaseSeconds) * 1000, updated_at = @now " +
            $"WHERE org_id = @orgId AND id = @id AND lease_token_hash = @leaseHash AND status IN ('{TaskStatuses.Running}', '{TaskStatuses.AwaitingResponse}') RETURNING {Columns}",
            new { orgId, id, leaseHash, now = change.Now, leaseSeconds, defaultLeaseSeconds }, change.Transaction);

    /// <summary>Complete: running → succeeded with the output, fenced by the lease token.</summary>
    public static Task<TaskRow?> CompleteAsync(Change change, Guid orgId, Guid id, string leaseHash, string? output) =>
        change.Connection.QuerySingleOrDefaultAsync<TaskRow>(
            $"UPDATE tasks SET status = '{TaskStatuses.Succeeded}', output = @output, lease_token_hash = NULL, lease_expires_at = NULL, finished_at = @now, updated_at = @now " +
            $"WHERE org_id = @orgId AND id = @id AND lease_token_hash = @leaseHash AND {TaskStateMachine.GuardSql(TaskTransition.Complete)} RETURNING {Columns}",
            new { orgId, id, leaseHash, output, now = change.Now }, change.Transaction);

    /// <summary>Fail: running → queued (a retry, see <see cref="TaskStateMachine.Retries"/>) or failed, fenced by the lease token.</summary>
    public static Task<TaskRow?> FailAsync(Change change, Guid orgId, Guid id, string leaseHash, string error, bool retryable) =>
        change.Connection.QuerySingleOrDefaultAsync<TaskRow>(
            RetryOrFailSet("@retryable") + ", error = @error " +
            $"WHERE org_id = @orgId AND id = @id AND lease_token_hash = @leaseHash AND {TaskStateMachine.GuardSql(TaskTransition.Fail)} RETURNING {Columns}",
            new { orgId, id, leaseHash, error, retryable, now = change.Now }, change.Transaction);

    /// <summary>Cancel: blocked, queued, running or awaiting_response → cancelled. Null when the task is missing or already final.</summary>
    public static Task<TaskRow?> CancelAsync(Change change, Guid orgId, Guid id) =>
        change.Connection.QuerySingleOrDefaultAsync<TaskRow>(
            $"UPDATE tasks SET status = '{TaskStatuses.Cancelled}', lease_token_hash = NULL, lease_expires_at = NULL, awaiting_since = NULL, finished_at = @now, updated_at = @now, " +
            "error = 'Cancelled.' " +
            $"WHERE org_id = @orgId AND id = @id AND {TaskStateMachine.GuardSql(TaskTransition.Cancel)} RETURNING {Columns}",
            new { orgId, id, now = change.Now }, change.Transaction);

    /// <summary>Ask: running → awaiting_response, fenced by the lease token (a clarification is being asked).</summary>
    public static Task<TaskRow?> AskAsync(Change change, Guid orgId, Guid id, string leaseHash) =>
        change.Connection.QuerySingleOrDefaultAsync<TaskRow>(
            $"UPDATE tasks SET status = '{TaskStatuses.AwaitingResponse}', awaiting_since = @now, updated_at = @now " +
            $"WHERE org_id = @orgId AND id = @id AND lease_token_hash = @leaseHash AND {TaskStateMachine.GuardSql(TaskTransition.Ask)} RETURNING {Columns}",
            new { orgId, id, leaseHash, now = change.Now }, change.Transaction);

    /// <summary>
    /// Resume: awaiting_response → running (the question was answered). The time spent waiting for people does not count
    /// against the task's timeout, and the agent gets a fresh lease.
    /// </summary>
    public static Task<TaskRow?> ResumeAsync(Change change, Guid id, int defaultLeaseSeconds) =>
        change.Connection.QuerySingleOrDefaultAsync<TaskRow>(
            $"UPDATE tasks SET status = '{TaskStatuses.Running}', deadline_at = deadline_at + (@now - awaiting_since), awaiting_since = NULL, " +
            "lease_expires_at = @now + COALESCE(lease_seconds, @defaultLeaseSeconds) * 1000, updated_at = @now " +
            $"WHERE id = @id AND {TaskStateMachine.GuardSql(TaskTransition.Resume)} RETURNING {Columns}",
            new { id, now = change.Now, defaultLeaseSeconds }, change.Transaction);

    /// <summary>QuestionExpired: awaiting_response → failed (its question expired unanswered, with no default answer).</summary>
    public static Task<TaskRow?> FailUnansweredAsync(Change change, Guid id) =>
        change.Connection.QuerySingleOrDefaultAsync<TaskRow>(
            $"UPDATE tasks SET status = '{TaskStatuses.Failed}', error = 'The clarification expired without an answer.', lease_token_hash = NULL, " +
            "lease_expires_at = NULL, awaiting_since = NULL, finished_at = @now, updated_at = @now " +
            $"WHERE id = @id AND {TaskStateMachine.GuardSql(TaskTransition.QuestionExpired)} RETURNING {Columns}",
            new { id, now = change.Now }, change.Transaction);

    /// <summary>
    /// The tasks the sweep times out, and those whose lease it expires, every tick: each must be read through its partial
    /// index (<c>tasks_deadline</c>, <c>tasks_lease</c>), never by a scan of every task.
    /// </summary>
    internal static readonly string TimedOutSql = $"{TaskStateMachine.GuardSql(TaskTransition.TimedOut)} AND deadline_at < @now";

    /// <inheritdoc cref="TimedOutSql"/>
    internal static readonly string LeaseExpiredSql = $"{TaskStateMachine.GuardSql(TaskTransition.LeaseExpired)} AND lease_expires_at < @now";

    /// <summary>TimedOut: running tasks past their deadline → failed.</summary>
    public static async Task<IReadOnlyList<TaskRow>> FailTimedOutAsync(Change change) =>
        (await change.Connection.QueryAsync<TaskRow>(
            $"UPDATE tasks SET status = '{TaskStatuses.Failed}', error = 'Timed out: the task ran longer than its timeoutSeconds (' || CAST(timeout_seconds AS TEXT) || ' s).', " +
            "lease_token_hash = NULL, lease_expires_at = NULL, finished_at = @now, updated_at = @now " +
            $"WHERE {TimedOutSql} RETURNING {Columns}", new { now = change.Now }, change.Transaction)).AsList();

    /// <summary>LeaseExpired: running tasks whose lease expired → queued while attempts remain, else failed.</summary>
    public static async Task<IReadOnlyList<TaskRow>> ExpireLeasesAsync(Change change) =>
        (await change.Connection.QueryAsync<TaskRow>(
            RetryOrFailSet("TRUE") + ", " +
            $"error = CASE WHEN {TaskStateMachine.RetrySql("TRUE")} THEN error ELSE 'Lease expired on attempt ' || CAST(attempts AS TEXT) || ' of ' || CAST(max_attempts AS TEXT) || ': the agent stopped heartbeating.' END " +
            $"WHERE {LeaseExpiredSql} RETURNING {Columns}", new { now = change.Now }, change.Transaction)).AsList();

    /// <summary>Reserves <paramref name="count"/> log sequence numbers of an unfinished task; null when it is missing or finished.</summary>
    public static Task<long?> ReserveLogSeqAsync(Change change, Guid orgId, Guid id, int count) =>
        change.Connection.QuerySingleOrDefaultAsync<long?>(
            $"UPDATE tasks SET log_seq = log_seq + @count WHERE org_id = @orgId AND id = @id AND status IN ('{TaskStatuses.Queued}', '{TaskStatuses.Running}', '{TaskStatuses.AwaitingResponse}') RETURNING log_seq",
            new { orgId, id, count }, change.Transaction);

    /// <summary>
    /// The SET clause of a failed attempt: back to the queue (releasing agent and lease) when <see cref="TaskStateMachine.RetrySql"/>
    /// holds, else failed and finished. <paramref name="retryable"/> is a SQL boolean.
    /// </summary>
    private static string RetryOrFailSet(string retryable)
    {
        var retry = TaskStateMachine.RetrySql(retryable);
        return $"UPDATE tasks SET status = CASE WHEN {retry} THEN '{TaskStatuses.Queued}' ELSE '{TaskStatuses.Failed}' END, " +
            $"finished_at = CASE WHEN {retry} THEN NULL ELSE @now END, " +
            $"agent_id = CASE WHEN {retry} THEN NULL ELSE agent_id END, " +
            "lease_token_hash = NULL, lease_expires_at = NULL, updated_at = @now";
    }

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

    /// <summary>What the task's agent is handed besides its input (JSON): its workflow run and step, its role's model alias and prompt template.</summary>
    public string? Context { get; set; }

    /// <summary>Not stored: on a failure reported by the agent, whether it asked for (true) or refused (false) a retry; null when it said nothing.</summary>
    public bool? RetryRequested { get; set; }

    /// <summary>The ids of the tasks this one depends on, as a JSON array; null when none.</summary>
    public string? DependsOn { get; set; }

    /// <summary>Some task depends on this one: its final transition settles them.</summary>
    public bool HasDependents { get; set; }

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
        DbTime.FromDb(CreatedAt), DbTime.FromDb(StartedAt), DbTime.FromDb(FinishedAt), DbTime.FromDb(UpdatedAt), JsonText.ParseStored(Context),
        DependsOn is null ? null : JsonSerializer.Deserialize<Guid[]>(DependsOn));
}

/// <summary>A task that a new task depends on, and its status when the creation locked it.</summary>
public sealed class DependencyRow
{
    public Guid Id { get; set; }
    public string Status { get; set; } = "";
}
