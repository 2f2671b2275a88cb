using System.Data.Common;
using System.Text.Json;
using Clarity.Features.Tasks;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Clarifications;

public sealed class ClarificationStore(Database db)
{
    private const string Columns =
        "id AS Id, org_id AS OrgId, task_id AS TaskId, question AS Question, options AS Options, status AS Status, on_expiry AS OnExpiry, " +
        "default_answer AS DefaultAnswer, answer AS Answer, answered_by AS AnsweredBy, created_at AS CreatedAt, expires_at AS ExpiresAt, answered_at AS AnsweredAt";

    /// <summary>Asks the question and parks the task in awaiting_response, fenced by the lease token. Null when the task is not running under that lease.</summary>
    public Task<(ClarificationRow Clarification, TaskRow Task)?> CreateAsync(ClarificationRow row, string leaseHash, CancellationToken ct) =>
        db.WriteAsync<(ClarificationRow, TaskRow)?>(async (c, t) =>
        {
            var task = await c.QuerySingleOrDefaultAsync<TaskRow>(
                "UPDATE tasks SET status = 'awaiting_response', awaiting_since = @CreatedAt, updated_at = @CreatedAt " +
                $"WHERE org_id = @OrgId AND id = @TaskId AND lease_token_hash = @leaseHash AND status = 'running' RETURNING {TaskStore.Columns}",
                new { row.OrgId, row.TaskId, row.CreatedAt, leaseHash }, t);
            if (task is null)
            {
                return null;
            }

            await c.ExecuteAsync(
                "INSERT INTO clarifications (id, org_id, task_id, question, options, status, on_expiry, default_answer, created_at, expires_at) " +
                "VALUES (@Id, @OrgId, @TaskId, @Question, @Options, 'pending', @OnExpiry, @DefaultAnswer, @CreatedAt, @ExpiresAt)",
                row, t);
            return (row, task);
        }, ct);

    public async Task<ClarificationRow?> GetAsync(Guid orgId, Guid id, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<ClarificationRow>($"SELECT {Columns} FROM clarifications WHERE org_id = @orgId AND id = @id", new { orgId, id });
    }

