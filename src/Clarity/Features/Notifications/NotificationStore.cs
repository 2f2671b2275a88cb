using System.Data.Common;
using System.Text.Json;
using Clarity.Hosting;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Notifications;

/// <summary>A rule as stored.</summary>
public sealed class RuleRow
{
    public Guid Id { get; set; }

    public Guid OrgId { get; set; }

    public Guid? OwnerUserId { get; set; }

    public string? Name { get; set; }

    public string Events { get; set; } = "[]";

    public string Channels { get; set; } = "[]";

    public string Filters { get; set; } = "{}";

    public long Enabled { get; set; } = 1;

    public Guid? CreatedBy { get; set; }

    public long CreatedAt { get; set; }

    public long UpdatedAt { get; set; }

    /// <summary>The escalation policy the rule starts when it fires on a question or an approval (org rules only).</summary>
    public Guid? EscalationPolicyId { get; set; }

    public IReadOnlyList<string> EventList => JsonSerializer.Deserialize<List<string>>(Events, JsonDefaults.Options) ?? [];

    public IReadOnlyList<RuleChannel> ChannelList => JsonSerializer.Deserialize<List<RuleChannel>>(Channels, JsonDefaults.Options) ?? [];

    public RuleFilters FilterSet => JsonSerializer.Deserialize<RuleFilters>(Filters, JsonDefaults.Options) ?? RuleFilters.None;

    public NotificationRule ToModel() => new(
        Id, Name, OwnerUserId is not null, OwnerUserId, EventList, ChannelList, FilterSet, Enabled != 0, DbTime.FromDb(CreatedAt), DbTime.FromDb(UpdatedAt), EscalationPolicyId);
}

/// <summary>A person's preferences in one org, as stored.</summary>
public sealed class PreferenceRow
{
    public Guid OrgId { get; set; }

    public Guid UserId { get; set; }

    public string? QuietStart { get; set; }

    public string? QuietEnd { get; set; }

    public string? TimeZone { get; set; }

    public string MutedChannels { get; set; } = "[]";

    public long UpdatedAt { get; set; }

    public IReadOnlyList<string> MutedList => JsonSerializer.Deserialize<List<string>>(MutedChannels, JsonDefaults.Options) ?? [];

    /// <summary>The quiet hours, or null when there are none (or the zone is no longer known to this machine).</summary>
    public QuietHours? Quiet =>
        QuietStart is { } start && QuietEnd is { } end && TimeZone is { } zone && TimeZoneInfo.TryFindSystemTimeZoneById(zone, out var info)
            ? new QuietHours(TimeOnly.Parse(start, System.Globalization.CultureInfo.InvariantCulture), TimeOnly.Parse(end, System.Globalization.CultureInfo.InvariantCulture), info)
            : null;
}

/// <summary>A delivery as stored.</summary>
public sealed class NotificationDeliveryRow
{
    public Guid Id { get; set; }

    public Guid OrgId { get; set; }

    public Guid? RuleId { get; set; }

    public long? EventSeq { get; set; }

    public string EventType { get; set; } = "";

    public long EventAt { get; set; }

    public string Channel { get; set; } = "";

    public string Recipient { get; set; } = "";

    public Guid? RecipientUserId { get; set; }

    public string Status { get; set; } = NotificationDeliveryStatuses.Pending;

    public long IsDigest { get; set; }

    public Guid? DigestId { get; set; }

    public long Attempts { get; set; }

    public long? NextAttemptAt { get; set; }

    public string? LastError { get; set; }

    public string? Note { get; set; }

    public string? ExternalId { get; set; }

    public long CreatedAt { get; set; }

    public long? SentAt { get; set; }

    public NotificationDeliveryModel ToModel() => new(
        Id, RuleId, EventSeq, EventType, Channel, Recipient, RecipientUserId, Status, IsDigest != 0, DigestId, (int)Attempts, DbTime.FromDb(NextAttemptAt),
        LastError, Note, ExternalId, DbTime.FromDb(EventAt), DbTime.FromDb(CreatedAt), DbTime.FromDb(SentAt));
}

