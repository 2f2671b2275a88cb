using System.Text.Json;
using Clarity.Hosting;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Notifications.OnCall;

/// <summary>Rosters, their overrides and escalation policies: the same SQL on both backends.</summary>
public sealed class OnCallStore(Database db)
{
    private const string RosterColumns =
        "id AS Id, org_id AS OrgId, name AS Name, time_zone AS TimeZone, handoff_kind AS HandoffKind, handoff_time AS HandoffTime, " +
        "start_date AS StartDate, members AS Members, created_at AS CreatedAt, updated_at AS UpdatedAt";

    private const string OverrideColumns =
        "id AS Id, roster_id AS RosterId, org_id AS OrgId, user_id AS UserId, starts_at AS StartsAt, ends_at AS EndsAt, created_at AS CreatedAt";

    private const string PolicyColumns =
        "id AS Id, org_id AS OrgId, name AS Name, levels AS Levels, repeat_count AS RepeatCount, fallback AS Fallback, created_at AS CreatedAt, updated_at AS UpdatedAt";

    /// <summary>The org's members, by user id, with their email.</summary>
    public static async Task<IReadOnlyDictionary<Guid, string>> MembersAsync(Change change, Guid orgId) =>
        (await change.Connection.QueryAsync<MemberEmail>(
            "SELECT u.id AS Id, u.email AS Email FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = @orgId", new { orgId }, change.Transaction))
        .ToDictionary(r => r.Id, r => r.Email);

    public async Task<string?> EmailOfMemberAsync(Guid orgId, Guid userId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<string>(
            "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = @orgId AND m.user_id = @userId", new { orgId, userId });
    }

    // Rosters

    public static async Task<bool> InsertRosterAsync(Change change, RosterRow row) =>
        await change.Connection.ExecuteAsync(
            "INSERT INTO oncall_rosters (id, org_id, name, time_zone, handoff_kind, handoff_time, start_date, members, created_at, updated_at) " +
            "VALUES (@Id, @OrgId, @Name, @TimeZone, @HandoffKind, @HandoffTime, @StartDate, @Members, @CreatedAt, @UpdatedAt) " +
            "ON CONFLICT (org_id, name) DO NOTHING", row, change.Transaction) == 1;

    /// <summary>Replaces a roster's settings; null when it is not in the org; throws a 409 for a name another roster has.</summary>
    public static Task<RosterRow?> UpdateRosterAsync(Change change, RosterRow row) =>
        ReplaceAsync(change, Rosters, row,
            "name = @Name, time_zone = @TimeZone, handoff_kind = @HandoffKind, handoff_time = @HandoffTime, start_date = @StartDate, members = @Members, updated_at = @UpdatedAt");

    public static async Task<bool> DeleteRosterAsync(Change change, Guid orgId, Guid id)
    {
        await change.Connection.ExecuteAsync("DELETE FROM oncall_overrides WHERE org_id = @orgId AND roster_id = @id", new { orgId, id }, change.Transaction);
        return await change.Connection.ExecuteAsync("DELETE FROM oncall_rosters WHERE org_id = @orgId AND id = @id", new { orgId, id }, change.Transaction) == 1;
    }

    public Task<RosterRow?> GetRosterAsync(Guid orgId, Guid id, CancellationToken ct) => GetAsync(Rosters, orgId, id, ct);

    public static Task<RosterRow?> GetRosterAsync(Change change, Guid orgId, Guid id) => GetAsync(change, Rosters, orgId, id);

    public Task<IReadOnlyList<RosterRow>> ListRostersAsync(Guid orgId, Guid? after, int limit, CancellationToken ct) => ListAsync(Rosters, orgId, after, limit, ct);

    /// <summary>The org's roster ids (for checking a policy's targets).</summary>
    public static async Task<IReadOnlySet<Guid>> RosterIdsAsync(Change change, Guid orgId) =>
        (await change.Connection.QueryAsync<Guid>("SELECT id FROM oncall_rosters WHERE org_id = @orgId", new { orgId }, change.Transaction)).ToHashSet();

    // Overrides

    public static Task InsertOverrideAsync(Change change, OverrideRow row) =>
        change.Connection.ExecuteAsync(
            "INSERT INTO oncall_overrides (id, roster_id, org_id, user_id, starts_at, ends_at, created_at) VALUES (@Id, @RosterId, @OrgId, @UserId, @StartsAt, @EndsAt, @CreatedAt)",
            row, change.Transaction);

    public static async Task<bool> DeleteOverrideAsync(Change change, Guid orgId, Guid rosterId, Guid id) =>
        await change.Connection.ExecuteAsync("DELETE FROM oncall_overrides WHERE org_id = @orgId AND roster_id = @rosterId AND id = @id", new { orgId, rosterId, id }, change.Transaction) == 1;

