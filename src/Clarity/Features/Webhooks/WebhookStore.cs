using System.Data.Common;
using System.Text.Json;
using Clarity.Hosting;
using Clarity.Storage;
using Dapper;
using Npgsql;
using NpgsqlTypes;

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
/// SQL for webhook endpoints and their deliveries. The same SQL serves both backends.
/// </summary>
public sealed class WebhookStore(Database db)
{
    /// <summary>The fan-out's durable cursor over the outbox (<see cref="Clarity.Events.ConsumerCursors"/>).</summary>
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

    /// <summary>
    /// Inserts deliveries: on PostgreSQL in one statement (arrays unnested), one round trip however many there are; on
    /// SQLite one prepared statement per row, in process.
    /// </summary>
    public async Task InsertDeliveriesAsync(DbConnection c, DbTransaction t, IReadOnlyList<DeliveryRow> deliveries)
    {
        if (db.Kind != DatabaseKind.Postgres)
        {
            await c.ExecuteAsync(
                "INSERT INTO webhook_deliveries (id, endpoint_id, org_id, message_id, event_seq, event_type, payload, status, attempts, next_attempt_at, created_at) " +
                "VALUES (@Id, @EndpointId, @OrgId, @MessageId, @EventSeq, @EventType, @Payload, @Status, 0, @NextAttemptAt, @CreatedAt)", deliveries, t);
            return;
        }

        await using var insert = new NpgsqlCommand(
            "INSERT INTO webhook_deliveries (id, endpoint_id, org_id, message_id, event_seq, event_type, payload, status, attempts, next_attempt_at, created_at) " +
            "SELECT id, endpoint_id, org_id, message_id, event_seq, event_type, payload, status, 0, next_attempt_at, created_at " +
            "FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[]) " +
            "AS d(id, endpoint_id, org_id, message_id, event_seq, event_type, payload, status, next_attempt_at, created_at)",
            (NpgsqlConnection)c, (NpgsqlTransaction)t);
        insert.Parameters.Add(new() { Value = deliveries.Select(d => d.Id).ToArray() });
        insert.Parameters.Add(new() { Value = deliveries.Select(d => d.EndpointId).ToArray() });
        insert.Parameters.Add(new() { Value = deliveries.Select(d => d.OrgId).ToArray() });
        insert.Parameters.Add(new() { Value = deliveries.Select(d => d.MessageId).ToArray() });
        insert.Parameters.Add(new() { Value = deliveries.Select(d => d.EventSeq).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
        insert.Parameters.Add(new() { Value = deliveries.Select(d => d.EventType).ToArray() });
        insert.Parameters.Add(new() { Value = deliveries.Select(d => d.Payload).ToArray() });
        insert.Parameters.Add(new() { Value = deliveries.Select(d => d.Status).ToArray() });
        insert.Parameters.Add(new() { Value = deliveries.Select(d => d.NextAttemptAt).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
        insert.Parameters.Add(new() { Value = deliveries.Select(d => d.CreatedAt).ToArray() });
        await insert.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// Every enabled endpoint, read whole. The sender reads them each pass and then the due deliveries of those with a
    /// free slot: asking the database which endpoints have due deliveries walked, on PostgreSQL, every delivery sent since
    /// the last vacuum (their index entries stay until then) a second time per pass.
    /// </summary>
    public async Task<IReadOnlyList<WebhookRow>> EnabledAsync(CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<WebhookRow>(new CommandDefinition(
            $"SELECT {EndpointColumns} FROM webhook_endpoints WHERE enabled = 1", cancellationToken: ct))).AsList();
    }

    /// <summary>
    /// The due deliveries of these endpoints after each one's key (<see cref="DueKey.Start"/> for all of them), each
    /// endpoint's oldest due first and at most its limit: on PostgreSQL one query for all of them (a lateral join over the
    /// endpoints), on SQLite one compound query per 100 endpoints. The key is where the index read starts, so what lies
    /// before it (deliveries already taken, and on PostgreSQL the dead index entries sent ones leave until vacuum) is never read.
    /// </summary>
    public async Task<IReadOnlyList<DeliveryRow>> DueAsync(IReadOnlyList<(Guid EndpointId, int Limit, DueKey After)> endpoints, long now, CancellationToken ct)
    {
        if (endpoints.Count == 0)
        {
            return [];
        }

        await using var c = await db.OpenReadAsync(ct);
        if (db.Kind == DatabaseKind.Postgres)
        {
            return (await c.QueryAsync<DeliveryRow>(new CommandDefinition(
                "SELECT d.* FROM unnest(@ids::uuid[], @limits::int[], @ats::bigint[], @afters::uuid[]) AS x(endpoint_id, n, at, after) CROSS JOIN LATERAL " +
                $"(SELECT {DeliveryColumns} FROM webhook_deliveries WHERE endpoint_id = x.endpoint_id AND status = 'pending' AND next_attempt_at <= @now " +
                "AND (next_attempt_at, id) > (x.at, x.after) ORDER BY next_attempt_at, id LIMIT x.n) d",
                new
                {
                    ids = endpoints.Select(e => e.EndpointId).ToArray(),
                    limits = endpoints.Select(e => e.Limit).ToArray(),
                    ats = endpoints.Select(e => e.After.At).ToArray(),
                    afters = endpoints.Select(e => e.After.Id).ToArray(),
                    now,
                }, cancellationToken: ct))).AsList();
        }

        // One compound statement per SqliteDueChunk endpoints (SQLite allows at most 500 terms in a compound SELECT): a
        // pass runs under load every few milliseconds, and a statement per endpoint was most of its cost.
        var due = new List<DeliveryRow>();
        foreach (var chunk in endpoints.Chunk(SqliteDueChunk))
        {
            var parameters = new DynamicParameters(new { now });
            var arms = new List<string>(chunk.Length);
            for (var i = 0; i < chunk.Length; i++)
            {
                parameters.Add($"e{i}", chunk[i].EndpointId);
                parameters.Add($"n{i}", chunk[i].Limit);
                parameters.Add($"a{i}", chunk[i].After.At);
                parameters.Add($"d{i}", chunk[i].After.Id);
                arms.Add($"SELECT * FROM (SELECT {DeliveryColumns} FROM webhook_deliveries WHERE endpoint_id = @e{i} AND status = 'pending' " +
                    $"AND next_attempt_at <= @now AND (next_attempt_at, id) > (@a{i}, @d{i}) ORDER BY next_attempt_at, id LIMIT @n{i})");
            }

            due.AddRange(await c.QueryAsync<DeliveryRow>(new CommandDefinition(string.Join(" UNION ALL ", arms), parameters, cancellationToken: ct)));
        }

        return due;
    }

    /// <summary>How many endpoints one SQLite statement of <see cref="DueAsync"/> reads.</summary>
    internal const int SqliteDueChunk = 100;

    /// <summary>
    /// Records attempts in one transaction: each delivery succeeds, is retried at its retry time, or fails for good (no
    /// retry time); each endpoint's run of failures is reset or extended, in the order of the attempts. Returns, per
    /// attempt, the endpoint's failures in a row after it. On PostgreSQL a few statements per batch, however large: the
    /// deliveries' outcomes in one, the endpoints' counts read under their row locks in one (pipelined with the first),
    /// then one per endpoint whose count changed (none while every attempt succeeds).
    /// </summary>
    public Task<long[]> RecordAttemptsAsync(IReadOnlyList<(DeliveryRow Delivery, AttemptOutcome Outcome, long Now, long? RetryAt)> attempts, CancellationToken ct) =>
        db.WriteBackgroundAsync(async (c, t) =>
        {
            var rows = attempts.Select(a => new AttemptRow(
                a.Delivery.Id,
                a.Outcome.Succeeded ? WebhookDeliveryStatuses.Succeeded : a.RetryAt is null ? WebhookDeliveryStatuses.Failed : WebhookDeliveryStatuses.Pending,
                a.Outcome.Succeeded ? null : a.RetryAt,
                a.Now,
                a.Outcome.ResponseStatus,
                a.Outcome.ResponseExcerpt,
                a.Outcome.LatencyMs,
                a.Outcome.Error)).ToList();
            var endpointIds = attempts.Select(a => a.Delivery.EndpointId).Distinct().Order().ToArray();
            var before = db.Kind == DatabaseKind.Postgres
                ? await RecordOutcomesPostgresAsync((NpgsqlConnection)c, (NpgsqlTransaction)t, rows, endpointIds)
                : await RecordOutcomesSqliteAsync(c, t, rows, endpointIds);

            var counts = new Dictionary<Guid, long>(before);
            var failures = new long[attempts.Count];
            for (var i = 0; i < attempts.Count; i++)
            {
                var endpointId = attempts[i].Delivery.EndpointId;
                if (counts.TryGetValue(endpointId, out var count))
                {
                    // A deleted endpoint has no count: 0, as its deliveries are never sent again.
                    failures[i] = counts[endpointId] = attempts[i].Outcome.Succeeded ? 0 : count + 1;
                }
            }

            var changed = counts.Where(kv => kv.Value != before[kv.Key]).OrderBy(kv => kv.Key).ToList();
            if (changed.Count > 0)
            {
                await c.ExecuteAsync(
                    "UPDATE webhook_endpoints SET consecutive_failures = @Value WHERE id = @Key", changed.Select(kv => new { kv.Key, kv.Value }), t);
            }

            return failures;
        }, ct);

    private const string RecordOutcome =
        "status = @Status, attempts = attempts + 1, next_attempt_at = @Next, last_attempt_at = @Now, response_status = @ResponseStatus, " +
        "response_excerpt = @ResponseExcerpt, latency_ms = @LatencyMs, error = @Error";

    private const string ReadFailures = "SELECT id, consecutive_failures FROM webhook_endpoints WHERE ";

    /// <summary>SQLite: one in-process statement per outcome; the single writer already serialises the counts.</summary>
    private async Task<Dictionary<Guid, long>> RecordOutcomesSqliteAsync(DbConnection c, DbTransaction t, List<AttemptRow> rows, Guid[] endpointIds)
    {
        await c.ExecuteAsync($"UPDATE webhook_deliveries SET {RecordOutcome} WHERE id = @Id AND status = 'pending'", rows, t);
        return (await c.QueryAsync<(Guid Id, long Failures)>(ReadFailures + db.Dialect.InList("id", "@endpointIds"), new { endpointIds }, t))
            .ToDictionary(r => r.Id, r => r.Failures);
    }

    /// <summary>
    /// PostgreSQL: every outcome in one UPDATE over unnested arrays, and the endpoints' counts read under their row locks
    /// (in id order, so two recorders never deadlock on them), both in one round trip.
    /// </summary>
    private static async Task<Dictionary<Guid, long>> RecordOutcomesPostgresAsync(NpgsqlConnection c, NpgsqlTransaction t, List<AttemptRow> rows, Guid[] endpointIds)
    {
        await using var batch = new NpgsqlBatch(c, t);
        var update = new NpgsqlBatchCommand(
            "UPDATE webhook_deliveries d SET status = u.status, attempts = d.attempts + 1, next_attempt_at = u.next, last_attempt_at = u.now, " +
            "response_status = u.response_status, response_excerpt = u.response_excerpt, latency_ms = u.latency_ms, error = u.error " +
            "FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[], $5::int[], $6::text[], $7::int[], $8::text[]) " +
            "AS u(id, status, next, now, response_status, response_excerpt, latency_ms, error) WHERE d.id = u.id AND d.status = 'pending'");
        update.Parameters.Add(new() { Value = rows.Select(r => r.Id).ToArray() });
        update.Parameters.Add(new() { Value = rows.Select(r => r.Status).ToArray() });
        update.Parameters.Add(new() { Value = rows.Select(r => r.Next).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
        update.Parameters.Add(new() { Value = rows.Select(r => r.Now).ToArray() });
        update.Parameters.Add(new() { Value = rows.Select(r => r.ResponseStatus).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
        update.Parameters.Add(new() { Value = rows.Select(r => r.ResponseExcerpt).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        update.Parameters.Add(new() { Value = rows.Select(r => r.LatencyMs).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
        update.Parameters.Add(new() { Value = rows.Select(r => r.Error).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        batch.BatchCommands.Add(update);
        var read = new NpgsqlBatchCommand(ReadFailures + "id = ANY($1) ORDER BY id FOR UPDATE");
        read.Parameters.Add(new() { Value = endpointIds });
        batch.BatchCommands.Add(read);

        var before = new Dictionary<Guid, long>();
        await using var reader = await batch.ExecuteReaderAsync();
        do
        {
            while (await reader.ReadAsync())
            {
                before[reader.GetGuid(0)] = Convert.ToInt64(reader.GetValue(1), System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        while (await reader.NextResultAsync());

        return before;
    }

    /// <summary>One attempt's outcome as the delivery row records it.</summary>
    private sealed record AttemptRow(Guid Id, string Status, long? Next, long Now, int? ResponseStatus, string? ResponseExcerpt, int LatencyMs, string? Error);

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

    /// <summary>
    /// Queues one delivery to an enabled endpoint of the org, outside the fan-out (the notifications' webhook channel):
    /// it is then signed, retried and logged like every other. False, and nothing queued, when the endpoint is not the
    /// org's or is disabled.
    /// </summary>
    public Task<bool> EnqueueAsync(DeliveryRow delivery, CancellationToken ct) =>
        db.WriteBackgroundAsync(async (c, t) =>
        {
            if (await c.ExecuteScalarAsync<long?>("SELECT enabled FROM webhook_endpoints WHERE id = @EndpointId AND org_id = @OrgId", new { delivery.EndpointId, delivery.OrgId }, t) != 1)
            {
                return false;
            }

            await InsertDeliveriesAsync(c, t, [delivery]);
            return true;
        }, ct);

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

/// <summary>
/// Where a delivery stands in its endpoint's due order (<c>ORDER BY next_attempt_at, id</c>). Ids compare as both
/// databases order them: uuid on PostgreSQL, and on SQLite hexadecimal text of one case, whose order is
/// <see cref="Guid.CompareTo(Guid)"/>'s.
/// </summary>
public readonly record struct DueKey(long At, Guid Id) : IComparable<DueKey>
{
    /// <summary>Before every delivery.</summary>
    public static readonly DueKey Start = new(long.MinValue, Guid.Empty);

    public static DueKey Of(DeliveryRow delivery) => new(delivery.NextAttemptAt ?? long.MinValue, delivery.Id);

    public int CompareTo(DueKey other) => At != other.At ? At.CompareTo(other.At) : Id.CompareTo(other.Id);
}
