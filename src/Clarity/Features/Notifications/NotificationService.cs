using System.Text.Json;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Tasks;
using Clarity.Features.Webhooks;
using Clarity.Hosting;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Notifications;

/// <summary>
/// Notification rules (the org's, made by admins; a member's personal ones, reaching only them), a person's
/// preferences, and the delivery log. The API and the dashboard both come through here.
/// </summary>
public sealed class NotificationService(NotificationStore store, WebhookStore webhooks, Changes changes, TimeProvider clock)
{
    public const int MaxRulesPerScope = 200;

    /// <summary>Whose rules a call addresses: the org's (null) or the caller's own (their user id).</summary>
    public static Guid? Scope(OrgContext org, bool personal) =>
        !personal ? null
        : org.Caller.UserId ?? throw Problems.BadRequest("user-required", "Personal notification rules and preferences belong to signed-in people; an API key has none.");

    public async Task<NotificationRule> CreateAsync(OrgContext org, bool personal, CreateNotificationRuleRequest request, CancellationToken ct)
    {
        var owner = Scope(org, personal);
        var now = DbTime.ToDb(clock.GetUtcNow());
        var row = new RuleRow
        {
            Id = Guid.CreateVersion7(),
            OrgId = org.OrgId,
            OwnerUserId = owner,
            Name = NotificationRules.Name(request.Name),
            Events = Json(NotificationRules.Events(request.Events)),
            Channels = Json(await ChannelsAsync(org, owner, request.Channels, ct)),
            Filters = Json(NotificationRules.Filters(request.Filters)),
            Enabled = request.Enabled == false ? 0 : 1,
            CreatedBy = org.Caller.ActorId,
            CreatedAt = now,
            UpdatedAt = now,
            EscalationPolicyId = PolicyId(owner, request.EscalationPolicy),
        };
        var existing = await store.ListRulesAsync(org.OrgId, owner, null, MaxRulesPerScope, ct);
        if (existing.Count >= MaxRulesPerScope)
        {
            throw Problems.Conflict("too-many-rules", $"There are already {MaxRulesPerScope} rules here, the most there may be.");
        }

        CheckPolicyEvents(row);
        await changes.RunAsync(org.Caller.Actor, async change =>
        {
            await CheckPolicyAsync(change, org.OrgId, row.EscalationPolicyId);
            await store.InsertRuleAsync(change, row);
            change.Audit(new AuditRecord(org.OrgId, NotificationAuditActions.RuleCreated, Target(row), After: Fields(row)));
        }, ct);
        return row.ToModel();
    }

    public async Task<NotificationRulePage> ListAsync(OrgContext org, bool personal, string? cursor, int? limit, CancellationToken ct)
    {
        var owner = Scope(org, personal);
        var take = Check.Range(limit, "limit", 1, 200, 100);
        var rows = await store.ListRulesAsync(org.OrgId, owner, Cursor.Decode(cursor), take + 1, ct);
        var items = rows.Take(take).Select(r => r.ToModel()).ToList();
        return new NotificationRulePage(items, rows.Count > take ? Cursor.Encode(items[^1].Id) : null);
    }

    public async Task<NotificationRule> GetAsync(OrgContext org, bool personal, Guid id, CancellationToken ct) =>
        (await store.GetRuleAsync(org.OrgId, Scope(org, personal), id, ct))?.ToModel() ?? throw Problems.NotFound("Notification rule");

