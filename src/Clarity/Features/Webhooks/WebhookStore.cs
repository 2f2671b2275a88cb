using System.Data.Common;
using System.Text.Json;
using Clarity.Hosting;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Webhooks;

/// <summary>An endpoint as stored (the secrets still encrypted).</summary>
public sealed class WebhookRow
{
    public Guid Id { get; set; }

    public Guid OrgId { get; set; }

    public string Url { get; set; } = "";

    public string? Description { get; set; }

    public string Events { get; set; } = "[]";

    public string Filters { get; set; } = "{}";

    public long Enabled { get; set; }

    public string Secret { get; set; } = "";

    public string? PreviousSecret { get; set; }

    public long? PreviousSecretExpiresAt { get; set; }

    public long ConsecutiveFailures { get; set; }

    public string? DisabledReason { get; set; }

    public long CreatedAt { get; set; }

    public long UpdatedAt { get; set; }

    public IReadOnlyList<string> EventList => JsonSerializer.Deserialize<List<string>>(Events, JsonDefaults.Options) ?? [];

    public WebhookFilters FilterSet => JsonSerializer.Deserialize<WebhookFilters>(Filters, JsonDefaults.Options) ?? new WebhookFilters(null, null);

    public Webhook ToModel() => new(
        Id, Url, Description, EventList, FilterSet, Enabled != 0, DisabledReason, (int)ConsecutiveFailures,
        DbTime.FromDb(PreviousSecretExpiresAt), DbTime.FromDb(CreatedAt), DbTime.FromDb(UpdatedAt));
}

/// <summary>A delivery as stored.</summary>
public sealed class DeliveryRow
{
    public Guid Id { get; set; }

    public Guid EndpointId { get; set; }

    public Guid OrgId { get; set; }

    public string MessageId { get; set; } = "";

    public long? EventSeq { get; set; }

    public string EventType { get; set; } = "";

    public string Payload { get; set; } = "";

    public string Status { get; set; } = WebhookDeliveryStatuses.Pending;

    public long Attempts { get; set; }

    public long? NextAttemptAt { get; set; }

    public long? LastAttemptAt { get; set; }

    public long? ResponseStatus { get; set; }

    public string? ResponseExcerpt { get; set; }

    public long? LatencyMs { get; set; }

    public string? Error { get; set; }

    public long CreatedAt { get; set; }

    public WebhookDelivery ToModel() => new(
        Id, MessageId, EventType, EventSeq, Status, (int)Attempts, DbTime.FromDb(NextAttemptAt), DbTime.FromDb(LastAttemptAt),
        (int?)ResponseStatus, ResponseExcerpt, (int?)LatencyMs, Error, DbTime.FromDb(CreatedAt));
}

/// <summary>The outcome of one attempt, as the sender records it.</summary>
public sealed record AttemptOutcome(bool Succeeded, int? ResponseStatus, string? ResponseExcerpt, int LatencyMs, string? Error);

/// <summary>
/// SQL for webhook endpoints, their deliveries and the outbox consumer's durable cursor. The same SQL serves both backends.
/// </summary>
public sealed class WebhookStore(Database db)
{
    public const string CursorName = "webhooks";

    private const string EndpointColumns =
        "id AS Id, org_id AS OrgId, url AS Url, description AS Description, events AS Events, filters AS Filters, enabled AS Enabled, " +
        "secret AS Secret, previous_secret AS PreviousSecret, previous_secret_expires_at AS PreviousSecretExpiresAt, " +
        "consecutive_failures AS ConsecutiveFailures, disabled_reason AS DisabledReason, created_at AS CreatedAt, updated_at AS UpdatedAt";

    private const string DeliveryColumns =
        "id AS Id, endpoint_id AS EndpointId, org_id AS OrgId, message_id AS MessageId, event_seq AS EventSeq, event_type AS EventType, " +
        "payload AS Payload, status AS Status, attempts AS Attempts, next_attempt_at AS NextAttemptAt, last_attempt_at AS LastAttemptAt, " +
        "response_status AS ResponseStatus, response_excerpt AS ResponseExcerpt, latency_ms AS LatencyMs, error AS Error, created_at AS CreatedAt";

    public Database Database => db;

