using System.Text;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Workflows.Runs;

/// <summary>
/// Run, step, vote and signal rows. Every write takes the caller's <see cref="Change"/> and is made under the run row's
/// lock (<see cref="LockRunAsync"/>), which the engine takes first in every unit of work that touches a run: that is
/// what keeps two nodes (or a task completion racing a vote) from moving the same run at once. One SQL text per query
/// for both backends.
/// </summary>
public sealed class RunStore(Database db)
{
    internal const string RunColumns =
        "id AS Id, org_id AS OrgId, workflow_id AS WorkflowId, workflow_name AS WorkflowName, version AS Version, status AS Status, " +
        "input AS Input, output AS Output, error AS Error, debug AS Debug, breakpoints AS Breakpoints, parent_run_id AS ParentRunId, " +
        "parent_step_id AS ParentStepId, depth AS Depth, created_by_kind AS CreatedByKind, created_by_id AS CreatedById, " +
        "created_at AS CreatedAt, finished_at AS FinishedAt, updated_at AS UpdatedAt";

    internal const string StepColumns =
        "run_id AS RunId, step_id AS StepId, org_id AS OrgId, kind AS Kind, position AS Position, status AS Status, needs_left AS NeedsLeft, " +
        "held AS Held, skip_reason AS SkipReason, attempts AS Attempts, task_id AS TaskId, child_run_id AS ChildRunId, input AS Input, " +
        "output AS Output, error AS Error, wake_at AS WakeAt, ready_at AS ReadyAt, dispatched_at AS DispatchedAt, started_at AS StartedAt, " +
        "finished_at AS FinishedAt, awaiting_since AS AwaitingSince, awaiting_ms AS AwaitingMs, updated_at AS UpdatedAt";

    private const string VoteColumns = "run_id AS RunId, step_id AS StepId, user_id AS UserId, decision AS Decision, comment AS Comment, created_at AS CreatedAt";

    public Database Database => db;

    public static Task InsertRunAsync(Change change, RunRow run) =>
        change.Connection.ExecuteAsync(
            "INSERT INTO workflow_runs (id, org_id, workflow_id, workflow_name, version, status, input, debug, breakpoints, parent_run_id, parent_step_id, depth, " +
            "created_by_kind, created_by_id, created_at, updated_at) VALUES (@Id, @OrgId, @WorkflowId, @WorkflowName, @Version, @Status, @Input, @Debug, " +
            "@Breakpoints, @ParentRunId, @ParentStepId, @Depth, @CreatedByKind, @CreatedById, @CreatedAt, @UpdatedAt)", run, change.Transaction);

    /// <summary>Inserts a run's steps, many rows per statement.</summary>
    public static async Task InsertStepsAsync(Change change, IReadOnlyList<StepRow> steps)
    {
        const int chunk = 100;
        for (var offset = 0; offset < steps.Count; offset += chunk)
        {
            var count = Math.Min(chunk, steps.Count - offset);
            var sql = new StringBuilder("INSERT INTO workflow_run_steps (run_id, step_id, org_id, kind, position, status, needs_left, updated_at) VALUES ");
            var parameters = new DynamicParameters();
            parameters.Add("run", steps[offset].RunId);
            parameters.Add("org", steps[offset].OrgId);
            parameters.Add("now", change.Now);
            for (var i = 0; i < count; i++)
            {
                var step = steps[offset + i];
                sql.Append(i == 0 ? "" : ", ").Append($"(@run, @s{i}, @org, @k{i}, @p{i}, '{StepStatuses.Pending}', @n{i}, @now)");
                parameters.Add($"s{i}", step.StepId);
                parameters.Add($"k{i}", step.Kind);
                parameters.Add($"p{i}", step.Position);
                parameters.Add($"n{i}", step.NeedsLeft);
            }

            await change.Connection.ExecuteAsync(sql.ToString(), parameters, change.Transaction);
        }
    }

    /// <summary>
    /// Locks the run for this unit of work and reads it (on PostgreSQL the UPDATE holds the row lock until the commit;
    /// SQLite has one writer). Null when the run is not the org's.
    /// </summary>
    public static Task<RunRow?> LockRunAsync(Change change, Guid orgId, Guid runId) =>
        change.Connection.QuerySingleOrDefaultAsync<RunRow>(
            $"UPDATE workflow_runs SET updated_at = @now WHERE id = @runId AND org_id = @orgId RETURNING {RunColumns}",
            new { runId, orgId, now = change.Now }, change.Transaction);