    public async Task<NotificationRule> UpdateAsync(OrgContext org, bool personal, Guid id, UpdateNotificationRuleRequest request, CancellationToken ct)
    {
        var owner = Scope(org, personal);
        var current = await store.GetRuleAsync(org.OrgId, owner, id, ct) ?? throw Problems.NotFound("Notification rule");
        var before = Fields(current);
        current.Name = request.Name is null ? current.Name : NotificationRules.Name(request.Name);
        current.Events = request.Events is null ? current.Events : Json(NotificationRules.Events(request.Events));
        current.Channels = request.Channels is null ? current.Channels : Json(await ChannelsAsync(org, owner, request.Channels, ct));
        current.Filters = request.Filters is null ? current.Filters : Json(NotificationRules.Filters(request.Filters));
        current.Enabled = request.Enabled is { } enabled ? (enabled ? 1 : 0) : current.Enabled;
        current.EscalationPolicyId = request.EscalationPolicy is null ? current.EscalationPolicyId
            : request.EscalationPolicy.Length == 0 ? null : PolicyId(owner, request.EscalationPolicy);
        current.UpdatedAt = DbTime.ToDb(clock.GetUtcNow());
        CheckPolicyEvents(current);
        var updated = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            await CheckPolicyAsync(change, org.OrgId, current.EscalationPolicyId);
            if (!await store.UpdateRuleAsync(change, current))
            {
                return false;
            }

            change.Audit(new AuditRecord(org.OrgId, NotificationAuditActions.RuleUpdated, Target(current), before, Fields(current)));
            return true;
        }, ct);
        return updated ? current.ToModel() : throw Problems.NotFound("Notification rule");
    }

    public async Task DeleteAsync(OrgContext org, bool personal, Guid id, CancellationToken ct)
    {
        var owner = Scope(org, personal);
        var deleted = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var row = await store.DeleteRuleAsync(change, org.OrgId, owner, id);
            if (row is not null)
            {
                change.Audit(new AuditRecord(org.OrgId, NotificationAuditActions.RuleDeleted, Target(row), Before: Fields(row)));
            }

            return row is not null;
        }, ct);
        if (!deleted)
        {
            throw Problems.NotFound("Notification rule");
        }
    }

    /// <summary>The escalation policy a rule names: an id, and only on an org rule (a personal rule reaches only its owner; paging reaches others).</summary>
    private static Guid? PolicyId(Guid? owner, string? policy)
    {
        if (policy is null)
        {
            return null;
        }

        if (owner is not null)
        {
            throw Problems.Validation("escalationPolicy", "a personal rule reaches only you; escalation policies page others, so they are for org rules.");
        }

        return Guid.TryParse(policy, out var id) && id != Guid.Empty ? id : throw Problems.Validation("escalationPolicy", "is not an id of an escalation policy.");
    }

    /// <summary>A policy escalates questions and approvals: a rule with one must fire on at least one of those.</summary>
    private static void CheckPolicyEvents(RuleRow row)
    {
        if (row.EscalationPolicyId is not null
            && !row.EventList.Any(e => e is NotificationEvents.ClarificationAsked or NotificationEvents.ApprovalPending))
        {
            throw Problems.Validation("escalationPolicy",
                $"escalates only {NotificationEvents.ClarificationAsked} and {NotificationEvents.ApprovalPending}; add one of them to events, or leave the policy out.");
        }
    }

    /// <summary>
    /// The policy must be the org's (another org's answers exactly like a missing one), checked in the rule's unit of work:
    /// the rule's reference then keeps the policy from being deleted (a foreign key).
    /// </summary>
    private static async Task CheckPolicyAsync(Change change, Guid orgId, Guid? policyId)
    {
        // FOR KEY SHARE on PostgreSQL: a policy being deleted at this moment either goes first (and this is a 400) or
        // waits for this rule, and then refuses to go (409 in use); never a foreign-key error.
        if (policyId is { } id && await change.Connection.ExecuteScalarAsync<int>(
                $"SELECT 1 FROM escalation_policies WHERE org_id = @orgId AND id = @id{(change.Dialect.Kind == DatabaseKind.Postgres ? " FOR KEY SHARE" : "")}",
                new { orgId, id }, change.Transaction) != 1)
        {
            throw Problems.Validation("escalationPolicy", "is not an escalation policy of this org.");
        }
    }

    /// <summary>
    /// Validates the channels, then what only the database knows: web push users must be members of the org, and a
    /// webhook endpoint must be the org's (another org's answers exactly like a missing one).
    /// </summary>
    private async Task<IReadOnlyList<RuleChannel>> ChannelsAsync(OrgContext org, Guid? owner, IReadOnlyList<NotificationChannelRequest>? requested, CancellationToken ct)
    {
        if (owner is { } user)
        {
            var email = await store.EmailOfAsync(user, ct) ?? throw Problems.NotFound("User");
            return NotificationRules.PersonalChannels(requested, user, email);
        }

        var channels = NotificationRules.Channels(requested);
        for (var i = 0; i < channels.Count; i++)
        {
            if (channels[i].Users is { } users)
            {
                var members = await store.MembersAmongAsync(org.OrgId, users, ct);
                for (var j = 0; j < users.Count; j++)
                {
                    if (!members.Contains(users[j]))
                    {
                        throw Problems.Validation($"channels[{i}].users[{j}]", "is not a member of this org.");
                    }
                }
            }

            if (channels[i].Endpoint is { } endpoint && await webhooks.GetAsync(org.OrgId, endpoint, ct) is null)
            {
                throw Problems.Validation($"channels[{i}].endpoint", "is not a webhook endpoint of this org.");
            }
        }

        return channels;
    }

    public async Task<NotificationPreferences> GetPreferencesAsync(OrgContext org, CancellationToken ct)
    {
        var user = Scope(org, personal: true)!.Value;
        var row = await store.GetPreferencesAsync(org.OrgId, user, ct);
        return row is null ? new NotificationPreferences(null, [], null) : ToModel(row);
    }

    public async Task<NotificationPreferences> PutPreferencesAsync(OrgContext org, NotificationPreferencesRequest request, CancellationToken ct)
    {
        var user = Scope(org, personal: true)!.Value;
        var quiet = NotificationRules.Quiet(request.QuietHours)?.ToModel();
        var row = new PreferenceRow
        {
            OrgId = org.OrgId,
            UserId = user,
            QuietStart = quiet?.Start,
            QuietEnd = quiet?.End,
            TimeZone = quiet?.TimeZone,
            MutedChannels = Json(NotificationRules.ChannelTypes(request.MutedChannels, "mutedChannels")),
            UpdatedAt = DbTime.ToDb(clock.GetUtcNow()),
        };
        var previous = await store.GetPreferencesAsync(org.OrgId, user, ct);
        await changes.RunAsync(org.Caller.Actor, async change =>
        {
            await store.PutPreferencesAsync(change, row);
            change.Audit(new AuditRecord(org.OrgId, NotificationAuditActions.PreferencesUpdated, new AuditTarget("notification_preferences", user),
                previous is null ? null : Fields(previous), Fields(row)));
        }, ct);
        return ToModel(row);
    }

    private static NotificationPreferences ToModel(PreferenceRow row) => new(
        row.QuietStart is null ? null : new QuietHoursModel(row.QuietStart, row.QuietEnd, row.TimeZone), row.MutedList, DbTime.FromDb(row.UpdatedAt));

    public async Task<NotificationDeliveryPage> ListDeliveriesAsync(
        OrgContext org, string? cursor, int? limit, string? status, string? channel, string? eventType, CancellationToken ct)
    {
        var take = Check.Range(limit, "limit", 1, 200, 50);
        var before = Cursor.Decode(cursor);
        if (status is not null && !NotificationDeliveryStatuses.All.Contains(status, StringComparer.Ordinal))
        {
            throw Problems.Validation("status", "must be one of " + string.Join(", ", NotificationDeliveryStatuses.All) + ".");
        }

        if (channel is not null && !NotificationChannels.All.Contains(channel, StringComparer.Ordinal))
        {
            throw Problems.Validation("channel", "must be one of " + string.Join(", ", NotificationChannels.All) + ".");
        }

        if (eventType is not null && eventType != NotificationEvents.EscalationPage && !NotificationEvents.All.Contains(eventType, StringComparer.Ordinal))
        {
            throw Problems.Validation("event", "must be one of " + string.Join(", ", NotificationEvents.All) + " or " + NotificationEvents.EscalationPage + ".");
        }

        var rows = await store.ListDeliveriesAsync(org.OrgId, before, take + 1, status, channel, eventType, ct);
        var items = rows.Take(take).Select(r => r.ToModel()).ToList();
        return new NotificationDeliveryPage(items, rows.Count > take ? Cursor.Encode(items[^1].Id) : null);
    }

    private static string Json<T>(T value) => JsonSerializer.Serialize(value, JsonDefaults.Options);

    private static AuditTarget Target(RuleRow row) => new("notification_rule", row.Id, row.Name);

    /// <summary>A rule as its audit entry records it: the channels are personal data (they may hold addresses).</summary>
    private static AuditFields Fields(RuleRow row) => new AuditFields()
        .Add("name", row.Name).Add("personal", row.OwnerUserId is not null).Add("ownerUserId", row.OwnerUserId).Add("events", row.EventList)
        .Personal("channels", row.Channels).Add("filters", row.Filters).Add("enabled", row.Enabled != 0)
        .Add("escalationPolicy", row.EscalationPolicyId);

    private static AuditFields Fields(PreferenceRow row) => new AuditFields()
        .Add("quietStart", row.QuietStart).Add("quietEnd", row.QuietEnd).Add("timeZone", row.TimeZone).Add("mutedChannels", row.MutedList);
}

/// <summary>The audit actions of notification rules and preferences, and of web push subscriptions.</summary>
public static class NotificationAuditActions
{
    public const string RuleCreated = "notification_rule.created";
    public const string RuleUpdated = "notification_rule.updated";
    public const string RuleDeleted = "notification_rule.deleted";
    public const string PreferencesUpdated = "notification_preferences.updated";
    public const string PushSubscriptionAdded = "push_subscription.added";
    public const string PushSubscriptionRemoved = "push_subscription.removed";
}
