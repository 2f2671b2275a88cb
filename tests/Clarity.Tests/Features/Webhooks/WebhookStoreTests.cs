using System.Net;
using System.Net.Http.Json;
using Clarity.Features.Webhooks;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Webhooks;

/// <summary>A host that may save endpoints on loopback; the tests disable their endpoints at once, so the sender leaves their deliveries alone.</summary>
public abstract class WebhookStoreFixture(Backend backend) : HostFixture(backend, new Dictionary<string, string?> { ["Clarity:Webhooks:AllowPrivateNetworks"] = "true" });

public sealed class SqliteWebhookStoreFixture() : WebhookStoreFixture(Backend.Sqlite);

public sealed class PostgresWebhookStoreFixture() : WebhookStoreFixture(Backend.Postgres);

/// <summary>
/// The sender's batched SQL, against the real engines: due deliveries of many endpoints in one read, and a batch of
/// attempt outcomes recorded in a few statements, with the endpoints' runs of failures kept exact under concurrency.
/// </summary>
public abstract class WebhookStoreTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : WebhookStoreFixture
{
    private static readonly long Later = DbTime.ToDb(DateTimeOffset.UtcNow.AddDays(1));

    private ClarityHost Host => fixture.Host;

    private WebhookStore Store => Host.Services.GetRequiredService<WebhookStore>();

    [Fact]
    public async Task RecordAttempts_InOneBatch_WritesEachOutcome_AndCountsFailuresInOrder()
    {
        var (orgId, endpointId) = await DisabledEndpointAsync();
        var d = await DeliveriesAsync(orgId, endpointId, Later, 4);
        var now = DbTime.ToDb(DateTimeOffset.UtcNow);
        var failed = new AttemptOutcome(false, 503, "busy", 12, "HTTP 503");
        var ok = new AttemptOutcome(true, 204, null, 3, null);

        var failures = await Store.RecordAttemptsAsync(
            [(d[0], failed, now, Later), (d[1], failed, now, null), (d[2], ok, now, null), (d[3], failed, now, Later + 1)], CancellationToken.None);

        Assert.Equal([1L, 2L, 0L, 1L], failures);
        Assert.Equal(1, await FailuresOfAsync(endpointId));
        var rows = await RowsAsync(d);
        Assert.Equal($"pending 1 next {Later} last {now} 503 busy 12 ms HTTP 503", Shape(rows[0]));
        Assert.Equal($"failed 1 next  last {now} 503 busy 12 ms HTTP 503", Shape(rows[1]));
        Assert.Equal($"succeeded 1 next  last {now} 204  3 ms ", Shape(rows[2]));
        Assert.Equal($"pending 1 next {Later + 1} last {now} 503 busy 12 ms HTTP 503", Shape(rows[3]));

        // An outcome that is no longer pending is left as it was; the run of failures still counts the attempt.
        failures = await Store.RecordAttemptsAsync([(d[2], failed, now + 1, Later)], CancellationToken.None);
        Assert.Equal([2L], failures);
        Assert.Equal($"succeeded 1 next  last {now} 204  3 ms ", Shape((await RowsAsync([d[2]]))[0]));
    }

    [Fact]
    public async Task RecordAttempts_ConcurrentBatchesOfFailures_LoseNoCount()
    {
        const int Batches = 8, PerBatch = 25;
        var (orgId, endpointId) = await DisabledEndpointAsync();
        var (_, otherId) = await DisabledEndpointAsync();
        var mine = await DeliveriesAsync(orgId, endpointId, Later, Batches * PerBatch);
        var others = await DeliveriesAsync(orgId, otherId, Later, Batches);
        var now = DbTime.ToDb(DateTimeOffset.UtcNow);
        var failed = new AttemptOutcome(false, null, null, 1, "connection refused");

        // Each batch also touches another endpoint, in the other id order half the time: the recorders lock both rows.
        var results = await Task.WhenAll(Enumerable.Range(0, Batches).Select(b => Task.Run(() =>
        {
            var attempts = mine.Skip(b * PerBatch).Take(PerBatch).Select(d => (d, failed, now, (long?)Later)).ToList();
            attempts.Insert(b % 2 == 0 ? 0 : attempts.Count, (others[b], failed, now, Later));
            return Store.RecordAttemptsAsync(attempts, CancellationToken.None);
        })));

        Assert.Equal(Batches * PerBatch, await FailuresOfAsync(endpointId));
        Assert.Equal(Batches, await FailuresOfAsync(otherId));

        // The batches took turns on each endpoint's count: every value from 1 up was handed out exactly once.
        var seen = results.SelectMany(r => r).Order().ToList();
        Assert.Equal(Enumerable.Range(1, Batches * PerBatch).Concat(Enumerable.Range(1, Batches)).Select(i => (long)i).Order(), seen);
        Assert.All(await RowsAsync(mine), r => Assert.Equal((WebhookDeliveryStatuses.Pending, 1L), (r.Status, r.Attempts)));
    }