    /// <summary>
    /// <see cref="LockRunAsync"/> and the read of one of the run's steps, on PostgreSQL in one round trip: the step is read
    /// once the lock is held (each statement of the batch takes its own snapshot, after the lock's wait). Both null when
    /// the run is not the org's; the step null when the run has no such step.
    /// </summary>
    public static async Task<(RunRow? Run, StepRow? Step)> LockRunWithStepAsync(Change change, Guid orgId, Guid runId, string stepId)
    {
        if (change.Dialect.Kind == DatabaseKind.Sqlite)
        {
            // In process there is no round trip to save, and one statement per command keeps SQLite's binding cheap (SaveStepsAsync).
            var locked = await LockRunAsync(change, orgId, runId);
            return locked is null ? (null, null) : (locked, await GetStepAsync(change, runId, stepId));
        }

        using var grid = await change.Connection.QueryMultipleAsync(
            $"UPDATE workflow_runs SET updated_at = @now WHERE id = @runId AND org_id = @orgId RETURNING {RunColumns}; " +
            $"SELECT {StepColumns} FROM workflow_run_steps WHERE run_id = @runId AND step_id = @stepId AND org_id = @orgId",
            new { runId, orgId, stepId, now = change.Now }, change.Transaction);
        var run = await grid.ReadSingleOrDefaultAsync<RunRow>();
        var step = await grid.ReadSingleOrDefaultAsync<StepRow>();
        return run is null ? (null, null) : (run, step);
    }

    public static Task SaveRunAsync(Change change, RunRow run) =>
        change.Connection.ExecuteAsync(
            "UPDATE workflow_runs SET status = @Status, output = @Output, error = @Error, debug = @Debug, breakpoints = @Breakpoints, " +
            "finished_at = @FinishedAt, updated_at = @UpdatedAt WHERE id = @Id", run, change.Transaction);

    public static Task<StepRow?> GetStepAsync(Change change, Guid runId, string stepId) =>
        change.Connection.QuerySingleOrDefaultAsync<StepRow>(
            $"SELECT {StepColumns} FROM workflow_run_steps WHERE run_id = @runId AND step_id = @stepId", new { runId, stepId }, change.Transaction);

    public static async Task<IReadOnlyList<StepRow>> GetStepsAsync(Change change, Guid runId, IReadOnlyCollection<string>? stepIds = null)
    {
        if (stepIds is { Count: 0 })
        {
            return [];
        }

        var sql = $"SELECT {StepColumns} FROM workflow_run_steps WHERE run_id = @runId";
        if (stepIds is not null)
        {
            sql += " AND " + change.Dialect.InList("step_id", "@stepIds");
        }

        return (await change.Connection.QueryAsync<StepRow>(sql, new { runId, stepIds = stepIds?.ToArray() }, change.Transaction)).AsList();
    }

    /// <summary>Writes every mutable column of a step (the engine changes steps only under the run's lock).</summary>
    public static Task SaveStepAsync(Change change, StepRow step) =>
        change.Connection.ExecuteAsync(SaveStepSql, step, change.Transaction);

