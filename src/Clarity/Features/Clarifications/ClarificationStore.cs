using System.Text.Json;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Clarifications;

public sealed class ClarificationStore(Database db)
{
    private const string Columns =
        "id AS Id, org_id AS OrgId, task_id AS TaskId, question AS Question, options AS Options, status AS Status, on_expiry AS OnExpiry, " +
        "default_answer AS DefaultAnswer, answer AS Answer, answered_by AS AnsweredBy, answered_via AS AnsweredVia, answered_by_name AS AnsweredByName, created_at AS CreatedAt, expires_at AS ExpiresAt, answered_at AS AnsweredAt";

    /// <summary>Inserts a pending clarification inside the change (the task's Ask transition happens alongside).</summary>
    public static Task InsertAsync(Change change, ClarificationRow row) =>
        change.Connection.ExecuteAsync(
            "INSERT INTO clarifications (id, org_id, task_id, question, options, status, on_expiry, default_answer, created_at, expires_at) " +
            "VALUES (@Id, @OrgId, @TaskId, @Question, @Options, 'pending', @OnExpiry, @DefaultAnswer, @CreatedAt, @ExpiresAt)",
            row, change.Transaction);

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

    /// <summary>Records the answer of a pending clarification. Null when it is not pending (or not found).</summary>
    public static Task<ClarificationRow?> AnswerAsync(Change change, Guid orgId, Guid id, string answer, Answerer by) =>
        change.Connection.QuerySingleOrDefaultAsync<ClarificationRow>(
            "UPDATE clarifications SET status = 'answered', answer = @answer, answered_by = @actorId, answered_via = @via, answered_at = @now, " +
            "answered_by_name = COALESCE(@name, (SELECT email FROM users WHERE id = @actorId), (SELECT 'API key ' || name FROM api_keys WHERE id = @actorId)) " +
            $"WHERE org_id = @orgId AND id = @id AND status = 'pending' RETURNING {Columns}",
            new { orgId, id, answer, actorId = by.ActorId, name = by.Name, via = by.Via, now = change.Now }, change.Transaction);

    /// <summary>The pending clarifications past their expiry (at most 500), locked for this change on PostgreSQL.</summary>
    public async Task<IReadOnlyList<ClarificationRow>> DueAsync(Change change) =>
        (await change.Connection.QueryAsync<ClarificationRow>(
            $"SELECT {Columns} FROM clarifications WHERE status = 'pending' AND expires_at < @now ORDER BY expires_at LIMIT 500 {db.Dialect.ClaimLock}",
            new { now = change.Now }, change.Transaction)).AsList();

    /// <summary>Marks a pending clarification expired, with the default answer when it has one. Null when it is no longer pending.</summary>
    public static Task<ClarificationRow?> ExpireAsync(Change change, Guid id, string? answer) =>
        change.Connection.QuerySingleOrDefaultAsync<ClarificationRow>(
            "UPDATE clarifications SET status = 'expired', answer = @answer, answered_at = @now " +
            $"WHERE id = @id AND status = 'pending' RETURNING {Columns}",
            new { id, answer, now = change.Now }, change.Transaction);

    /// <summary>Cancels the task's pending clarifications (its task was cancelled) and returns them.</summary>
    public static async Task<IReadOnlyList<ClarificationRow>> CancelPendingAsync(Change change, Guid taskId) =>
        (await change.Connection.QueryAsync<ClarificationRow>(
            $"UPDATE clarifications SET status = 'cancelled' WHERE task_id = @taskId AND status = 'pending' RETURNING {Columns}",
            new { taskId }, change.Transaction)).AsList();

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
    public string? AnsweredVia { get; set; }
    public string? AnsweredByName { get; set; }
    public long CreatedAt { get; set; }
    public long ExpiresAt { get; set; }
    public long? AnsweredAt { get; set; }

    public Clarification ToModel() => new(
        Id, TaskId, Question, Options is null ? null : JsonSerializer.Deserialize<string[]>(Options), Status, OnExpiry, DefaultAnswer, Answer, AnsweredBy,
        DbTime.FromDb(CreatedAt), DbTime.FromDb(ExpiresAt), DbTime.FromDb(AnsweredAt), AnsweredVia, AnsweredByName);
}
