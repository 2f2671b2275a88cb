using System.Globalization;
using System.Text.Json;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Tasks;
using Clarity.Hosting;
using Clarity.Storage;

namespace Clarity.Features.Notifications.OnCall;

/// <summary>
/// Rosters (rotations and overrides) and escalation policies of an org: create, read, replace, delete, and who is on
/// call at a moment. Every change is a unit of work with its event and audit entry. The API and the dashboard both
/// come through here.
/// </summary>
public sealed class OnCallService(OnCallStore store, Changes changes, OnCallClock clock)
{
    public const int MaxMembers = 50;

    // Rosters

    public async Task<Roster> CreateRosterAsync(OrgContext org, RosterRequest request, CancellationToken ct) =>
        (await CreateAsync(org, RosterKind, ValidRoster(request, org.OrgId, Guid.CreateVersion7()), ct)).ToModel();

    public async Task<Roster> UpdateRosterAsync(OrgContext org, Guid id, RosterRequest request, CancellationToken ct) =>
        (await ReplaceAsync(org, RosterKind, ValidRoster(request, org.OrgId, id), ct)).ToModel();

    public Task DeleteRosterAsync(OrgContext org, Guid id, CancellationToken ct) => DeleteAsync(org, RosterKind, id, ct);

    public async Task<Roster> GetRosterAsync(OrgContext org, Guid id, CancellationToken ct) =>
        (await store.GetRosterAsync(org.OrgId, id, ct))?.ToModel() ?? throw Problems.NotFound("Roster");

    public async Task<RosterPage> ListRostersAsync(OrgContext org, string? cursor, int? limit, CancellationToken ct)
    {
        var (rows, next) = await PageAsync(cursor, limit, (after, take) => store.ListRostersAsync(org.OrgId, after, take, ct));
        return new RosterPage([.. rows.Select(r => r.ToModel())], next);
    }

    /// <summary>Who is on call in the roster at <paramref name="at"/> (now when left out).</summary>
    public async Task<OnCallNow> OnCallAsync(OrgContext org, Guid id, DateTimeOffset? at, CancellationToken ct)
    {
        var roster = await store.GetRosterAsync(org.OrgId, id, ct) ?? throw Problems.NotFound("Roster");
        var when = at ?? clock.Now;
        var overrides = await store.ListOverridesAsync(org.OrgId, id, DbTime.ToDb(when), ct);
        var rotation = roster.ToRotation(overrides);
        var user = rotation?.OnCallAt(when);
        var viaOverride = rotation is not null && rotation.Overrides.Any(o => o.From <= when && when < o.To);
        var email = user is { } u ? await store.EmailOfMemberAsync(org.OrgId, u, ct) : null;
        return new OnCallNow(id, when, user, email, viaOverride);
    }

    // Overrides

