using System.Text.Json;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Notifications.OnCall;

/// <summary>Escalations and their timelines: the same SQL on both backends, the sweep's row lock from the dialect.</summary>
public sealed class EscalationStore(Database db)
{
    private const string Columns =
        "id AS Id, org_id AS OrgId, policy_id AS PolicyId, policy_name AS PolicyName, plan AS Plan, subject_kind AS SubjectKind, subject_id AS SubjectId, " +
        "correlation_id AS CorrelationId, started_at AS StartedAt, steps_paged AS StepsPaged, level_reached AS LevelReached, next_at AS NextAt, status AS Status, " +
        "acknowledged_by AS AcknowledgedBy, acknowledged_by_name AS AcknowledgedByName, acknowledged_at AS AcknowledgedAt, acknowledged_via AS AcknowledgedVia, " +
        "closed_at AS ClosedAt, is_drill AS IsDrill, rule_id AS RuleId";

    private const string EventColumns = "id AS Id, escalation_id AS EscalationId, org_id AS OrgId, at AS At, kind AS Kind, level AS Level, recipients AS Recipients, detail AS Detail";

    public static Task InsertAsync(Change change, EscalationRow row) =>
        change.Connection.ExecuteAsync(
            "INSERT INTO escalations (id, org_id, policy_id, policy_name, plan, subject_kind, subject_id, correlation_id, started_at, steps_paged, level_reached, next_at, status, is_drill, rule_id) " +
            "VALUES (@Id, @OrgId, @PolicyId, @PolicyName, @Plan, @SubjectKind, @SubjectId, @CorrelationId, @StartedAt, @StepsPaged, @LevelReached, @NextAt, @Status, @IsDrill, @RuleId)",
            row, change.Transaction);

    public static Task InsertEventAsync(Change change, EscalationEventRow row) =>
        change.Connection.ExecuteAsync(
            "INSERT INTO escalation_events (id, escalation_id, org_id, at, kind, level, recipients, detail) VALUES (@Id, @EscalationId, @OrgId, @At, @Kind, @Level, @Recipients, @Detail)",
            row, change.Transaction);

    public async Task<EscalationRow?> GetAsync(Guid orgId, Guid id, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<EscalationRow>($"SELECT {Columns} FROM escalations WHERE org_id = @orgId AND id = @id", new { orgId, id });
    }