    /// <summary>
    /// <see cref="SaveStepAsync"/> for many steps (a fan-out's dispatch saves a step for every task it creates, all under
    /// the run's lock). PostgreSQL gets one statement over arrays, as the audit chainer's update does. SQLite, in process,
    /// gets a statement per step: there is no round trip to save.
    /// </summary>
    public static async Task SaveStepsAsync(Change change, IReadOnlyList<StepRow> steps)
    {
        if (change.Dialect.Kind == DatabaseKind.Sqlite)
        {
            foreach (var step in steps)
            {
                await SaveStepAsync(change, step);
            }

            return;
        }

        await change.Connection.ExecuteAsync(
            "UPDATE workflow_run_steps s SET status = u.status, needs_left = u.needs_left, held = u.held, skip_reason = u.skip_reason, attempts = u.attempts, " +
            "task_id = u.task_id, child_run_id = u.child_run_id, input = u.input, output = u.output, error = u.error, wake_at = u.wake_at, ready_at = u.ready_at, " +
            "dispatched_at = u.dispatched_at, started_at = u.started_at, finished_at = u.finished_at, awaiting_since = u.awaiting_since, awaiting_ms = u.awaiting_ms, " +
            "updated_at = u.updated_at " +
            "FROM unnest(@runs::uuid[], @steps::text[], @statuses::text[], @needsLeft::bigint[], @held::bigint[], @skipReasons::text[], @attempts::bigint[], " +
            "@tasks::uuid[], @childRuns::uuid[], @inputs::text[], @outputs::text[], @errors::text[], @wakeAts::bigint[], @readyAts::bigint[], " +
            "@dispatchedAts::bigint[], @startedAts::bigint[], @finishedAts::bigint[], @awaitingSinces::bigint[], @awaitingMs::bigint[], @updatedAts::bigint[]) " +
            "AS u(run_id, step_id, status, needs_left, held, skip_reason, attempts, task_id, child_run_id, input, output, error, wake_at, ready_at, " +
            "dispatched_at, started_at, finished_at, awaiting_since, awaiting_ms, updated_at) " +
            "WHERE s.run_id = u.run_id AND s.step_id = u.step_id",
            new
            {
                runs = steps.Select(s => s.RunId).ToArray(),
                steps = steps.Select(s => s.StepId).ToArray(),
                statuses = steps.Select(s => s.Status).ToArray(),
                needsLeft = steps.Select(s => s.NeedsLeft).ToArray(),
                held = steps.Select(s => s.Held).ToArray(),
                skipReasons = steps.Select(s => s.SkipReason).ToArray(),
                attempts = steps.Select(s => s.Attempts).ToArray(),
                tasks = steps.Select(s => s.TaskId).ToArray(),
                childRuns = steps.Select(s => s.ChildRunId).ToArray(),
                inputs = steps.Select(s => s.Input).ToArray(),
                outputs = steps.Select(s => s.Output).ToArray(),
                errors = steps.Select(s => s.Error).ToArray(),
                wakeAts = steps.Select(s => s.WakeAt).ToArray(),
                readyAts = steps.Select(s => s.ReadyAt).ToArray(),
                dispatchedAts = steps.Select(s => s.DispatchedAt).ToArray(),
                startedAts = steps.Select(s => s.StartedAt).ToArray(),
                finishedAts = steps.Select(s => s.FinishedAt).ToArray(),
                awaitingSinces = steps.Select(s => s.AwaitingSince).ToArray(),
                awaitingMs = steps.Select(s => s.AwaitingMs).ToArray(),
                updatedAts = steps.Select(s => s.UpdatedAt).ToArray(),
            },
            change.Transaction);
    }

    private const string SaveStepSql =
        "UPDATE workflow_run_steps SET status = @Status, needs_left = @NeedsLeft, held = @Held, skip_reason = @SkipReason, attempts = @Attempts, " +
        "task_id = @TaskId, child_run_id = @ChildRunId, input = @Input, output = @Output, error = @Error, wake_at = @WakeAt, ready_at = @ReadyAt, " +
        "dispatched_at = @DispatchedAt, started_at = @StartedAt, finished_at = @FinishedAt, awaiting_since = @AwaitingSince, awaiting_ms = @AwaitingMs, " +
        "updated_at = @UpdatedAt WHERE run_id = @RunId AND step_id = @StepId";

    /// <summary>One need of each pending step is satisfied: counts down and returns each pending step's needs left (0: ready).</summary>
    public static Task<IReadOnlyList<(string StepId, long NeedsLeft)>> SatisfyNeedAsync(Change change, Guid runId, IReadOnlyList<string> stepIds) =>
        SatisfyNeedAsync(change, runId, stepIds, saved: null);

    /// <summary>
    /// <see cref="SaveStepAsync"/> of a step that finished and satisfies its dependents, and <see cref="SatisfyNeedAsync(Change, Guid, IReadOnlyList{string})"/>
    /// of those dependents, on PostgreSQL in one round trip (the step is not one of its own dependents, so the order of the
    /// two does not matter).
    /// </summary>
    public static Task<IReadOnlyList<(string StepId, long NeedsLeft)>> SaveStepAndSatisfyAsync(Change change, StepRow step, IReadOnlyList<string> dependents) =>
        SatisfyNeedAsync(change, step.RunId, dependents, saved: step);