    public async Task<IReadOnlyList<ClarificationRow>> ListAsync(Guid orgId, string? status, Guid? before, int limit, CancellationToken ct)
    {
        var sql = $"SELECT {Columns} FROM clarifications WHERE org_id = @orgId";
        if (status is not null)
        {
            sql += " AND status = @status";
        }

        if (before is not null)
        {
            sql += " AND id < @before";
        }

        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<ClarificationRow>(sql + " ORDER BY id DESC LIMIT @limit", new { orgId, status, before, limit })).AsList();
    }

    public async Task<IReadOnlyList<ClarificationRow>> ListForTaskAsync(Guid orgId, Guid taskId, int limit, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<ClarificationRow>(
            $"SELECT {Columns} FROM clarifications WHERE task_id = @taskId AND org_id = @orgId ORDER BY id LIMIT @limit", new { orgId, taskId, limit })).AsList();
    }

    /// <summary>Records the answer and resumes the task. Null when the clarification is not pending (or not found).</summary>
    public Task<(ClarificationRow Clarification, TaskRow? Task)?> AnswerAsync(Guid orgId, Guid id, string answer, Guid answeredBy, long now, int defaultLeaseSeconds, CancellationToken ct) =>
        db.WriteAsync<(ClarificationRow, TaskRow?)?>(async (c, t) =>
        {
            var row = await c.QuerySingleOrDefaultAsync<ClarificationRow>(
                "UPDATE clarifications SET status = 'answered', answer = @answer, answered_by = @answeredBy, answered_at = @now " +
                $"WHERE org_id = @orgId AND id = @id AND status = 'pending' RETURNING {Columns}",
                new { orgId, id, answer, answeredBy, now }, t);
            if (row is null)
            {
                return null;
            }

            return (row, await ResumeTaskAsync(c, t, row.TaskId, now, defaultLeaseSeconds));
        }, ct);

    /// <summary>
    /// Expires every pending clarification past its time: with onExpiry=default it is answered with the default
    /// answer and the task resumes; with onExpiry=fail the task fails.
    /// </summary>
    public Task<IReadOnlyList<(ClarificationRow Clarification, TaskRow? Task)>> ExpireAsync(long now, int defaultLeaseSeconds, CancellationToken ct) =>
        db.WriteAsync<IReadOnlyList<(ClarificationRow, TaskRow?)>>(async (c, t) =>
        {
            var due = (await c.QueryAsync<ClarificationRow>(
                $"SELECT {Columns} FROM clarifications WHERE status = 'pending' AND expires_at < @now ORDER BY expires_at LIMIT 500 {db.Dialect.ClaimLock}",
                new { now }, t)).AsList();
            var changed = new List<(ClarificationRow, TaskRow?)>();
            foreach (var row in due)
            {
                var useDefault = row.OnExpiry == OnExpiry.Default;
                var updated = await c.QuerySingleOrDefaultAsync<ClarificationRow>(
                    "UPDATE clarifications SET status = 'expired', answer = @answer, answered_at = @now " +
                    $"WHERE id = @Id AND status = 'pending' RETURNING {Columns}",
                    new { row.Id, answer = useDefault ? row.DefaultAnswer : null, now }, t);
                if (updated is null)
                {
                    continue;
                }

                var task = useDefault
                    ? await ResumeTaskAsync(c, t, row.TaskId, now, defaultLeaseSeconds)
                    : await c.QuerySingleOrDefaultAsync<TaskRow>(
                        "UPDATE tasks SET status = 'failed', error = 'The clarification expired without an answer.', lease_token_hash = NULL, " +
                        "lease_expires_at = NULL, awaiting_since = NULL, finished_at = @now, updated_at = @now " +
                        $"WHERE id = @TaskId AND status = 'awaiting_response' RETURNING {TaskStore.Columns}",
                        new { row.TaskId, now }, t);
                changed.Add((updated, task));
            }

            return changed;
        }, ct);

    // The time spent waiting for people does not count against the task's timeout, and the agent gets a fresh lease.
    private static Task<TaskRow?> ResumeTaskAsync(DbConnection c, DbTransaction t, Guid taskId, long now, int defaultLeaseSeconds) =>
        c.QuerySingleOrDefaultAsync<TaskRow>(
            "UPDATE tasks SET status = 'running', deadline_at = deadline_at + (@now - awaiting_since), awaiting_since = NULL, " +
            $"lease_expires_at = @now + COALESCE(lease_seconds, @defaultLeaseSeconds) * 1000, updated_at = @now WHERE id = @taskId AND status = 'awaiting_response' RETURNING {TaskStore.Columns}",
            new { taskId, now, defaultLeaseSeconds }, t);

    /// <summary>How many clarifications are pending in each org that has any (read on every metrics scrape, so it is right on every node).</summary>
    public async Task<IReadOnlyList<(Guid OrgId, long Count)>> CountPendingByOrgAsync(CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var rows = await c.QueryAsync<PendingCount>(
            new CommandDefinition("SELECT org_id AS OrgId, COUNT(*) AS Count FROM clarifications WHERE status = 'pending' GROUP BY org_id", cancellationToken: ct));
        return [.. rows.Select(r => (r.OrgId, r.Count))];
    }

    private sealed class PendingCount
    {
        public Guid OrgId { get; set; }
        public long Count { get; set; }
    }

    public static string? OptionsJson(IReadOnlyList<string>? options) => options is null ? null : JsonSerializer.Serialize(options);
}

public sealed class ClarificationRow
{
    public Guid Id { get; set; }
    public Guid OrgId { get; set; }
    public Guid TaskId { get; set; }
    public string Question { get; set; } = "";
    public string? Options { get; set; }
    public string Status { get; set; } = "";
    public string OnExpiry { get; set; } = "";
    public string? DefaultAnswer { get; set; }
    public string? Answer { get; set; }
    public Guid? AnsweredBy { get; set; }
    public long CreatedAt { get; set; }
    public long ExpiresAt { get; set; }
    public long? AnsweredAt { get; set; }

    public Clarification ToModel() => new(
        Id, TaskId, Question, Options is null ? null : JsonSerializer.Deserialize<string[]>(Options), Status, OnExpiry, DefaultAnswer, Answer, AnsweredBy,
        DbTime.FromDb(CreatedAt), DbTime.FromDb(ExpiresAt), DbTime.FromDb(AnsweredAt));
}