    [Fact]
    public async Task Due_ReadsEachEndpointsOldestDueDeliveries_UpToItsOwnLimit()
    {
        var (orgId, first) = await DisabledEndpointAsync();
        var (_, second) = await DisabledEndpointAsync();
        var (_, idle) = await DisabledEndpointAsync();
        var now = DbTime.ToDb(DateTimeOffset.UtcNow);
        var firstDue = await DeliveriesAsync(orgId, first, now - 1000, 3);
        var secondDue = await DeliveriesAsync(orgId, second, now - 5000, 2);
        var secondOlder = await DeliveriesAsync(orgId, second, now - 9000, 1);
        await DeliveriesAsync(orgId, second, now + 60_000, 2); // not due yet
        var done = await DeliveriesAsync(orgId, second, now - 9999, 1);
        await Store.RecordAttemptsAsync([(done[0], new AttemptOutcome(true, 204, null, 1, null), now, null)], CancellationToken.None);

        var due = await Store.DueAsync([(first, 2, DueKey.Start), (second, 10, DueKey.Start), (idle, 5, DueKey.Start)], now, CancellationToken.None);

        Assert.Equal(firstDue.Take(2).Select(d => d.Id), due.Where(d => d.EndpointId == first).Select(d => d.Id));
        Assert.Equal(secondOlder.Concat(secondDue).Select(d => d.Id), due.Where(d => d.EndpointId == second).Select(d => d.Id));
        Assert.Equal(5, due.Count);
        Assert.All(due, d => Assert.Equal(firstDue.Concat(secondDue).Concat(secondOlder).Single(x => x.Id == d.Id).Payload, d.Payload));
    }

    [Fact]
    public async Task Due_ForMoreEndpointsThanOneSqliteStatementReads_FindsTheDeliveriesOfEveryEndpoint()
    {
        var (orgId, first) = await DisabledEndpointAsync();
        var (_, last) = await DisabledEndpointAsync();
        var now = DbTime.ToDb(DateTimeOffset.UtcNow);
        var firstDue = await DeliveriesAsync(orgId, first, now - 1000, 2);
        var lastDue = await DeliveriesAsync(orgId, last, now - 2000, 3);

        // The first endpoint opens the first statement's read, the last is alone in the second; those between have nothing due.
        var between = Enumerable.Range(0, WebhookStore.SqliteDueChunk).Select(_ => (Guid.CreateVersion7(), 4, DueKey.Start));
        var due = await Store.DueAsync([(first, 4, DueKey.Start), .. between, (last, 2, DueKey.Start)], now, CancellationToken.None);

        Assert.Equal(firstDue.Select(d => d.Id), due.Where(d => d.EndpointId == first).Select(d => d.Id));
        Assert.Equal(lastDue.Take(2).Select(d => d.Id), due.Where(d => d.EndpointId == last).Select(d => d.Id));
        Assert.Equal(4, due.Count);
    }

    [Fact]
    public async Task Due_AfterAKey_ReadsOnlyWhatLiesPastIt_InTheOrderDueKeysCompare()
    {
        var (orgId, endpointId) = await DisabledEndpointAsync();
        var now = DbTime.ToDb(DateTimeOffset.UtcNow);

        // A fan-out gives many deliveries one due time, so the id breaks the ties: random ids, not time-ordered ones,
        // check that the database orders them as DueKey does.
        var tied = await DeliveriesAsync(orgId, endpointId, now - 5000, 40, sameTime: true, randomIds: true);
        var later = await DeliveriesAsync(orgId, endpointId, now - 1000, 5, randomIds: true);
        var expected = tied.Concat(later).OrderBy(DueKey.Of).Select(d => d.Id).ToList();

        var all = await Store.DueAsync([(endpointId, 100, DueKey.Start)], now, CancellationToken.None);
        Assert.Equal(expected, all.Select(d => d.Id));

        var floor = DueKey.Of(all[12]);
        var past = await Store.DueAsync([(endpointId, 100, floor)], now, CancellationToken.None);
        Assert.Equal(expected.Skip(13), past.Select(d => d.Id));

        var next = await Store.DueAsync([(endpointId, 3, floor)], now, CancellationToken.None);
        Assert.Equal(expected.Skip(13).Take(3), next.Select(d => d.Id));

        var none = await Store.DueAsync([(endpointId, 100, DueKey.Of(all[^1]))], now, CancellationToken.None);
        Assert.Empty(none);
    }