    /// <summary>Inserts an endpoint unless the org already has <paramref name="max"/>; false then. The org row's lock keeps the count honest under concurrency.</summary>
    public Task<bool> InsertAsync(Change change, WebhookRow row, int max) =>
        change.Run(async (c, t) =>
        {
            await c.ExecuteScalarAsync<Guid?>($"SELECT id FROM orgs WHERE id = @OrgId {change.Dialect.ForUpdate}", new { row.OrgId }, t);
            if (await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM webhook_endpoints WHERE org_id = @OrgId", new { row.OrgId }, t) >= max)
            {
                return false;
            }

            await c.ExecuteAsync(
                "INSERT INTO webhook_endpoints (id, org_id, url, description, events, filters, enabled, secret, consecutive_failures, created_at, updated_at) " +
                "VALUES (@Id, @OrgId, @Url, @Description, @Events, @Filters, 1, @Secret, 0, @CreatedAt, @UpdatedAt)", row, t);
            return true;
        });

    public async Task<WebhookRow?> GetAsync(Guid orgId, Guid id, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<WebhookRow>(new CommandDefinition(
            $"SELECT {EndpointColumns} FROM webhook_endpoints WHERE org_id = @orgId AND id = @id", new { orgId, id }, cancellationToken: ct));
    }

    /// <summary>An endpoint by id alone (the sender, which works for every org).</summary>
    public async Task<WebhookRow?> GetByIdAsync(Guid id, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<WebhookRow>(new CommandDefinition(
            $"SELECT {EndpointColumns} FROM webhook_endpoints WHERE id = @id", new { id }, cancellationToken: ct));
    }

    /// <summary>An org's endpoints, newest first, before the cursor.</summary>
    public async Task<IReadOnlyList<WebhookRow>> ListAsync(Guid orgId, Guid? before, int limit, CancellationToken ct)
    {
        var sql = $"SELECT {EndpointColumns} FROM webhook_endpoints WHERE org_id = @orgId" + (before is null ? "" : " AND id < @before");
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<WebhookRow>(new CommandDefinition(sql + " ORDER BY id DESC LIMIT @limit", new { orgId, before, limit }, cancellationToken: ct))).AsList();
    }