/// <summary>The outcome of one send, as the sender records it: sent, retried at <see cref="RetryAt"/>, or failed for good.</summary>
public sealed record DeliveryAttempt(Guid Id, string Status, long? RetryAt, string? Error, string? ExternalId, long Now);

/// <summary>
/// SQL for notification rules, preferences, the delivery log and the expiry sweep. The same SQL serves both backends.
/// </summary>
public sealed class NotificationStore(Database db)
{
    /// <summary>The fan-out's durable cursor over the outbox (<see cref="Clarity.Events.ConsumerCursors"/>).</summary>
    public const string CursorName = "notifications";

    private const string RuleColumns =
        "id AS Id, org_id AS OrgId, owner_user_id AS OwnerUserId, name AS Name, events AS Events, channels AS Channels, filters AS Filters, " +
        "enabled AS Enabled, created_by AS CreatedBy, created_at AS CreatedAt, updated_at AS UpdatedAt, escalation_policy_id AS EscalationPolicyId";

    private const string PreferenceColumns =
        "org_id AS OrgId, user_id AS UserId, quiet_start AS QuietStart, quiet_end AS QuietEnd, time_zone AS TimeZone, muted_channels AS MutedChannels, updated_at AS UpdatedAt";

    private const string DeliveryColumns =
        "id AS Id, org_id AS OrgId, rule_id AS RuleId, event_seq AS EventSeq, event_type AS EventType, event_at AS EventAt, channel AS Channel, " +
        "recipient AS Recipient, recipient_user_id AS RecipientUserId, status AS Status, is_digest AS IsDigest, digest_id AS DigestId, attempts AS Attempts, " +
        "next_attempt_at AS NextAttemptAt, last_error AS LastError, note AS Note, external_id AS ExternalId, created_at AS CreatedAt, sent_at AS SentAt";

    public Database Database => db;

    // ---- rules

    public Task InsertRuleAsync(Change change, RuleRow row) =>
        change.Run((c, t) => c.ExecuteAsync(
            "INSERT INTO notification_rules (id, org_id, owner_user_id, name, events, channels, filters, enabled, created_by, created_at, updated_at, escalation_policy_id) " +
            "VALUES (@Id, @OrgId, @OwnerUserId, @Name, @Events, @Channels, @Filters, @Enabled, @CreatedBy, @CreatedAt, @UpdatedAt, @EscalationPolicyId)", row, t));

    /// <summary>The org rule (<paramref name="owner"/> null) or the owner's personal rule with this id.</summary>
    public async Task<RuleRow?> GetRuleAsync(Guid orgId, Guid? owner, Guid id, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<RuleRow>(new CommandDefinition(
            $"SELECT {RuleColumns} FROM notification_rules WHERE org_id = @orgId AND id = @id AND " + OwnerIs(owner), new { orgId, id, owner }, cancellationToken: ct));
    }