    private static string Shape(DeliveryRow r) =>
        FormattableString.Invariant($"{r.Status} {r.Attempts} next {r.NextAttemptAt} last {r.LastAttemptAt} {r.ResponseStatus} {r.ResponseExcerpt} {r.LatencyMs} ms {r.Error}");

    /// <summary>An endpoint of the org, disabled at once (the sender reads enabled endpoints only).</summary>
    private async Task<(Guid OrgId, Guid EndpointId)> DisabledEndpointAsync()
    {
        using var owner = Host.CreateClient(fixture.Org.OwnerToken);
        var created = await owner.PostAsJsonAsync(fixture.Org.Api("webhooks"), new { url = $"http://127.0.0.1:9/{Work.Unique("store")}", events = new[] { "task.created" }, filters = new { queues = new[] { Work.Unique("q") } } })
            .ExpectAsync(HttpStatusCode.Created);
        var id = Guid.Parse(created.Str("id"));
        await owner.PatchAsJsonAsync(fixture.Org.Api($"webhooks/{id}"), new { enabled = false }).ExpectAsync(HttpStatusCode.OK);
        await using var c = await Host.Services.GetRequiredService<Database>().OpenReadAsync();
        return (await c.ExecuteScalarAsync<Guid>("SELECT org_id FROM webhook_endpoints WHERE id = @id", new { id }), id);
    }

    /// <summary>Pending deliveries of the endpoint, the first due at <paramref name="due"/> and each next a millisecond later.</summary>
    private async Task<List<DeliveryRow>> DeliveriesAsync(Guid orgId, Guid endpointId, long due, int count, bool sameTime = false, bool randomIds = false)
    {
        var rows = Enumerable.Range(0, count).Select(i =>
        {
            var id = randomIds ? Guid.NewGuid() : Guid.CreateVersion7();
            return new DeliveryRow
            {
                Id = id,
                EndpointId = endpointId,
                OrgId = orgId,
                MessageId = "msg_" + id.ToString("N"),
                EventSeq = i % 2 == 0 ? i : null,
                EventType = "task.created",
                Payload = $"{{\"n\":{i},\"text\":\"é ✓\"}}",
                Status = WebhookDeliveryStatuses.Pending,
                NextAttemptAt = sameTime ? due : due + i,
                CreatedAt = due,
            };
        }).ToList();
        await Host.Services.GetRequiredService<Database>().WriteAsync((c, t) => c.ExecuteAsync(
            "INSERT INTO webhook_deliveries (id, endpoint_id, org_id, message_id, event_seq, event_type, payload, status, attempts, next_attempt_at, created_at) " +
            "VALUES (@Id, @EndpointId, @OrgId, @MessageId, @EventSeq, @EventType, @Payload, @Status, 0, @NextAttemptAt, @CreatedAt)", rows, t));
        return rows;
    }

    private async Task<List<DeliveryRow>> RowsAsync(IEnumerable<DeliveryRow> deliveries)
    {
        var result = new List<DeliveryRow>();
        await using var c = await Host.Services.GetRequiredService<Database>().OpenReadAsync();
        foreach (var d in deliveries)
        {
            result.Add(await c.QuerySingleAsync<DeliveryRow>(
                "SELECT id AS Id, endpoint_id AS EndpointId, status AS Status, attempts AS Attempts, next_attempt_at AS NextAttemptAt, last_attempt_at AS LastAttemptAt, " +
                "response_status AS ResponseStatus, response_excerpt AS ResponseExcerpt, latency_ms AS LatencyMs, error AS Error, payload AS Payload FROM webhook_deliveries WHERE id = @Id", new { d.Id }));
        }

        return result;
    }

    private async Task<long> FailuresOfAsync(Guid endpointId)
    {
        await using var c = await Host.Services.GetRequiredService<Database>().OpenReadAsync();
        return await c.ExecuteScalarAsync<long>("SELECT consecutive_failures FROM webhook_endpoints WHERE id = @endpointId", new { endpointId });
    }
}

public sealed class SqliteWebhookStoreTests(SqliteWebhookStoreFixture fixture) : WebhookStoreTests<SqliteWebhookStoreFixture>(fixture);

public sealed class PostgresWebhookStoreTests(PostgresWebhookStoreFixture fixture) : WebhookStoreTests<PostgresWebhookStoreFixture>(fixture);