    public async Task<RosterOverrideModel> AddOverrideAsync(OrgContext org, Guid rosterId, OverrideRequest request, CancellationToken ct)
    {
        var user = request.UserId ?? throw Problems.Validation("userId", "is required.");
        var from = request.From ?? throw Problems.Validation("from", "is required.");
        var to = request.To ?? throw Problems.Validation("to", "is required.");
        if (to <= from)
        {
            throw Problems.Validation("to", "must be after from.");
        }

        if (to - from > TimeSpan.FromDays(366))
        {
            throw Problems.Validation("to", "must be at most 366 days after from.");
        }

        var row = new OverrideRow { Id = Guid.CreateVersion7(), RosterId = rosterId, OrgId = org.OrgId, UserId = user, StartsAt = DbTime.ToDb(from), EndsAt = DbTime.ToDb(to) };
        var added = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var roster = await OnCallStore.GetRosterAsync(change, org.OrgId, rosterId);
            if (roster is null)
            {
                return false;
            }

            await CheckMembersAsync(change, org.OrgId, [user], "userId");
            row.CreatedAt = change.Now;
            await OnCallStore.InsertOverrideAsync(change, row);
            change.Emit(new OnCallConfigChanged(org.OrgId, "roster", rosterId, "override_added", roster.Name));
            change.Audit(new AuditRecord(org.OrgId, OnCallAuditActions.OverrideAdded, new AuditTarget("oncall_roster", rosterId, roster.Name),
                After: new AuditFields().Add("overrideId", row.Id).Add("userId", user).Add("from", from).Add("to", to)));
            return true;
        }, ct);
        return added ? row.ToModel() : throw Problems.NotFound("Roster");
    }

    public async Task<IReadOnlyList<RosterOverrideModel>> ListOverridesAsync(OrgContext org, Guid rosterId, CancellationToken ct)
    {
        _ = await store.GetRosterAsync(org.OrgId, rosterId, ct) ?? throw Problems.NotFound("Roster");
        return [.. (await store.ListOverridesAsync(org.OrgId, rosterId, DbTime.ToDb(clock.Now), ct)).Select(o => o.ToModel())];
    }

    public async Task DeleteOverrideAsync(OrgContext org, Guid rosterId, Guid id, CancellationToken ct)
    {
        var deleted = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            if (!await OnCallStore.DeleteOverrideAsync(change, org.OrgId, rosterId, id))
            {
                return false;
            }

            change.Emit(new OnCallConfigChanged(org.OrgId, "roster", rosterId, "override_removed", null));
            change.Audit(new AuditRecord(org.OrgId, OnCallAuditActions.OverrideRemoved, new AuditTarget("oncall_roster", rosterId), Before: new AuditFields().Add("overrideId", id)));
            return true;
        }, ct);
        if (!deleted)
        {
            throw Problems.NotFound("Override");
        }
    }

    // Policies

    public async Task<EscalationPolicy> CreatePolicyAsync(OrgContext org, PolicyRequest request, CancellationToken ct) =>
        (await CreateAsync(org, PolicyKind, ValidPolicy(request, org.OrgId, Guid.CreateVersion7()), ct)).ToModel();

    public async Task<EscalationPolicy> UpdatePolicyAsync(OrgContext org, Guid id, PolicyRequest request, CancellationToken ct) =>
        (await ReplaceAsync(org, PolicyKind, ValidPolicy(request, org.OrgId, id), ct)).ToModel();

    public async Task DeletePolicyAsync(OrgContext org, Guid id, CancellationToken ct)
    {
        try
        {
            await DeleteAsync(org, PolicyKind, id, ct);
        }
        catch (Npgsql.PostgresException ex) when (ex.SqlState == Npgsql.PostgresErrorCodes.ForeignKeyViolation)
        {
            // A rule took the policy between the check and the delete (PostgreSQL); SQLite's one writer cannot interleave.
            throw PolicyInUse("a notification rule");
        }
    }

    public async Task<EscalationPolicy> GetPolicyAsync(OrgContext org, Guid id, CancellationToken ct) =>
        (await store.GetPolicyAsync(org.OrgId, id, ct))?.ToModel() ?? throw Problems.NotFound("Escalation policy");

    public async Task<EscalationPolicyPage> ListPoliciesAsync(OrgContext org, string? cursor, int? limit, CancellationToken ct)
    {
        var (rows, next) = await PageAsync(cursor, limit, (after, take) => store.ListPoliciesAsync(org.OrgId, after, take, ct));
        return new EscalationPolicyPage([.. rows.Select(r => r.ToModel())], next);
    }

    // Rosters and policies alike: each change is one unit of work with its event and audit entry.

    /// <summary>
    /// What differs between rosters and escalation policies where they are created, replaced and deleted alike: their
    /// names in events, audit entries and errors, their audit actions, their checks against the org, and their SQL.
    /// </summary>
    private sealed record Kind<TRow>(
        string Event, string Target, string Noun, string Called, string Created, string Updated, string Deleted,
        Func<Change, Guid, TRow, Task> Check, Func<Change, TRow, Task<bool>> Insert, Func<Change, TRow, Task<TRow?>> Replace,
        Func<Change, Guid, Guid, Task<TRow?>> Get, Func<Change, Guid, TRow, Task<bool>> Delete, Func<TRow, AuditFields> Fields)
        where TRow : class, IOnCallConfigRow;

    private static readonly Kind<RosterRow> RosterKind = new(
        "roster", "oncall_roster", "Roster", "A roster", OnCallAuditActions.RosterCreated, OnCallAuditActions.RosterUpdated, OnCallAuditActions.RosterDeleted,
        (change, orgId, row) => CheckMembersAsync(change, orgId, row.MemberIds, "members"), OnCallStore.InsertRosterAsync, OnCallStore.UpdateRosterAsync,
        OnCallStore.GetRosterAsync, DeleteUnusedRosterAsync, Fields);

    private static readonly Kind<PolicyRow> PolicyKind = new(
        "escalation_policy", "escalation_policy", "Escalation policy", "An escalation policy",
        OnCallAuditActions.PolicyCreated, OnCallAuditActions.PolicyUpdated, OnCallAuditActions.PolicyDeleted,
        CheckTargetsAsync, OnCallStore.InsertPolicyAsync, OnCallStore.UpdatePolicyAsync,
        OnCallStore.GetPolicyAsync, DeleteUnusedPolicyAsync, Fields);

    private async Task<TRow> CreateAsync<TRow>(OrgContext org, Kind<TRow> kind, TRow row, CancellationToken ct)
        where TRow : class, IOnCallConfigRow
    {
        var created = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            await kind.Check(change, org.OrgId, row);
            row.CreatedAt = row.UpdatedAt = change.Now;
            if (!await kind.Insert(change, row))
            {
                return false;
            }

            Record(change, org.OrgId, kind, row, "created", kind.Created, null, kind.Fields(row));
            return true;
        }, ct);
        return created ? row : throw OnCallStore.NameTaken(kind.Called, row.Name);
    }

    private async Task<TRow> ReplaceAsync<TRow>(OrgContext org, Kind<TRow> kind, TRow row, CancellationToken ct)
        where TRow : class, IOnCallConfigRow
    {
        var updated = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var before = await kind.Get(change, org.OrgId, row.Id);
            if (before is null)
            {
                return null;
            }

            await kind.Check(change, org.OrgId, row);
            row.UpdatedAt = change.Now;
            var written = await kind.Replace(change, row);
            if (written is not null)
            {
                Record(change, org.OrgId, kind, written, "updated", kind.Updated, kind.Fields(before), kind.Fields(written));
            }

            return written;
        }, ct);
        return updated ?? throw Problems.NotFound(kind.Noun);
    }

    private async Task DeleteAsync<TRow>(OrgContext org, Kind<TRow> kind, Guid id, CancellationToken ct)
        where TRow : class, IOnCallConfigRow
    {
        var deleted = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var before = await kind.Get(change, org.OrgId, id);
            if (before is null || !await kind.Delete(change, org.OrgId, before))
            {
                return false;
            }

            Record(change, org.OrgId, kind, before, "deleted", kind.Deleted, kind.Fields(before), null);
            return true;
        }, ct);
        if (!deleted)
        {
            throw Problems.NotFound(kind.Noun);
        }
    }

    private static void Record<TRow>(Change change, Guid orgId, Kind<TRow> kind, TRow row, string what, string action, AuditFields? before, AuditFields? after)
        where TRow : class, IOnCallConfigRow
    {
        change.Emit(new OnCallConfigChanged(orgId, kind.Event, row.Id, what, row.Name));
        change.Audit(new AuditRecord(orgId, action, new AuditTarget(kind.Target, row.Id, row.Name), before, after));
    }

    /// <summary>A roster that an escalation policy pages is not deleted (409): the policy is changed first.</summary>
    private static async Task<bool> DeleteUnusedRosterAsync(Change change, Guid orgId, RosterRow roster)
    {
        foreach (var policy in await PoliciesOfAsync(change, orgId))
        {
            if (TargetsOf(policy).Any(t => t.Rosters?.Contains(roster.Id) == true))
            {
                throw Problems.Conflict("roster-in-use", $"The escalation policy '{policy.Name}' pages this roster; change the policy first.");
            }
        }

        return await OnCallStore.DeleteRosterAsync(change, orgId, roster.Id);
    }

    private static async Task<bool> DeleteUnusedPolicyAsync(Change change, Guid orgId, PolicyRow policy)
    {
        // The rules' reference (a foreign key) keeps the policy; detach it from them first.
        if (await OnCallStore.RulesUsingPolicyAsync(change, policy.Id) is { Count: > 0 } rules)
        {
            throw PolicyInUse($"{rules.Count} notification rule(s) ({string.Join(", ", rules.Take(5))})");
        }

        return await OnCallStore.DeletePolicyAsync(change, orgId, policy.Id);
    }

    private static ApiException PolicyInUse(string users) =>
        Problems.Conflict("escalation-policy-in-use", $"The escalation policy is used by {users}; detach it from them first (escalationPolicy: \"\").");

    /// <summary>A page of rows by id: at most <c>limit</c> (1 to 200, 100 by default) after the cursor, and the cursor of the next page.</summary>
    private static async Task<(IReadOnlyList<TRow> Rows, string? Next)> PageAsync<TRow>(string? cursor, int? limit, Func<Guid?, int, Task<IReadOnlyList<TRow>>> list)
        where TRow : IOnCallConfigRow
    {
        var take = Check.Range(limit, "limit", 1, 200, 100);
        var rows = await list(Cursor.Decode(cursor), take + 1);
        var items = rows.Take(take).ToList();
        return (items, rows.Count > take ? Cursor.Encode(items[^1].Id) : null);
    }

    // Validation

    private static RosterRow ValidRoster(RosterRequest request, Guid orgId, Guid id)
    {
        var name = Check.Required(request.Name, "name", 100);
        var zoneId = Check.Required(request.TimeZone, "timeZone", 100);
        if (!TimeZoneInfo.TryFindSystemTimeZoneById(zoneId, out var zone) || !zone.HasIanaId)
        {
            throw Problems.Validation("timeZone", "must be an IANA time zone, such as Europe/Berlin or America/New_York.");
        }

        var handoff = Check.Required(request.Handoff, "handoff", 20);
        if (handoff is not ("daily" or "weekly"))
        {
            throw Problems.Validation("handoff", "must be 'daily' or 'weekly'.");
        }

        var time = Check.Required(request.HandoffTime, "handoffTime", 5);
        if (!TimeOnly.TryParseExact(time, "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
        {
            throw Problems.Validation("handoffTime", "must be a local time as HH:mm, such as 09:00.");
        }

        var start = Check.Required(request.StartDate, "startDate", 10);
        if (!DateOnly.TryParseExact(start, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
        {
            throw Problems.Validation("startDate", "must be a date as yyyy-MM-dd.");
        }

        if (request.Members is not { Count: > 0 and <= MaxMembers } members)
        {
            throw Problems.Validation("members", $"must list 1 to {MaxMembers} user ids, in rotation order.");
        }

        return new RosterRow
        {
            Id = id,
            OrgId = orgId,
            Name = name,
            TimeZone = zone.Id,
            HandoffKind = handoff,
            HandoffTime = time,
            StartDate = start,
            Members = JsonSerializer.Serialize(members),
        };
    }

    private static PolicyRow ValidPolicy(PolicyRequest request, Guid orgId, Guid id)
    {
        var name = Check.Required(request.Name, "name", 100);
        if (request.Levels is not { Count: > 0 } levels)
        {
            throw Problems.Validation("levels", "must hold at least one level.");
        }

        if (levels.Count > EscalationPlan.MaxLevels)
        {
            throw Problems.Validation("levels", $"may hold at most {EscalationPlan.MaxLevels} levels.");
        }

        var valid = new List<LevelModel>();
        for (var i = 0; i < levels.Count; i++)
        {
            var level = levels[i] ?? throw Problems.Validation($"levels[{i}]", "is required.");
            var targets = ValidTargets(level.Targets, $"levels[{i}].targets");
            var delay = level.DelayMinutes ?? throw Problems.Validation($"levels[{i}].delayMinutes", "is required.");
            if (delay is < 1 or > EscalationPlan.MaxDelayMinutes)
            {
                throw Problems.Validation($"levels[{i}].delayMinutes", $"must be between 1 and {EscalationPlan.MaxDelayMinutes}.");
            }

            valid.Add(new LevelModel(targets, delay));
        }

        var repeat = Check.Range(request.Repeat, "repeat", 0, EscalationPlan.MaxRepeat, 0);
        var fallback = request.Fallback is null ? null : ValidTargets(request.Fallback, "fallback");
        return new PolicyRow
        {
            Id = id,
            OrgId = orgId,
            Name = name,
            Levels = JsonSerializer.Serialize(valid, JsonDefaults.Options),
            RepeatCount = repeat,
            Fallback = fallback is null ? null : JsonSerializer.Serialize(fallback, JsonDefaults.Options),
        };
    }

    private static TargetsModel ValidTargets(TargetsModel? targets, string field)
    {
        var rosters = targets?.Rosters?.Distinct().ToList() ?? [];
        var users = targets?.Users?.Distinct().ToList() ?? [];
        if (rosters.Count + users.Count == 0)
        {
            throw Problems.Validation(field, "must name at least one roster or user.");
        }

        if (rosters.Count + users.Count > 20)
        {
            throw Problems.Validation(field, "may name at most 20 rosters and users.");
        }

        return new TargetsModel(rosters, users);
    }

    private static async Task CheckMembersAsync(Change change, Guid orgId, IReadOnlyList<Guid> users, string field)
    {
        var members = await OnCallStore.MembersAsync(change, orgId);
        for (var i = 0; i < users.Count; i++)
        {
            if (!members.ContainsKey(users[i]))
            {
                throw Problems.Validation(users.Count == 1 && field == "userId" ? field : $"{field}[{i}]", "is not a member of the org.");
            }
        }
    }

    private static async Task CheckTargetsAsync(Change change, Guid orgId, PolicyRow row)
    {
        var members = await OnCallStore.MembersAsync(change, orgId);
        var rosters = await OnCallStore.RosterIdsAsync(change, orgId);
        var levels = JsonSerializer.Deserialize<LevelModel[]>(row.Levels, JsonDefaults.Options)!;
        for (var i = 0; i < levels.Length; i++)
        {
            CheckOne(levels[i].Targets!, $"levels[{i}].targets");
        }

        if (row.Fallback is not null)
        {
            CheckOne(JsonSerializer.Deserialize<TargetsModel>(row.Fallback, JsonDefaults.Options)!, "fallback");
        }

        void CheckOne(TargetsModel targets, string field)
        {
            for (var r = 0; r < targets.Rosters!.Count; r++)
            {
                if (!rosters.Contains(targets.Rosters[r]))
                {
                    throw Problems.Validation($"{field}.rosters[{r}]", "is not a roster of the org.");
                }
            }

            for (var u = 0; u < targets.Users!.Count; u++)
            {
                if (!members.ContainsKey(targets.Users[u]))
                {
                    throw Problems.Validation($"{field}.users[{u}]", "is not a member of the org.");
                }
            }
        }
    }

    private static async Task<IReadOnlyList<PolicyRow>> PoliciesOfAsync(Change change, Guid orgId) =>
        (await Dapper.SqlMapper.QueryAsync<PolicyRow>(change.Connection,
            "SELECT id AS Id, name AS Name, levels AS Levels, fallback AS Fallback FROM escalation_policies WHERE org_id = @orgId", new { orgId }, change.Transaction)).ToList();

    private static IEnumerable<TargetsModel> TargetsOf(PolicyRow policy)
    {
        var model = policy.ToModel();
        return model.Levels.Select(l => l.Targets!).Concat(model.Fallback is null ? [] : [model.Fallback]);
    }

    private static AuditFields Fields(RosterRow row) => new AuditFields()
        .Add("name", row.Name).Add("timeZone", row.TimeZone).Add("handoff", row.HandoffKind).Add("handoffTime", row.HandoffTime)
        .Add("startDate", row.StartDate).Add("members", row.MemberIds);

    private static AuditFields Fields(PolicyRow row) => new AuditFields()
        .Add("name", row.Name).Add("levels", row.Levels).Add("repeat", row.RepeatCount).Add("fallback", row.Fallback);
}

/// <summary>The audit actions of on-call.</summary>
public static class OnCallAuditActions
{
    public const string RosterCreated = "oncall.roster_created";
    public const string RosterUpdated = "oncall.roster_updated";
    public const string RosterDeleted = "oncall.roster_deleted";
    public const string OverrideAdded = "oncall.override_added";
    public const string OverrideRemoved = "oncall.override_removed";
    public const string PolicyCreated = "escalation_policy.created";
    public const string PolicyUpdated = "escalation_policy.updated";
    public const string PolicyDeleted = "escalation_policy.deleted";
    public const string EscalationAcknowledged = "escalation.acknowledged";
    public const string DrillStarted = "escalation.drill_started";
}