    private static async Task<IReadOnlyList<(string StepId, long NeedsLeft)>> SatisfyNeedAsync(Change change, Guid runId, IReadOnlyList<string> stepIds, StepRow? saved)
    {
        if (saved is not null && change.Dialect.Kind == DatabaseKind.Sqlite)
        {
            // As in LockRunWithStepAsync: one statement per command in process.
            await SaveStepAsync(change, saved);
            saved = null;
        }

        // The count-down's parameter names differ from every StepRow column's, so a saved step's own parameters never shadow them.
        var parameters = saved is null ? new DynamicParameters() : new DynamicParameters(saved);
        parameters.Add("satisfyRun", runId);
        parameters.Add("satisfyAt", change.Now);
        string filter;
        if (stepIds.Count == 1)
        {
            filter = "step_id = @dependent";
            parameters.Add("dependent", stepIds[0]);
        }
        else
        {
            filter = change.Dialect.InList("step_id", "@dependents");
            parameters.Add("dependents", stepIds.ToArray());
        }

        // The save (PostgreSQL only) returns no rows, so the reader's one result set is the count-down's.
        return (await change.Connection.QueryAsync<(string, long)>(
            (saved is null ? "" : SaveStepSql + "; ") +
            $"UPDATE workflow_run_steps SET needs_left = needs_left - 1, updated_at = @satisfyAt WHERE run_id = @satisfyRun AND {filter} " +
            $"AND status = '{StepStatuses.Pending}' RETURNING step_id, needs_left", parameters, change.Transaction)).AsList();
    }

    /// <summary>Whether any step of the run is still open (pending, waiting or running).</summary>
    public static async Task<bool> AnyOpenStepAsync(Change change, Guid runId) =>
        await change.Connection.ExecuteScalarAsync<long?>(
            $"SELECT 1 FROM workflow_run_steps WHERE run_id = @runId AND status IN ('{StepStatuses.Pending}', '{StepStatuses.Waiting}', '{StepStatuses.Running}') LIMIT 1",
            new { runId }, change.Transaction) is not null;

    /// <summary>The steps that are ready to dispatch: pending, nothing left to wait for, not held, no timer.</summary>
    public static async Task<IReadOnlyList<string>> ReadyStepIdsAsync(Change change, Guid runId) =>
        (await change.Connection.QueryAsync<string>(
            $"SELECT step_id FROM workflow_run_steps WHERE run_id = @runId AND status = '{StepStatuses.Pending}' AND needs_left = 0 AND held = 0 AND wake_at IS NULL ORDER BY position",
            new { runId }, change.Transaction)).AsList();