    /// <summary>The roster's overrides that end after <paramref name="endsAfter"/>, oldest first (at most 500).</summary>
    public async Task<IReadOnlyList<OverrideRow>> ListOverridesAsync(Guid orgId, Guid rosterId, long endsAfter, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await ListOverridesAsync(c, null, orgId, rosterId, endsAfter);
    }

    public static Task<IReadOnlyList<OverrideRow>> ListOverridesAsync(Change change, Guid orgId, Guid rosterId, long endsAfter) =>
        ListOverridesAsync(change.Connection, change.Transaction, orgId, rosterId, endsAfter);

    private static async Task<IReadOnlyList<OverrideRow>> ListOverridesAsync(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction? t, Guid orgId, Guid rosterId, long endsAfter) =>
        (await c.QueryAsync<OverrideRow>(
            $"SELECT {OverrideColumns} FROM oncall_overrides WHERE org_id = @orgId AND roster_id = @rosterId AND ends_at > @endsAfter ORDER BY id LIMIT 500",
            new { orgId, rosterId, endsAfter }, t)).AsList();

    // Policies

    public static async Task<bool> InsertPolicyAsync(Change change, PolicyRow row) =>
        await change.Connection.ExecuteAsync(
            "INSERT INTO escalation_policies (id, org_id, name, levels, repeat_count, fallback, created_at, updated_at) " +
            "VALUES (@Id, @OrgId, @Name, @Levels, @RepeatCount, @Fallback, @CreatedAt, @UpdatedAt) ON CONFLICT (org_id, name) DO NOTHING", row, change.Transaction) == 1;

    /// <summary>Replaces a policy; null when it is not in the org; throws a 409 for a name another policy has.</summary>
    public static Task<PolicyRow?> UpdatePolicyAsync(Change change, PolicyRow row) =>
        ReplaceAsync(change, Policies, row, "name = @Name, levels = @Levels, repeat_count = @RepeatCount, fallback = @Fallback, updated_at = @UpdatedAt");

    public static async Task<bool> DeletePolicyAsync(Change change, Guid orgId, Guid id) =>
        await change.Connection.ExecuteAsync("DELETE FROM escalation_policies WHERE org_id = @orgId AND id = @id", new { orgId, id }, change.Transaction) == 1;

    public Task<PolicyRow?> GetPolicyAsync(Guid orgId, Guid id, CancellationToken ct) => GetAsync(Policies, orgId, id, ct);

    public static Task<PolicyRow?> GetPolicyAsync(Change change, Guid orgId, Guid id) => GetAsync(change, Policies, orgId, id);

    public Task<IReadOnlyList<PolicyRow>> ListPoliciesAsync(Guid orgId, Guid? after, int limit, CancellationToken ct) => ListAsync(Policies, orgId, after, limit, ct);

    // Rosters and policies alike: read, page and replace by (org, id), with names unique in the org.

    /// <summary>A table of named org configuration: its name, its columns as the row reads them, and what to call one in a 409.</summary>
    private sealed record Table<T>(string Name, string Columns, string Called);

    private static readonly Table<RosterRow> Rosters = new("oncall_rosters", RosterColumns, "A roster");

    private static readonly Table<PolicyRow> Policies = new("escalation_policies", PolicyColumns, "An escalation policy");

    /// <summary>The 409 of a name another row of the org has.</summary>
    public static ApiException NameTaken(string called, string name) => Problems.Conflict("name-taken", $"{called} named '{name}' already exists.");

    private async Task<T?> GetAsync<T>(Table<T> table, Guid orgId, Guid id, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<T>(new CommandDefinition(
            $"SELECT {table.Columns} FROM {table.Name} WHERE org_id = @orgId AND id = @id", new { orgId, id }, cancellationToken: ct));
    }

    private static Task<T?> GetAsync<T>(Change change, Table<T> table, Guid orgId, Guid id) =>
        change.Connection.QuerySingleOrDefaultAsync<T>($"SELECT {table.Columns} FROM {table.Name} WHERE org_id = @orgId AND id = @id", new { orgId, id }, change.Transaction);

    /// <summary>The ids of the notification rules that carry the policy (locked on PostgreSQL by the foreign key's check on delete).</summary>
    public static async Task<IReadOnlyList<Guid>> RulesUsingPolicyAsync(Change change, Guid policyId) =>
        (await change.Connection.QueryAsync<Guid>(
            "SELECT id FROM notification_rules WHERE escalation_policy_id = @policyId ORDER BY id", new { policyId }, change.Transaction)).AsList();