    public async Task<IReadOnlyList<EscalationRow>> ListAsync(Guid orgId, Guid? subjectId, string? status, Guid? before, int limit, CancellationToken ct)
    {
        var sql = $"SELECT {Columns} FROM escalations WHERE org_id = @orgId";
        sql += subjectId is null ? "" : " AND subject_id = @subjectId";
        sql += status is null ? "" : " AND status = @status";
        sql += before is null ? "" : " AND id < @before";
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<EscalationRow>(sql + " ORDER BY id DESC LIMIT @limit", new { orgId, subjectId, status, before, limit })).AsList();
    }

    /// <summary>The escalation's timeline, oldest first (at most 500 entries).</summary>
    public async Task<IReadOnlyList<EscalationEventRow>> TimelineAsync(Guid escalationId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<EscalationEventRow>(
            $"SELECT {EventColumns} FROM escalation_events WHERE escalation_id = @escalationId ORDER BY at, id LIMIT 500", new { escalationId })).AsList();
    }

    /// <summary>The ids of open escalations due at <paramref name="now"/>, oldest due first (at most 200).</summary>
    public async Task<IReadOnlyList<Guid>> DueAsync(long now, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<Guid>(
            "SELECT id FROM escalations WHERE status = 'open' AND next_at <= @now ORDER BY next_at LIMIT 200", new { now })).AsList();
    }

    /// <summary>
    /// The escalation, locked for this change on PostgreSQL (a second sweep waits here, then sees the first one's
    /// update); null when it is no longer open or no longer due.
    /// </summary>
    public Task<EscalationRow?> LockDueAsync(Change change, Guid id, long now) =>
        change.Connection.QuerySingleOrDefaultAsync<EscalationRow>(
            $"SELECT {Columns} FROM escalations WHERE id = @id AND status = 'open' AND next_at <= @now {db.Dialect.ForUpdate}", new { id, now }, change.Transaction);

    /// <summary>Locks an escalation of the org for this change (any status), or null.</summary>
    public Task<EscalationRow?> LockAsync(Change change, Guid orgId, Guid id) =>
        change.Connection.QuerySingleOrDefaultAsync<EscalationRow>(
            $"SELECT {Columns} FROM escalations WHERE org_id = @orgId AND id = @id {db.Dialect.ForUpdate}", new { orgId, id }, change.Transaction);

    /// <summary>Records progress of an open escalation, fenced by the pages it had: false when someone else moved it first.</summary>
    public static async Task<bool> AdvanceAsync(Change change, Guid id, int pagedBefore, int paged, int levelReached, long? nextAt, string status, long? closedAt) =>
        await change.Connection.ExecuteAsync(
            "UPDATE escalations SET steps_paged = @paged, level_reached = @levelReached, next_at = @nextAt, status = @status, closed_at = @closedAt " +
            "WHERE id = @id AND status = 'open' AND steps_paged = @pagedBefore",
            new { id, pagedBefore, paged, levelReached, nextAt, status, closedAt }, change.Transaction) == 1;

    /// <summary>Acknowledges an open escalation; null when it is not open.</summary>
    public static Task<EscalationRow?> AcknowledgeAsync(Change change, Guid orgId, Guid id, Guid? by, string? byName, string via, long at) =>
        change.Connection.QuerySingleOrDefaultAsync<EscalationRow>(
            "UPDATE escalations SET status = 'acknowledged', acknowledged_by = @by, acknowledged_by_name = @byName, acknowledged_via = @via, acknowledged_at = @at, " +
            $"closed_at = @at, next_at = NULL WHERE org_id = @orgId AND id = @id AND status = 'open' RETURNING {Columns}",
            new { orgId, id, by, byName, via, at }, change.Transaction);

    /// <summary>Resolves the open escalations about <paramref name="subjectId"/> (their question was answered or closed) and returns them.</summary>
    public static async Task<IReadOnlyList<EscalationRow>> ResolveAsync(Change change, Guid subjectId, long at) =>
        (await change.Connection.QueryAsync<EscalationRow>(
            $"UPDATE escalations SET status = 'resolved', closed_at = @at, next_at = NULL WHERE subject_id = @subjectId AND status = 'open' RETURNING {Columns}",
            new { subjectId, at }, change.Transaction)).AsList();

    /// <summary>Whether the rule already started an escalation about the subject (the unique (rule_id, subject_id) index backs it).</summary>
    public static async Task<bool> StartedByRuleAsync(Change change, Guid ruleId, Guid subjectId) =>
        await change.Connection.ExecuteScalarAsync<long>(
            "SELECT COUNT(*) FROM escalations WHERE rule_id = @ruleId AND subject_id = @subjectId", new { ruleId, subjectId }, change.Transaction) > 0;

    /// <summary>Escalations by id, any org (the notification core reads the ones its page events are about).</summary>
    public async Task<IReadOnlyList<EscalationRow>> ByIdsAsync(IReadOnlyList<Guid> ids, CancellationToken ct)
    {
        if (ids.Count == 0)
        {
            return [];
        }

        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<EscalationRow>(new CommandDefinition(
            $"SELECT {Columns} FROM escalations WHERE {db.Dialect.InList("id", "@ids")}", new { ids = ids.Distinct().ToArray() }, cancellationToken: ct))).AsList();
    }

    /// <summary>Whether <paramref name="userId"/> was paged by the escalation.</summary>
    public static async Task<bool> WasPagedAsync(Change change, Guid escalationId, Guid userId) =>
        (await change.Connection.QueryAsync<string>(
            "SELECT recipients FROM escalation_events WHERE escalation_id = @escalationId AND kind = 'notified'", new { escalationId }, change.Transaction))
        .Any(r => (JsonSerializer.Deserialize<Guid[]>(r) ?? []).Contains(userId));
}

public sealed class EscalationRow
{
    public Guid Id { get; set; }
    public Guid OrgId { get; set; }
    public Guid PolicyId { get; set; }
    public string PolicyName { get; set; } = "";
    public string Plan { get; set; } = "";
    public string SubjectKind { get; set; } = "";
    public Guid SubjectId { get; set; }
    public string CorrelationId { get; set; } = "";
    public long StartedAt { get; set; }
    public int StepsPaged { get; set; }
    public int LevelReached { get; set; }
    public long? NextAt { get; set; }
    public string Status { get; set; } = "";
    public Guid? AcknowledgedBy { get; set; }
    public string? AcknowledgedByName { get; set; }
    public long? AcknowledgedAt { get; set; }
    public string? AcknowledgedVia { get; set; }
    public long? ClosedAt { get; set; }
    public int IsDrill { get; set; }

    /// <summary>The notification rule that started it (null for a drill or a direct start).</summary>
    public Guid? RuleId { get; set; }

    public Escalation ToModel(IReadOnlyList<EscalationEventRow>? timeline) => new(
        Id, PolicyId, PolicyName, SubjectKind, SubjectId, CorrelationId, DbTime.FromDb(StartedAt), LevelReached, DbTime.FromDb(NextAt), Status,
        AcknowledgedBy, AcknowledgedByName, DbTime.FromDb(AcknowledgedAt), AcknowledgedVia, IsDrill == 1, timeline?.Select(e => e.ToModel()).ToList());
}

public sealed class EscalationEventRow
{
    public Guid Id { get; set; }
    public Guid EscalationId { get; set; }
    public Guid OrgId { get; set; }
    public long At { get; set; }
    public string Kind { get; set; } = "";
    public int Level { get; set; }
    public string Recipients { get; set; } = "[]";
    public string? Detail { get; set; }

    public EscalationTimelineEntry ToModel() => new(DbTime.FromDb(At), Kind, Level, JsonSerializer.Deserialize<Guid[]>(Recipients) ?? [], Detail);
}