    /// <summary>Steps whose timer is due: (run, step) pairs, oldest first.</summary>
    public async Task<IReadOnlyList<(Guid OrgId, Guid RunId, string StepId)>> DueAsync(long now, int limit, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<(Guid, Guid, string)>(
            "SELECT org_id, run_id, step_id FROM workflow_run_steps WHERE wake_at IS NOT NULL AND wake_at <= @now ORDER BY wake_at LIMIT @limit",
            new { now, limit })).AsList();
    }

    /// <summary>Records a vote; false when this person already voted on the step.</summary>
    public static async Task<bool> InsertVoteAsync(Change change, Guid runId, string stepId, Guid userId, string decision, string? comment) =>
        await change.Connection.ExecuteAsync(
            "INSERT INTO workflow_run_votes (run_id, step_id, user_id, decision, comment, created_at) VALUES (@runId, @stepId, @userId, @decision, @comment, @now) " +
            "ON CONFLICT (run_id, step_id, user_id) DO NOTHING",
            new { runId, stepId, userId, decision, comment, now = change.Now }, change.Transaction) == 1;

    public static async Task<IReadOnlyList<VoteRow>> VotesAsync(Change change, Guid runId, string stepId) =>
        (await change.Connection.QueryAsync<VoteRow>(
            $"SELECT {VoteColumns} " +
            "FROM workflow_run_votes WHERE run_id = @runId AND step_id = @stepId ORDER BY created_at, user_id", new { runId, stepId }, change.Transaction)).AsList();

    /// <summary>Deletes a step's votes (a retried approval starts a fresh tally).</summary>
    public static Task ClearVotesAsync(Change change, Guid runId, string stepId) =>
        change.Connection.ExecuteAsync("DELETE FROM workflow_run_votes WHERE run_id = @runId AND step_id = @stepId", new { runId, stepId }, change.Transaction);

    public static Task InsertSignalAsync(Change change, SignalRow signal) =>
        change.Connection.ExecuteAsync(
            "INSERT INTO workflow_run_signals (id, run_id, name, payload, created_at, consumed_at, consumed_by) VALUES (@Id, @RunId, @Name, @Payload, @CreatedAt, @ConsumedAt, @ConsumedBy)",
            signal, change.Transaction);

    /// <summary>Takes the oldest kept signal of this name (marks it consumed by the step); null when none is kept.</summary>
    public static Task<SignalRow?> TakeKeptSignalAsync(Change change, Guid runId, string name, string stepId) =>
        change.Connection.QuerySingleOrDefaultAsync<SignalRow>(
            "UPDATE workflow_run_signals SET consumed_at = @now, consumed_by = @stepId WHERE id = (SELECT id FROM workflow_run_signals " +
            "WHERE run_id = @runId AND name = @name AND consumed_at IS NULL ORDER BY id LIMIT 1) " +
            "RETURNING id AS Id, run_id AS RunId, name AS Name, payload AS Payload, created_at AS CreatedAt, consumed_at AS ConsumedAt, consumed_by AS ConsumedBy",
            new { runId, name, stepId, now = change.Now }, change.Transaction);

    /// <summary>
    /// Locks the open tasks of a run and of its child runs (PostgreSQL; SQLite has one writer), in id order, before the
    /// run itself is locked: a task's completion locks its task and then its run, so a cancel or a skip that will cancel
    /// tasks takes its locks in that same order and the two cannot deadlock.
    /// </summary>
    public static Task LockOpenTasksAsync(Change change, Guid orgId, Guid runId) =>
        change.Dialect.ForUpdate.Length == 0 ? Task.CompletedTask : change.Connection.ExecuteAsync(
            "WITH RECURSIVE tree(id) AS (SELECT id FROM workflow_runs WHERE id = @runId AND org_id = @orgId " +
            "UNION ALL SELECT r.id FROM workflow_runs r JOIN tree ON r.parent_run_id = tree.id) " +
            "SELECT id FROM tasks WHERE run_id IN (SELECT id FROM tree) AND status IN ('queued', 'running', 'awaiting_response') ORDER BY id " +
            change.Dialect.ForUpdate, new { runId, orgId }, change.Transaction);

    // Reads outside a change.

    public async Task<RunRow?> GetRunAsync(Guid orgId, Guid runId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<RunRow>($"SELECT {RunColumns} FROM workflow_runs WHERE id = @runId AND org_id = @orgId", new { runId, orgId });
    }

    public async Task<(IReadOnlyList<StepRow> Steps, IReadOnlyList<VoteRow> Votes)> GetStepsAndVotesAsync(Guid runId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var steps = (await c.QueryAsync<StepRow>($"SELECT {StepColumns} FROM workflow_run_steps WHERE run_id = @runId ORDER BY position", new { runId })).AsList();
        // A running task step's start is its task's claim (the engine stores it when the step finishes).
        var running = steps.Where(s => s is { Status: StepStatuses.Running, StartedAt: null, TaskId: not null }).ToList();
        if (running.Count > 0)
        {
            var started = (await c.QueryAsync<(Guid Id, long? StartedAt)>(
                $"SELECT id, started_at FROM tasks WHERE {db.Dialect.InList("id", "@ids")}", new { ids = running.Select(s => s.TaskId!.Value).ToArray() }))
                .ToDictionary(t => t.Id, t => t.StartedAt);
            foreach (var step in running)
            {
                step.StartedAt = started.GetValueOrDefault(step.TaskId!.Value);
            }
        }

        var votes = (await c.QueryAsync<VoteRow>(
            $"SELECT {VoteColumns} " +
            "FROM workflow_run_votes WHERE run_id = @runId ORDER BY created_at, user_id", new { runId })).AsList();
        return (steps, votes);
    }

    public async Task<IReadOnlyList<RunRow>> ListRunsAsync(Guid orgId, Guid? workflowId, string? status, Guid? parentRunId, Guid? before, int limit, CancellationToken ct)
    {
        var sql = $"SELECT {RunColumns} FROM workflow_runs WHERE org_id = @orgId";
        if (workflowId is not null)
        {
            sql += " AND workflow_id = @workflowId";
        }

        if (status is not null)
        {
            sql += " AND status = @status";
        }

        if (parentRunId is not null)
        {
            sql += " AND parent_run_id = @parentRunId";
        }

        if (before is not null)
        {
            sql += " AND id < @before";
        }

        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<RunRow>(sql + " ORDER BY id DESC LIMIT @limit", new { orgId, workflowId, status, parentRunId, before, limit })).AsList();
    }

    /// <summary>The org's approval steps waiting for votes, with their runs' workflow and requester, newest first.</summary>
    public async Task<IReadOnlyList<(StepRow Step, RunRow Run)>> WaitingApprovalsAsync(Guid orgId, int limit, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var steps = (await c.QueryAsync<StepRow>(
            $"SELECT {StepColumns} FROM workflow_run_steps WHERE org_id = @orgId AND kind = 'approval' AND status = '{StepStatuses.Waiting}' ORDER BY ready_at DESC LIMIT @limit",
            new { orgId, limit })).AsList();
        if (steps.Count == 0)
        {
            return [];
        }

        var runIds = steps.Select(s => s.RunId).Distinct().ToArray();
        var runs = (await c.QueryAsync<RunRow>($"SELECT {RunColumns} FROM workflow_runs WHERE {db.Dialect.InList("id", "@runIds")}", new { runIds }))
            .ToDictionary(r => r.Id);
        return [.. steps.Where(s => runs.ContainsKey(s.RunId)).Select(s => (s, runs[s.RunId]))];
    }

    /// <summary>The votes cast on these runs' steps, in one read.</summary>
    public async Task<IReadOnlyList<VoteRow>> VotesOfRunsAsync(IReadOnlyCollection<Guid> runIds, CancellationToken ct)
    {
        if (runIds.Count == 0)
        {
            return [];
        }

        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<VoteRow>(
            $"SELECT {VoteColumns} " +
            $"FROM workflow_run_votes WHERE {db.Dialect.InList("run_id", "@runIds")}", new { runIds = runIds.ToArray() })).AsList();
    }

    /// <summary>Per-step durations (finished minus ready) across the version's finished runs, for the bottleneck table.</summary>
    public async Task<IReadOnlyList<(string StepId, string Kind, long Ms)>> StepDurationsAsync(Guid workflowId, long version, int runs, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<(string, string, long)>(
            "SELECT s.step_id, s.kind, s.finished_at - s.ready_at FROM workflow_run_steps s JOIN (SELECT id FROM workflow_runs WHERE workflow_id = @workflowId " +
            $"AND version = @version AND status IN ('{RunStatuses.Succeeded}', '{RunStatuses.Failed}') ORDER BY id DESC LIMIT @runs) r ON r.id = s.run_id " +
            $"WHERE s.status = '{StepStatuses.Succeeded}' AND s.ready_at IS NOT NULL AND s.finished_at IS NOT NULL",
            new { workflowId, version, runs })).AsList();
    }
}