    private async Task<IReadOnlyList<T>> ListAsync<T>(Table<T> table, Guid orgId, Guid? after, int limit, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<T>(new CommandDefinition(
            $"SELECT {table.Columns} FROM {table.Name} WHERE org_id = @orgId{(after is null ? "" : " AND id > @after")} ORDER BY id LIMIT @limit",
            new { orgId, after, limit }, cancellationToken: ct))).AsList();
    }

    /// <summary>Sets <paramref name="set"/> on the row (org_id, id); null when it is not in the org; a 409 when another row of the org has its name.</summary>
    private static async Task<T?> ReplaceAsync<T>(Change change, Table<T> table, T row, string set)
        where T : IOnCallConfigRow
    {
        var taken = await change.Connection.ExecuteScalarAsync<long>(
            $"SELECT COUNT(*) FROM {table.Name} WHERE org_id = @OrgId AND name = @Name AND id <> @Id", row, change.Transaction);
        if (taken > 0)
        {
            throw NameTaken(table.Called, row.Name);
        }

        return await change.Connection.QuerySingleOrDefaultAsync<T>(
            $"UPDATE {table.Name} SET {set} WHERE org_id = @OrgId AND id = @Id RETURNING {table.Columns}", row, change.Transaction);
    }
}

/// <summary>What rosters and escalation policies have alike: an id in an org, a name unique in it, and when they were made and last replaced.</summary>
public interface IOnCallConfigRow
{
    Guid Id { get; }
    Guid OrgId { get; }
    string Name { get; }
    long CreatedAt { get; set; }
    long UpdatedAt { get; set; }
}

public sealed class RosterRow : IOnCallConfigRow
{
    public Guid Id { get; set; }
    public Guid OrgId { get; set; }
    public string Name { get; set; } = "";
    public string TimeZone { get; set; } = "";
    public string HandoffKind { get; set; } = "";
    public string HandoffTime { get; set; } = "";
    public string StartDate { get; set; } = "";
    public string Members { get; set; } = "[]";
    public long CreatedAt { get; set; }
    public long UpdatedAt { get; set; }

    public IReadOnlyList<Guid> MemberIds => JsonSerializer.Deserialize<Guid[]>(Members) ?? [];

    public Roster ToModel() => new(Id, Name, TimeZone, HandoffKind, HandoffTime, StartDate, MemberIds, DbTime.FromDb(CreatedAt), DbTime.FromDb(UpdatedAt));

    /// <summary>The pure rotation of this roster with <paramref name="overrides"/>; null when the stored settings no longer resolve (a time zone gone from the system).</summary>
    public Rotation? ToRotation(IReadOnlyList<OverrideRow> overrides)
    {
        if (!TimeZoneInfo.TryFindSystemTimeZoneById(TimeZone, out var zone) || MemberIds is not { Count: > 0 } members)
        {
            return null;
        }

        return new Rotation(members, HandoffKind == "weekly" ? OnCall.HandoffKind.Weekly : OnCall.HandoffKind.Daily,
            TimeOnly.ParseExact(HandoffTime, "HH:mm", System.Globalization.CultureInfo.InvariantCulture), zone,
            DateOnly.ParseExact(StartDate, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
            [.. overrides.Select(o => new RosterOverride(o.UserId, DbTime.FromDb(o.StartsAt), DbTime.FromDb(o.EndsAt)))]);
    }
}

public sealed class MemberEmail
{
    public Guid Id { get; set; }
    public string Email { get; set; } = "";
}

public sealed class OverrideRow
{
    public Guid Id { get; set; }
    public Guid RosterId { get; set; }
    public Guid OrgId { get; set; }
    public Guid UserId { get; set; }
    public long StartsAt { get; set; }
    public long EndsAt { get; set; }
    public long CreatedAt { get; set; }

    public RosterOverrideModel ToModel() => new(Id, RosterId, UserId, DbTime.FromDb(StartsAt), DbTime.FromDb(EndsAt), DbTime.FromDb(CreatedAt));
}

public sealed class PolicyRow : IOnCallConfigRow
{
    public Guid Id { get; set; }
    public Guid OrgId { get; set; }
    public string Name { get; set; } = "";
    public string Levels { get; set; } = "[]";
    public int RepeatCount { get; set; }
    public string? Fallback { get; set; }
    public long CreatedAt { get; set; }
    public long UpdatedAt { get; set; }

    public EscalationPolicy ToModel() => new(
        Id, Name, JsonSerializer.Deserialize<LevelModel[]>(Levels, JsonDefaults.Options) ?? [], RepeatCount,
        Fallback is null ? null : JsonSerializer.Deserialize<TargetsModel>(Fallback, JsonDefaults.Options), DbTime.FromDb(CreatedAt), DbTime.FromDb(UpdatedAt));
}