    /// <summary>Every enabled endpoint of these orgs (the fan-out).</summary>
    public async Task<IReadOnlyList<WebhookRow>> EnabledOfOrgsAsync(IReadOnlyList<Guid> orgIds, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<WebhookRow>(new CommandDefinition(
            $"SELECT {EndpointColumns} FROM webhook_endpoints WHERE enabled = 1 AND {db.Dialect.InList("org_id", "@orgIds")}",
            new { orgIds = orgIds.ToArray() }, cancellationToken: ct))).AsList();
    }

    /// <summary>Writes the endpoint's editable fields; null when it is not in the org.</summary>
    public Task<WebhookRow?> UpdateAsync(Change change, WebhookRow row, bool reenabled) =>
        change.Run((c, t) => c.QuerySingleOrDefaultAsync<WebhookRow?>(
            "UPDATE webhook_endpoints SET url = @Url, description = @Description, events = @Events, filters = @Filters, enabled = @Enabled, " +
            "disabled_reason = @DisabledReason, updated_at = @UpdatedAt" + (reenabled ? ", consecutive_failures = 0" : "") +
            $" WHERE org_id = @OrgId AND id = @Id RETURNING {EndpointColumns}", row, t));

    /// <summary>Deletes the endpoint and its delivery log; false when it is not in the org.</summary>
    public Task<bool> DeleteAsync(Change change, Guid orgId, Guid id) =>
        change.Run(async (c, t) =>
        {
            await c.ExecuteAsync("DELETE FROM webhook_deliveries WHERE endpoint_id = @id AND org_id = @orgId", new { orgId, id }, t);
            return await c.ExecuteAsync("DELETE FROM webhook_endpoints WHERE org_id = @orgId AND id = @id", new { orgId, id }, t) == 1;
        });

    /// <summary>Sets a new secret; the current one becomes the previous one until <paramref name="previousExpiresAt"/>.</summary>
    public Task<WebhookRow?> RotateAsync(Change change, Guid orgId, Guid id, string secret, long? previousExpiresAt) =>
        change.Run((c, t) => c.QuerySingleOrDefaultAsync<WebhookRow?>(
            "UPDATE webhook_endpoints SET previous_secret = CASE WHEN @previousExpiresAt IS NULL THEN NULL ELSE secret END, " +
            "previous_secret_expires_at = @previousExpiresAt, secret = @secret, updated_at = @now " +
            $"WHERE org_id = @orgId AND id = @id RETURNING {EndpointColumns}",
            new { orgId, id, secret, previousExpiresAt, now = change.Now }, t));

    /// <summary>Where the fan-out stands in the outbox.</summary>
    public async Task<long> CursorAsync(CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.ExecuteScalarAsync<long>(new CommandDefinition("SELECT seq FROM consumer_cursors WHERE name = @CursorName", new { CursorName }, cancellationToken: ct));
    }

    /// <summary>
    /// In one transaction: moves the cursor from <paramref name="from"/> to <paramref name="to"/> and inserts the deliveries
    /// of the events in between. False (and nothing written) when the cursor is no longer at <paramref name="from"/>.
    /// </summary>
    public Task<bool> FanOutAsync(long from, long to, IReadOnlyList<DeliveryRow> deliveries, long now, CancellationToken ct) =>
        db.WriteAsync(async (c, t) =>
        {
            if (await c.ExecuteAsync("UPDATE consumer_cursors SET seq = @to, updated_at = @now WHERE name = @CursorName AND seq = @from", new { to, from, now, CursorName }, t) != 1)
            {
                return false;
            }

            if (deliveries.Count > 0)
            {
                await InsertDeliveriesAsync(c, t, deliveries);
            }

            return true;
        }, ct);

    private static Task InsertDeliveriesAsync(DbConnection c, DbTransaction t, IReadOnlyList<DeliveryRow> deliveries) =>
        c.ExecuteAsync(
            "INSERT INTO webhook_deliveries (id, endpoint_id, org_id, message_id, event_seq, event_type, payload, status, attempts, next_attempt_at, created_at) " +
            "VALUES (@Id, @EndpointId, @OrgId, @MessageId, @EventSeq, @EventType, @Payload, @Status, 0, @NextAttemptAt, @CreatedAt)", deliveries, t);

    /// <summary>Enabled endpoints that have deliveries due at <paramref name="now"/>.</summary>
    public async Task<IReadOnlyList<Guid>> EndpointsWithDueAsync(long now, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<Guid>(new CommandDefinition(
            "SELECT e.id FROM webhook_endpoints e WHERE e.enabled = 1 AND EXISTS (SELECT 1 FROM webhook_deliveries d " +
            "WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= @now)", new { now }, cancellationToken: ct))).AsList();
    }

    /// <summary>An endpoint's due deliveries, oldest due first.</summary>
    public async Task<IReadOnlyList<DeliveryRow>> DueAsync(Guid endpointId, long now, int limit, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<DeliveryRow>(new CommandDefinition(
            $"SELECT {DeliveryColumns} FROM webhook_deliveries WHERE endpoint_id = @endpointId AND status = 'pending' AND next_attempt_at <= @now " +
            "ORDER BY next_attempt_at, id LIMIT @limit", new { endpointId, now, limit }, cancellationToken: ct))).AsList();
    }

    /// <summary>
    /// Records attempts in one transaction, in order: each delivery succeeds, is retried at its retry time, or fails for
    /// good (no retry time); each endpoint's run of failures is reset or extended. Returns, per attempt, the endpoint's
    /// failures in a row after it.
    /// </summary>
    public Task<long[]> RecordAttemptsAsync(IReadOnlyList<(DeliveryRow Delivery, AttemptOutcome Outcome, long Now, long? RetryAt)> attempts, CancellationToken ct) =>
        db.WriteAsync(async (c, t) =>
        {
            var failures = new long[attempts.Count];
            for (var i = 0; i < attempts.Count; i++)
            {
                var (delivery, outcome, now, retryAt) = attempts[i];
                var status = outcome.Succeeded ? WebhookDeliveryStatuses.Succeeded : retryAt is null ? WebhookDeliveryStatuses.Failed : WebhookDeliveryStatuses.Pending;
                await c.ExecuteAsync(
                    "UPDATE webhook_deliveries SET status = @status, attempts = attempts + 1, next_attempt_at = @next, last_attempt_at = @now, " +
                    "response_status = @ResponseStatus, response_excerpt = @ResponseExcerpt, latency_ms = @LatencyMs, error = @Error WHERE id = @id AND status = 'pending'",
                    new { status, next = outcome.Succeeded ? null : retryAt, now, outcome.ResponseStatus, outcome.ResponseExcerpt, outcome.LatencyMs, outcome.Error, id = delivery.Id }, t);
                failures[i] = await c.ExecuteScalarAsync<long?>(
                    (outcome.Succeeded
                        ? "UPDATE webhook_endpoints SET consecutive_failures = 0"
                        : "UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1") +
                    " WHERE id = @endpointId RETURNING consecutive_failures", new { endpointId = delivery.EndpointId }, t) ?? 0;
            }

            return failures;
        }, ct);

    /// <summary>Disables an enabled endpoint (the unit of work emits webhook.disabled); null when it was not enabled.</summary>
    public Task<WebhookRow?> DisableAsync(Change change, Guid id, string reason) =>
        change.Run((c, t) => c.QuerySingleOrDefaultAsync<WebhookRow?>(
            $"UPDATE webhook_endpoints SET enabled = 0, disabled_reason = @reason, updated_at = @now WHERE id = @id AND enabled = 1 RETURNING {EndpointColumns}",
            new { id, reason, now = change.Now }, t));

    /// <summary>An endpoint's deliveries, newest first, before the cursor.</summary>
    public async Task<IReadOnlyList<DeliveryRow>> ListDeliveriesAsync(Guid orgId, Guid endpointId, Guid? before, int limit, CancellationToken ct)
    {
        var sql = $"SELECT {DeliveryColumns} FROM webhook_deliveries WHERE org_id = @orgId AND endpoint_id = @endpointId" + (before is null ? "" : " AND id < @before");
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<DeliveryRow>(new CommandDefinition(sql + " ORDER BY id DESC LIMIT @limit", new { orgId, endpointId, before, limit }, cancellationToken: ct))).AsList();
    }

    /// <summary>Queues the delivery's message again, as a new delivery with the same message id; null when it is not the endpoint's.</summary>
    public Task<DeliveryRow?> ReplayAsync(Change change, Guid orgId, Guid endpointId, Guid deliveryId) =>
        change.Run(async (c, t) =>
        {
            var original = await c.QuerySingleOrDefaultAsync<DeliveryRow>(
                $"SELECT {DeliveryColumns} FROM webhook_deliveries WHERE org_id = @orgId AND endpoint_id = @endpointId AND id = @deliveryId",
                new { orgId, endpointId, deliveryId }, t);
            if (original is null)
            {
                return null;
            }

            var replay = new DeliveryRow
            {
                Id = Guid.CreateVersion7(),
                EndpointId = endpointId,
                OrgId = orgId,
                MessageId = original.MessageId,
                EventSeq = original.EventSeq,
                EventType = original.EventType,
                Payload = original.Payload,
                Status = WebhookDeliveryStatuses.Pending,
                NextAttemptAt = change.Now,
                CreatedAt = change.Now,
            };
            await InsertDeliveriesAsync(c, t, [replay]);
            return replay;
        });

    /// <summary>The queue and labels of these tasks, for the filters.</summary>
    public async Task<IReadOnlyDictionary<Guid, (string Queue, IReadOnlyList<string> Labels)>> TaskFacetsAsync(IReadOnlyList<Guid> taskIds, CancellationToken ct)
    {
        if (taskIds.Count == 0)
        {
            return new Dictionary<Guid, (string, IReadOnlyList<string>)>();
        }

        await using var c = await db.OpenReadAsync(ct);
        var rows = await c.QueryAsync<(Guid Id, string Queue, string Labels)>(new CommandDefinition(
            $"SELECT id, queue, labels FROM tasks WHERE {db.Dialect.InList("id", "@ids")}", new { ids = taskIds.ToArray() }, cancellationToken: ct));
        return rows.ToDictionary(r => r.Id, r => (r.Queue, (IReadOnlyList<string>)(JsonSerializer.Deserialize<List<string>>(r.Labels) ?? [])));
    }
}