public sealed class RunRow
{
    public Guid Id { get; set; }
    public Guid OrgId { get; set; }
    public Guid WorkflowId { get; set; }
    public string WorkflowName { get; set; } = "";
    public long Version { get; set; }
    public string Status { get; set; } = "";
    public string Input { get; set; } = "{}";
    public string? Output { get; set; }
    public string? Error { get; set; }
    public long Debug { get; set; }
    public string Breakpoints { get; set; } = "[]";
    public Guid? ParentRunId { get; set; }
    public string? ParentStepId { get; set; }
    public long Depth { get; set; }
    public string CreatedByKind { get; set; } = "";
    public Guid? CreatedById { get; set; }
    public long CreatedAt { get; set; }
    public long? FinishedAt { get; set; }
    public long UpdatedAt { get; set; }
}

public sealed class StepRow
{
    public Guid RunId { get; set; }
    public string StepId { get; set; } = "";
    public Guid OrgId { get; set; }
    public string Kind { get; set; } = "";
    public long Position { get; set; }
    public string Status { get; set; } = "";
    public long NeedsLeft { get; set; }
    public long Held { get; set; }
    public string? SkipReason { get; set; }
    public long Attempts { get; set; }
    public Guid? TaskId { get; set; }
    public Guid? ChildRunId { get; set; }
    public string? Input { get; set; }
    public string? Output { get; set; }
    public string? Error { get; set; }
    public long? WakeAt { get; set; }
    public long? ReadyAt { get; set; }
    public long? DispatchedAt { get; set; }
    public long? StartedAt { get; set; }
    public long? FinishedAt { get; set; }
    public long? AwaitingSince { get; set; }
    public long AwaitingMs { get; set; }
    public long UpdatedAt { get; set; }
}

public sealed class VoteRow
{
    public Guid RunId { get; set; }
    public string StepId { get; set; } = "";
    public Guid UserId { get; set; }
    public string Decision { get; set; } = "";
    public string? Comment { get; set; }
    public long CreatedAt { get; set; }
}

public sealed class SignalRow
{
    public Guid Id { get; set; }
    public Guid RunId { get; set; }
    public string Name { get; set; } = "";
    public string? Payload { get; set; }
    public long CreatedAt { get; set; }
    public long? ConsumedAt { get; set; }
    public string? ConsumedBy { get; set; }
}
