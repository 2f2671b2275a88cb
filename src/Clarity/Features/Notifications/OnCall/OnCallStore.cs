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
    public static async Task<RosterRow?> UpdateRosterAsync(Change change, RosterRow row)
    {
        var taken = await change.Connection.ExecuteScalarAsync<long>(
            "SELECT COUNT(*) FROM oncall_rosters WHERE org_id = @OrgId AND name = @Name AND id <> @Id", row, change.Transaction);
        if (taken > 0)
        {
            throw Problems.Conflict("name-taken", $"A roster named '{row.Name}' already exists.");
        }

        return await change.Connection.QuerySingleOrDefaultAsync<RosterRow>(
            "UPDATE oncall_rosters SET name = @Name, time_zone = @TimeZone, handoff_kind = @HandoffKind, handoff_time = @HandoffTime, " +
            "start_date = @StartDate, members = @Members, updated_at = @UpdatedAt " +
            $"WHERE org_id = @OrgId AND id = @Id RETURNING {RosterColumns}", row, change.Transaction);
    }

    public static async Task<bool> DeleteRosterAsync(Change change, Guid orgId, Guid id)
    {
        await change.Connection.ExecuteAsync("DELETE FROM oncall_overrides WHERE org_id = @orgId AND roster_id = @id", new { orgId, id }, change.Transaction);
        return await change.Connection.ExecuteAsync("DELETE FROM oncall_rosters WHERE org_id = @orgId AND id = @id", new { orgId, id }, change.Transaction) == 1;
    }

    public async Task<RosterRow?> GetRosterAsync(Guid orgId, Guid id, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<RosterRow>($"SELECT {RosterColumns} FROM oncall_rosters WHERE org_id = @orgId AND id = @id", new { orgId, id });
    }

    public static Task<RosterRow?> GetRosterAsync(Change change, Guid orgId, Guid id) =>
        change.Connection.QuerySingleOrDefaultAsync<RosterRow>($"SELECT {RosterColumns} FROM oncall_rosters WHERE org_id = @orgId AND id = @id", new { orgId, id }, change.Transaction);

    public async Task<IReadOnlyList<RosterRow>> ListRostersAsync(Guid orgId, Guid? after, int limit, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<RosterRow>(
            $"SELECT {RosterColumns} FROM oncall_rosters WHERE org_id = @orgId{(after is null ? "" : " AND id > @after")} ORDER BY id LIMIT @limit",
            new { orgId, after, limit })).AsList();
    }

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

    public static async Task<PolicyRow?> UpdatePolicyAsync(Change change, PolicyRow row)
    {
        var taken = await change.Connection.ExecuteScalarAsync<long>(
            "SELECT COUNT(*) FROM escalation_policies WHERE org_id = @OrgId AND name = @Name AND id <> @Id", row, change.Transaction);
        if (taken > 0)
        {
            throw Problems.Conflict("name-taken", $"An escalation policy named '{row.Name}' already exists.");
        }

        return await change.Connection.QuerySingleOrDefaultAsync<PolicyRow>(
            "UPDATE escalation_policies SET name = @Name, levels = @Levels, repeat_count = @RepeatCount, fallback = @Fallback, updated_at = @UpdatedAt " +
            $"WHERE org_id = @OrgId AND id = @Id RETURNING {PolicyColumns}", row, change.Transaction);
    }

    public static async Task<bool> DeletePolicyAsync(Change change, Guid orgId, Guid id) =>
        await change.Connection.ExecuteAsync("DELETE FROM escalation_policies WHERE org_id = @orgId AND id = @id", new { orgId, id }, change.Transaction) == 1;

    public async Task<PolicyRow?> GetPolicyAsync(Guid orgId, Guid id, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<PolicyRow>($"SELECT {PolicyColumns} FROM escalation_policies WHERE org_id = @orgId AND id = @id", new { orgId, id });
    }

    /// <summary>The ids of the notification rules that carry the policy (locked on PostgreSQL by the foreign key's check on delete).</summary>
    public static async Task<IReadOnlyList<Guid>> RulesUsingPolicyAsync(Change change, Guid policyId) =>
        (await change.Connection.QueryAsync<Guid>(
            "SELECT id FROM notification_rules WHERE escalation_policy_id = @policyId ORDER BY id", new { policyId }, change.Transaction)).AsList();

    public static Task<PolicyRow?> GetPolicyAsync(Change change, Guid orgId, Guid id) =>
        change.Connection.QuerySingleOrDefaultAsync<PolicyRow>($"SELECT {PolicyColumns} FROM escalation_policies WHERE org_id = @orgId AND id = @id", new { orgId, id }, change.Transaction);

    public async Task<IReadOnlyList<PolicyRow>> ListPoliciesAsync(Guid orgId, Guid? after, int limit, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<PolicyRow>(
            $"SELECT {PolicyColumns} FROM escalation_policies WHERE org_id = @orgId{(after is null ? "" : " AND id > @after")} ORDER BY id LIMIT @limit",
            new { orgId, after, limit })).AsList();
    }
}

public sealed class RosterRow
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

public sealed class PolicyRow
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