    /// <summary>The org's rules (<paramref name="owner"/> null) or the owner's personal rules, newest first, before the cursor.</summary>
    public async Task<IReadOnlyList<RuleRow>> ListRulesAsync(Guid orgId, Guid? owner, Guid? before, int limit, CancellationToken ct)
    {
        var sql = $"SELECT {RuleColumns} FROM notification_rules WHERE org_id = @orgId AND " + OwnerIs(owner) + (before is null ? "" : " AND id < @before");
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<RuleRow>(new CommandDefinition(sql + " ORDER BY id DESC LIMIT @limit", new { orgId, owner, before, limit }, cancellationToken: ct))).AsList();
    }

    public Task<bool> UpdateRuleAsync(Change change, RuleRow row) =>
        change.Run(async (c, t) => await c.ExecuteAsync(
            "UPDATE notification_rules SET name = @Name, events = @Events, channels = @Channels, filters = @Filters, enabled = @Enabled, updated_at = @UpdatedAt, " +
            "escalation_policy_id = @EscalationPolicyId " +
            "WHERE org_id = @OrgId AND id = @Id AND " + OwnerIs(row.OwnerUserId, "@OwnerUserId"), row, t) == 1);

    /// <summary>Deletes the org rule (<paramref name="owner"/> null) or the owner's personal rule; returns it, or null when there was none.</summary>
    public Task<RuleRow?> DeleteRuleAsync(Change change, Guid orgId, Guid? owner, Guid id) =>
        change.Run((c, t) => c.QuerySingleOrDefaultAsync<RuleRow?>(
            $"DELETE FROM notification_rules WHERE org_id = @orgId AND id = @id AND {OwnerIs(owner)} RETURNING {RuleColumns}", new { orgId, id, owner }, t));

    private static string OwnerIs(Guid? owner, string parameter = "@owner") => owner is null ? "owner_user_id IS NULL" : "owner_user_id = " + parameter;

    /// <summary>Every enabled rule of these orgs (the fan-out).</summary>
    public async Task<IReadOnlyList<RuleRow>> EnabledRulesOfOrgsAsync(IReadOnlyList<Guid> orgIds, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<RuleRow>(new CommandDefinition(
            $"SELECT {RuleColumns} FROM notification_rules WHERE enabled = 1 AND {db.Dialect.InList("org_id", "@orgIds")} ORDER BY id",
            new { orgIds = orgIds.ToArray() }, cancellationToken: ct))).AsList();
    }

    // ---- people

    /// <summary>Which of these users are members of the org.</summary>
    public async Task<IReadOnlySet<Guid>> MembersAmongAsync(Guid orgId, IReadOnlyList<Guid> userIds, CancellationToken ct)
    {
        if (userIds.Count == 0)
        {
            return new HashSet<Guid>();
        }

        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<Guid>(new CommandDefinition(
            $"SELECT user_id FROM memberships WHERE org_id = @orgId AND {db.Dialect.InList("user_id", "@userIds")}",
            new { orgId, userIds = userIds.ToArray() }, cancellationToken: ct))).ToHashSet();
    }

    /// <summary>The members of these orgs, with their email addresses (recipients of the fan-out: personal rules, web push, member addresses).</summary>
    public async Task<IReadOnlyList<(Guid OrgId, Guid UserId, string Email)>> MembersOfOrgsAsync(IReadOnlyList<Guid> orgIds, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<(Guid, Guid, string)>(new CommandDefinition(
            $"SELECT m.org_id, m.user_id, u.email FROM memberships m JOIN users u ON u.id = m.user_id WHERE {db.Dialect.InList("m.org_id", "@orgIds")}",
            new { orgIds = orgIds.ToArray() }, cancellationToken: ct))).AsList();
    }

    public async Task<string?> EmailOfAsync(Guid userId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.ExecuteScalarAsync<string?>(new CommandDefinition("SELECT email FROM users WHERE id = @userId", new { userId }, cancellationToken: ct));
    }

    // ---- preferences

    public async Task<PreferenceRow?> GetPreferencesAsync(Guid orgId, Guid userId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<PreferenceRow>(new CommandDefinition(
            $"SELECT {PreferenceColumns} FROM notification_preferences WHERE org_id = @orgId AND user_id = @userId", new { orgId, userId }, cancellationToken: ct));
    }

    public Task PutPreferencesAsync(Change change, PreferenceRow row) =>
        change.Run((c, t) => c.ExecuteAsync(
            "INSERT INTO notification_preferences (org_id, user_id, quiet_start, quiet_end, time_zone, muted_channels, updated_at) " +
            "VALUES (@OrgId, @UserId, @QuietStart, @QuietEnd, @TimeZone, @MutedChannels, @UpdatedAt) " +
            "ON CONFLICT (org_id, user_id) DO UPDATE SET quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, time_zone = excluded.time_zone, " +
            "muted_channels = excluded.muted_channels, updated_at = excluded.updated_at", row, t));

    /// <summary>The preferences of everyone in these orgs who has any.</summary>
    public async Task<IReadOnlyList<PreferenceRow>> PreferencesOfOrgsAsync(IReadOnlyList<Guid> orgIds, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<PreferenceRow>(new CommandDefinition(
            $"SELECT {PreferenceColumns} FROM notification_preferences WHERE {db.Dialect.InList("org_id", "@orgIds")}",
            new { orgIds = orgIds.ToArray() }, cancellationToken: ct))).AsList();
    }

    // ---- fan-out

    /// <summary>The (event, channel, recipient) keys that already have a delivery among these events.</summary>
    public async Task<IReadOnlySet<(long Seq, string Channel, string Recipient)>> ExistingKeysAsync(IReadOnlyList<long> seqs, CancellationToken ct)
    {
        if (seqs.Count == 0)
        {
            return new HashSet<(long, string, string)>();
        }

        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<(long, string, string)>(new CommandDefinition(
            $"SELECT event_seq, channel, recipient FROM notification_deliveries WHERE {db.Dialect.InList("event_seq", "@seqs")}",
            new { seqs = seqs.ToArray() }, cancellationToken: ct))).ToHashSet();
    }

    /// <summary>
    /// What the burst grouping counts: the deliveries of these orgs whose event happened since <paramref name="since"/>
    /// (not digests, not suppressed), and every digest still waiting to be sent.
    /// </summary>
    public async Task<IReadOnlyList<NotificationDeliveryRow>> RecentAsync(IReadOnlyList<Guid> orgIds, long since, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<NotificationDeliveryRow>(new CommandDefinition(
            $"SELECT {DeliveryColumns} FROM notification_deliveries WHERE {db.Dialect.InList("org_id", "@orgIds")} AND " +
            "((is_digest = 0 AND event_at >= @since AND status <> 'suppressed') OR (is_digest = 1 AND status = 'pending'))",
            new { orgIds = orgIds.ToArray(), since }, cancellationToken: ct))).AsList();
    }

    /// <summary>
    /// Inserts the deliveries of a fan-out pass, in the transaction that advances the cursor (a key that already has a
    /// delivery keeps it).
    /// </summary>
    public static Task InsertDeliveriesAsync(DbConnection c, DbTransaction t, IReadOnlyList<NotificationDeliveryRow> deliveries) =>
        c.ExecuteAsync(
            "INSERT INTO notification_deliveries (id, org_id, rule_id, event_seq, event_type, event_at, channel, recipient, recipient_user_id, status, " +
            "is_digest, digest_id, attempts, next_attempt_at, note, created_at) VALUES (@Id, @OrgId, @RuleId, @EventSeq, @EventType, @EventAt, @Channel, " +
            "@Recipient, @RecipientUserId, @Status, @IsDigest, @DigestId, 0, @NextAttemptAt, @Note, @CreatedAt) ON CONFLICT DO NOTHING", deliveries, t);

    // ---- sending

    /// <summary>
    /// The oldest due deliveries of one channel type, at most <paramref name="limit"/>; with a null
    /// <paramref name="channel"/>, those of any type this server does not know (<see cref="NotificationChannels.All"/>).
    /// </summary>
    public async Task<IReadOnlyList<NotificationDeliveryRow>> DueAsync(long now, string? channel, int limit, CancellationToken ct)
    {
        var which = channel is null ? $"channel NOT IN ({string.Join(", ", NotificationChannels.All.Select(k => $"'{k}'"))})" : "channel = @channel";
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<NotificationDeliveryRow>(new CommandDefinition(
            $"SELECT {DeliveryColumns} FROM notification_deliveries WHERE status = 'pending' AND next_attempt_at <= @now AND {which} ORDER BY next_attempt_at, id LIMIT @limit",
            new { now, channel, limit }, cancellationToken: ct))).AsList();
    }

    /// <summary>The events each of these digests stands for, in event order.</summary>
    public async Task<IReadOnlyList<(Guid DigestId, long Seq)>> GroupedAsync(IReadOnlyList<Guid> digestIds, CancellationToken ct)
    {
        if (digestIds.Count == 0)
        {
            return [];
        }

        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<(Guid, long)>(new CommandDefinition(
            $"SELECT digest_id, event_seq FROM notification_deliveries WHERE {db.Dialect.InList("digest_id", "@digestIds")} AND event_seq IS NOT NULL ORDER BY event_seq",
            new { digestIds = digestIds.ToArray() }, cancellationToken: ct))).AsList();
    }

    /// <summary>Records a batch of attempts in one transaction (a delivery costs a share of a commit, not a commit of its own).</summary>
    public Task RecordAsync(IReadOnlyList<DeliveryAttempt> attempts, CancellationToken ct) =>
        db.WriteBackgroundAsync(async (c, t) =>
        {
            await c.ExecuteAsync(
                "UPDATE notification_deliveries SET status = @Status, attempts = attempts + 1, next_attempt_at = @RetryAt, last_error = COALESCE(@Error, last_error), " +
                "external_id = COALESCE(@ExternalId, external_id), sent_at = CASE WHEN @Status = 'sent' THEN @Now ELSE sent_at END " +
                "WHERE id = @Id AND status = 'pending'", attempts, t);
            return true;
        }, ct);

    // ---- the delivery log

    public async Task<IReadOnlyList<NotificationDeliveryRow>> ListDeliveriesAsync(
        Guid orgId, Guid? before, int limit, string? status, string? channel, string? eventType, CancellationToken ct)
    {
        var sql = $"SELECT {DeliveryColumns} FROM notification_deliveries WHERE org_id = @orgId"
            + (before is null ? "" : " AND id < @before")
            + (status is null ? "" : " AND status = @status")
            + (channel is null ? "" : " AND channel = @channel")
            + (eventType is null ? "" : " AND event_type = @eventType");
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<NotificationDeliveryRow>(new CommandDefinition(
            sql + " ORDER BY id DESC LIMIT @limit", new { orgId, before, limit, status, channel, eventType }, cancellationToken: ct))).AsList();
    }

    // ---- clarification.expiring

    /// <summary>
    /// Pending questions within their lead time of expiry (the smaller of <paramref name="lead"/> and a quarter of the
    /// question's life) for which clarification.expiring has not been raised yet.
    /// </summary>
    public async Task<IReadOnlyList<(Guid Id, Guid OrgId, Guid TaskId, long ExpiresAt)>> ExpiringDueAsync(long now, long lead, int limit, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<(Guid, Guid, Guid, long)>(new CommandDefinition(
            "SELECT q.id, q.org_id, q.task_id, q.expires_at FROM clarifications q WHERE q.status = 'pending' AND q.expires_at > @now " +
            "AND q.expires_at - (CASE WHEN (q.expires_at - q.created_at) / 4 < @lead THEN (q.expires_at - q.created_at) / 4 ELSE @lead END) <= @now " +
            "AND NOT EXISTS (SELECT 1 FROM notification_expiring x WHERE x.clarification_id = q.id) ORDER BY q.expires_at LIMIT @limit",
            new { now, lead, limit }, cancellationToken: ct))).AsList();
    }

    /// <summary>Marks clarification.expiring raised for the question; false when it already was (the event must not be emitted again).</summary>
    public Task<bool> MarkExpiringAsync(Change change, Guid clarificationId, Guid orgId) =>
        change.Run(async (c, t) => await c.ExecuteAsync(
            "INSERT INTO notification_expiring (clarification_id, org_id, created_at) VALUES (@clarificationId, @orgId, @now) ON CONFLICT DO NOTHING",
            new { clarificationId, orgId, now = change.Now }, t) == 1);
}
