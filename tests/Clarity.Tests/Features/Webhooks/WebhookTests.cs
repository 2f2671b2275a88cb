using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Webhooks;

/// <summary>
/// A host that may deliver to loopback (the test receiver), retries quickly, disables an endpoint after 3 failed
/// attempts in a row and gives an attempt two minutes (so a hanging receiver stays hanging for the whole test), and the
/// Node.js receiver that verifies with the reference implementation.
/// </summary>
public abstract class WebhookFixture(Backend backend) : HostFixture(backend, Settings), IAsyncLifetime
{
    public static readonly Dictionary<string, string?> Settings = new()
    {
        ["Clarity:Webhooks:AllowPrivateNetworks"] = "true",
        ["Clarity:Webhooks:RetrySchedule"] = "200ms,200ms,200ms,200ms",
        ["Clarity:Webhooks:DisableAfterFailures"] = "3",
        ["Clarity:Webhooks:TimeoutSeconds"] = "120",
        ["Clarity:Webhooks:PollMilliseconds"] = "100",
    };

    public WebhookReceiver Receiver { get; private set; } = null!;

    public new async Task InitializeAsync()
    {
        Receiver = await WebhookReceiver.StartAsync();
        await base.InitializeAsync();
    }

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Receiver.DisposeAsync();
    }
}

public sealed class SqliteWebhookFixture() : WebhookFixture(Backend.Sqlite);

public sealed class PostgresWebhookFixture() : WebhookFixture(Backend.Postgres);

/// <summary>Webhook endpoints and their deliveries, end to end, against the reference verifier.</summary>
public abstract class WebhookTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : WebhookFixture
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    private WebhookReceiver Receiver => fixture.Receiver;

    [Fact]
    public async Task Endpoints_CreateListGetDelete_SecretShownOnlyOnCreate()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var created = await owner.PostAsJsonAsync(Org.Api("webhooks"), new { url = Receiver.UrlOf(Work.Unique("crud")), events = new[] { "task.created", "task.failed" }, description = "ops" })
            .ExpectAsync(HttpStatusCode.Created);
        var id = created.Str("id");
        Assert.StartsWith("whsec_", created.Str("secret"), StringComparison.Ordinal);
        Assert.True(Convert.FromBase64String(created.Str("secret")["whsec_".Length..]).Length >= 24);
        Assert.Equal(["task.created", "task.failed"], created.GetProperty("events").EnumerateArray().Select(e => e.GetString()));

        var list = await owner.GetAsync(Org.Api("webhooks")).ExpectAsync(HttpStatusCode.OK);
        var listed = Assert.Single(list.GetProperty("items").EnumerateArray(), w => w.Str("id") == id);
        Assert.False(listed.TryGetProperty("secret", out _));
        Assert.DoesNotContain("whsec_", list.ToString(), StringComparison.Ordinal);

        var one = await owner.GetAsync(Org.Api($"webhooks/{id}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("ops", one.Str("description"));
        Assert.True(one.GetProperty("enabled").GetBoolean());
        Assert.False(one.TryGetProperty("secret", out _));

        var patched = await owner.PatchAsJsonAsync(Org.Api($"webhooks/{id}"), new { events = new[] { "*" }, enabled = false }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(["*"], patched.GetProperty("events").EnumerateArray().Select(e => e.GetString()));
        Assert.False(patched.GetProperty("enabled").GetBoolean());

        await owner.DeleteAsync(Org.Api($"webhooks/{id}")).ExpectAsync(HttpStatusCode.NoContent);
        await owner.GetAsync(Org.Api($"webhooks/{id}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await owner.DeleteAsync(Org.Api($"webhooks/{id}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    [Theory]
    [InlineData("ftp://127.0.0.1/hook", "scheme")]
    [InlineData("file:///etc/passwd", "scheme")]
    [InlineData("http://user:pw@127.0.0.1/hook", "credentials")]
    [InlineData("http://169.254.169.254/latest/meta-data", "cloud-metadata")]
    [InlineData("http://[::ffff:169.254.169.254]/", "cloud-metadata")]
    [InlineData("http://169.254.1.1/", "link-local")]
    [InlineData("http://[fe80::1]/", "link-local")]
    [InlineData("http://224.0.0.1/", "multicast")]
    [InlineData("http://0.0.0.0/", "unspecified")]
    [InlineData("hook", "not-absolute")]
    public async Task Create_WithAForbiddenUrl_Is400NamingTheRule(string url, string rule)
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var problem = await owner.PostAsJsonAsync(Org.Api("webhooks"), new { url, events = new[] { "*" } }).ExpectProblemAsync(HttpStatusCode.BadRequest, "webhook-url");
        Assert.Contains($"rule: {rule}", problem.Str("detail"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateAndPatch_WithBadEventsOrSizes_Are400()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var url = Receiver.UrlOf(Work.Unique("bad"));
        await owner.PostAsJsonAsync(Org.Api("webhooks"), new { url, events = new[] { "task.exploded" } }).ExpectProblemAsync(HttpStatusCode.BadRequest, "unknown-event-type");
        await owner.PostAsJsonAsync(Org.Api("webhooks"), new { url, events = Array.Empty<string>() }).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await owner.PostAsJsonAsync(Org.Api("webhooks"), new { url }).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await owner.PostAsJsonAsync(Org.Api("webhooks"), new { url = url + "?" + new string('x', 3000), events = new[] { "*" } }).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await owner.PostAsJsonAsync(Org.Api("webhooks"), new { url, events = new[] { "*" }, description = new string('d', 501) }).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await owner.PostAsJsonAsync(Org.Api("webhooks"), new { url, events = new[] { "*" }, filters = new { queues = new[] { "bad queue!" } } }).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");

        var created = await owner.PostAsJsonAsync(Org.Api("webhooks"), new { url, events = new[] { "*" } }).ExpectAsync(HttpStatusCode.Created);
        var id = created.Str("id");
        await owner.PatchAsJsonAsync(Org.Api($"webhooks/{id}"), new { events = new[] { "nope" } }).ExpectProblemAsync(HttpStatusCode.BadRequest, "unknown-event-type");
        await owner.PatchAsJsonAsync(Org.Api($"webhooks/{id}"), new { url = "http://169.254.169.254/" }).ExpectProblemAsync(HttpStatusCode.BadRequest, "webhook-url");
        await owner.PostAsync(Org.Api($"webhooks/{id}/rotate-secret?overlapSeconds=-1"), null).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await owner.GetAsync(Org.Api($"webhooks/{id}/deliveries?cursor=garbage")).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await owner.DeleteAsync(Org.Api($"webhooks/{id}")).ExpectAsync(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task AnotherOrgsWebhook_Is404Everywhere()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        using var other = Host.CreateClient(fixture.OtherOrg.OwnerToken);
        var theirs = await other.PostAsJsonAsync(fixture.OtherOrg.Api("webhooks"), new { url = Receiver.UrlOf(Work.Unique("theirs")), events = new[] { "*" } })
            .ExpectAsync(HttpStatusCode.Created);
        var id = theirs.Str("id");
        await owner.GetAsync(Org.Api($"webhooks/{id}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await owner.PatchAsJsonAsync(Org.Api($"webhooks/{id}"), new { enabled = false }).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await owner.PostAsync(Org.Api($"webhooks/{id}/rotate-secret"), null).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await owner.GetAsync(Org.Api($"webhooks/{id}/deliveries")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await owner.DeleteAsync(Org.Api($"webhooks/{id}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        Assert.DoesNotContain((await owner.GetAsync(Org.Api("webhooks")).ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray(), w => w.Str("id") == id);
        await other.GetAsync(fixture.OtherOrg.Api($"webhooks/{id}")).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Delivery_IsVerifiedByTheReferenceImplementation_AndAStaleReplayIsRefused()
    {
        var (hook, _, queue, _) = await EndpointAsync(["task.created"]);
        using var client = Host.CreateClient(Org.MemberKey);
        var task = await client.CreateTaskAsync(Org, new { queue, title = "hello webhooks" });

        var log = await Receiver.WaitForAsync(hook, l => l.Count >= 1, "the task.created delivery");
        var delivery = log[0];
        Assert.Equal([true], delivery.GetProperty("verified").EnumerateArray().Select(v => v.GetBoolean()));
        Assert.Equal(204, delivery.Int("status"));
        Assert.StartsWith("msg_", delivery.Str("webhookId"), StringComparison.Ordinal);
        var body = JsonDocument.Parse(delivery.Str("body")).RootElement;
        Assert.Equal("task.created", body.Str("type"));
        Assert.True(body.GetProperty("timestamp").TryGetDateTimeOffset(out _));
        Assert.Equal(task.Str("id"), body.GetProperty("data").Str("taskId"));
        Assert.Equal(queue, body.GetProperty("data").Str("queue"));

        // The same captured request, arriving 10 minutes later, is refused by the reference verifier (tolerance 5 minutes)...
        var (late, errors) = await Receiver.VerifyAgainAsync(hook, delivery, shiftSeconds: 600);
        Assert.Equal(new[] { false }, late);
        Assert.Contains("too old", errors[0], StringComparison.OrdinalIgnoreCase);

        // ...while it still verifies now: the refusal is the timestamp's, not the signature's.
        Assert.Equal(new[] { true }, (await Receiver.VerifyAgainAsync(hook, delivery, shiftSeconds: 0)).Verified);
    }

    [Fact]
    public async Task FailedDelivery_IsRetried_WithTheSameWebhookId_UntilItSucceeds()
    {
        var (hook, _, queue, webhookId) = await EndpointAsync(["task.created"], failFirst: 2);
        using var client = Host.CreateClient(Org.MemberKey);
        await client.CreateTaskAsync(Org, new { queue, title = "retry me" });

        var log = await Receiver.WaitForAsync(hook, l => l.Count >= 3, "three attempts");
        Assert.Equal([503, 503, 204], log.Select(e => e.Int("status")));
        Assert.Single(log.Select(e => e.Str("webhookId")).Distinct());
        Assert.All(log, e => Assert.True(e.GetProperty("verified")[0].GetBoolean()));

        var delivery = await WaitForDeliveryAsync(webhookId, d => d.Str("status") == "succeeded");
        Assert.Equal(3, delivery.Int("attempts"));
        Assert.Equal(204, delivery.Int("responseStatus"));
        Assert.True(delivery.IsNull("error"));
        using var owner = Host.CreateClient(Org.OwnerToken);
        var endpoint = await owner.GetAsync(Org.Api($"webhooks/{webhookId}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(0, endpoint.Int("consecutiveFailures"));
        Assert.True(endpoint.GetProperty("enabled").GetBoolean());
    }

    [Fact]
    public async Task EndpointThatKeepsFailing_IsDisabled_AndWebhookDisabledIsRaised()
    {
        var (hook, _, queue, webhookId) = await EndpointAsync(["task.created"], status: 500);
        var (watcher, _, _, _) = await EndpointAsync(["webhook.disabled"], filtered: false);
        using var client = Host.CreateClient(Org.MemberKey);
        await client.CreateTaskAsync(Org, new { queue, title = "doomed" });

        var disabled = await Receiver.WaitForAsync(watcher, l => l.Any(e => IsDisabledEventOf(e, webhookId)), "webhook.disabled for the failing endpoint");
        var data = JsonDocument.Parse(disabled.First(e => IsDisabledEventOf(e, webhookId)).Str("body")).RootElement.GetProperty("data");
        Assert.Equal(3, data.Int("consecutiveFailures"));

        using var owner = Host.CreateClient(Org.OwnerToken);
        var endpoint = await owner.GetAsync(Org.Api($"webhooks/{webhookId}")).ExpectAsync(HttpStatusCode.OK);
        Assert.False(endpoint.GetProperty("enabled").GetBoolean());
        Assert.Contains("3 failed attempts", endpoint.Str("disabledReason"), StringComparison.Ordinal);
        Assert.Equal(3, (await Receiver.LogAsync(hook)).Count);

        // The system's change is audited like a person's: one entry, in the same unit of work as the disabling.
        var audit = await owner.GetAsync(Org.Api($"audit?action=webhook.disabled&target=webhook:{webhookId}")).ExpectAsync(HttpStatusCode.OK);
        var entry = Assert.Single(audit.GetProperty("items").EnumerateArray());
        Assert.Equal("system", entry.GetProperty("actor").Str("kind"));
        Assert.Equal(3, entry.GetProperty("entry").GetProperty("after").GetProperty("consecutiveFailures").GetInt32());

        var delivery = await WaitForDeliveryAsync(webhookId, d => d.Int("attempts") == 3);
        Assert.Equal(500, delivery.Int("responseStatus"));
        Assert.Equal("HTTP 500", delivery.Str("error"));
        Assert.Contains("refused", delivery.Str("responseExcerpt"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_SendsTheSameMessageAgain()
    {
        var (hook, _, queue, webhookId) = await EndpointAsync(["task.created"]);
        using var client = Host.CreateClient(Org.MemberKey);
        await client.CreateTaskAsync(Org, new { queue, title = "again" });
        var first = await WaitForDeliveryAsync(webhookId, d => d.Str("status") == "succeeded");

        using var owner = Host.CreateClient(Org.OwnerToken);
        var replay = await owner.PostAsync(Org.Api($"webhooks/{webhookId}/deliveries/{first.Str("id")}/replay"), null).ExpectAsync(HttpStatusCode.Accepted);
        Assert.Equal(first.Str("messageId"), replay.Str("messageId"));
        Assert.NotEqual(first.Str("id"), replay.Str("id"));

        var log = await Receiver.WaitForAsync(hook, l => l.Count >= 2, "the replayed delivery");
        Assert.Equal(log[0].Str("webhookId"), log[1].Str("webhookId"));
        Assert.Equal(log[0].Str("body"), log[1].Str("body"));
        Assert.True(log[1].GetProperty("verified")[0].GetBoolean());

        await owner.PostAsync(Org.Api($"webhooks/{webhookId}/deliveries/{Guid.NewGuid()}/replay"), null).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task RotatedSecret_BothSignaturesAreSentDuringTheOverlap_OnlyTheNewOneAfter()
    {
        var (hook, oldSecret, queue, webhookId) = await EndpointAsync(["task.created"]);
        using var owner = Host.CreateClient(Org.OwnerToken);
        var rotated = await owner.PostAsync(Org.Api($"webhooks/{webhookId}/rotate-secret?overlapSeconds=3600"), null).ExpectAsync(HttpStatusCode.OK);
        var newSecret = rotated.Str("secret");
        Assert.NotEqual(oldSecret, newSecret);
        Assert.False(rotated.IsNull("previousSecretExpiresAt"));
        await Receiver.ConfigureAsync(hook, [oldSecret, newSecret]);

        using var client = Host.CreateClient(Org.MemberKey);
        await client.CreateTaskAsync(Org, new { queue, title = "during the overlap" });
        var log = await Receiver.WaitForAsync(hook, l => l.Count >= 1, "a delivery signed with both secrets");
        Assert.Equal([true, true], log[0].GetProperty("verified").EnumerateArray().Select(v => v.GetBoolean()));
        Assert.Equal(2, log[0].GetProperty("headers").Str("webhook-signature").Split(' ').Length);

        // Rotating without an overlap ends the old secret at once.
        var again = await owner.PostAsync(Org.Api($"webhooks/{webhookId}/rotate-secret?overlapSeconds=0"), null).ExpectAsync(HttpStatusCode.OK);
        await Receiver.ConfigureAsync(hook, [newSecret, again.Str("secret")]);
        await client.CreateTaskAsync(Org, new { queue, title = "after" });
        log = await Receiver.WaitForAsync(hook, l => l.Count >= 2, "a delivery signed with the newest secret only");
        Assert.Equal([false, true], log[1].GetProperty("verified").EnumerateArray().Select(v => v.GetBoolean()));
        Assert.Single(log[1].GetProperty("headers").Str("webhook-signature").Split(' '));
    }

    [Fact]
    public async Task FiltersByQueueAndLabels_PickTheTasksDelivered()
    {
        var (hook, _, queue, webhookId) = await EndpointAsync(["task.created"], labels: ["gpu"]);
        using var client = Host.CreateClient(Org.MemberKey);
        await client.CreateTaskAsync(Org, new { queue, title = "no labels" });
        await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "other queue", labels = new[] { "gpu" } });
        await client.CreateTaskAsync(Org, new { queue, title = "other label", labels = new[] { "cpu" } });
        var match = await client.CreateTaskAsync(Org, new { queue, title = "match", labels = new[] { "gpu", "big" } });

        var log = await Receiver.WaitForAsync(hook, l => l.Count >= 1, "the matching task");

        // The fan-out takes events in order: once the last task's delivery exists, the earlier ones were judged.
        using var owner = Host.CreateClient(Org.OwnerToken);
        var deliveries = await owner.GetAsync(Org.Api($"webhooks/{webhookId}/deliveries")).ExpectAsync(HttpStatusCode.OK);
        Assert.Single(deliveries.GetProperty("items").EnumerateArray());
        Assert.Equal(match.Str("id"), JsonDocument.Parse(log[0].Str("body")).RootElement.GetProperty("data").Str("taskId"));
    }

    [Fact]
    public async Task DeadEndpoint_DoesNotHoldUpAnotherEndpointsDeliveries()
    {
        const int Count = 12;
        var (dead, _, deadQueue, deadId) = await EndpointAsync(["task.created"], hang: true);
        var (live, _, liveQueue, liveId) = await EndpointAsync(["task.created"]);
        using var client = Host.CreateClient(Org.MemberKey);
        for (var i = 0; i < Count; i++)
        {
            await client.CreateTaskAsync(Org, new { queue = deadQueue, title = $"dead {i}" });
            await client.CreateTaskAsync(Org, new { queue = liveQueue, title = $"live {i}" });
        }

        var log = await Receiver.WaitForAsync(live, l => l.Count >= Count, "every live delivery");
        Assert.All(log, e => Assert.Equal(204, e.Int("status")));

        // Meanwhile the dead receiver holds only its own endpoint's slots (4 by default), and none of its deliveries has an outcome.
        var deadLog = await Receiver.LogAsync(dead);
        Assert.InRange(deadLog.Count, 0, 4);
        using var owner = Host.CreateClient(Org.OwnerToken);
        var deadDeliveries = (await owner.GetAsync(Org.Api($"webhooks/{deadId}/deliveries?limit=200")).ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(Count, deadDeliveries.Count);
        Assert.All(deadDeliveries, d => Assert.Equal(("pending", 0), (d.Str("status"), d.Int("attempts"))));
        var liveDeliveries = (await owner.GetAsync(Org.Api($"webhooks/{liveId}/deliveries?limit=200")).ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(Count, liveDeliveries.Count(d => d.Str("status") == "succeeded" || d.Str("status") == "pending"));

        await owner.PatchAsJsonAsync(Org.Api($"webhooks/{deadId}"), new { enabled = false }).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task DeliveryThatTurnsUpDueBeforeOnesAlreadySent_IsStillSent()
    {
        var (hook, _, queue, webhookId) = await EndpointAsync(["task.created"]);
        using var client = Host.CreateClient(Org.MemberKey);
        await client.CreateTaskAsync(Org, new { queue, title = "first" });
        await WaitForDeliveryAsync(webhookId, d => d.Str("status") == "succeeded");

        // A fan-out whose transaction committed after the sender had read past its due time: the sender reads each
        // endpoint only past the last delivery it took, and must still come back for this one.
        var id = Guid.NewGuid();
        await Host.Services.GetRequiredService<Database>().WriteAsync((c, t) => c.ExecuteAsync(
            "INSERT INTO webhook_deliveries (id, endpoint_id, org_id, message_id, event_seq, event_type, payload, status, attempts, next_attempt_at, created_at) " +
            "SELECT @id, id, org_id, @messageId, NULL, 'task.created', '{\"late\":true}', 'pending', 0, 1000, 1000 FROM webhook_endpoints WHERE id = @endpoint",
            new { id, messageId = "msg_" + id.ToString("N"), endpoint = Guid.Parse(webhookId) }, t));

        var log = await Receiver.WaitForAsync(hook, l => l.Count >= 2, "the delivery due before the one already sent");
        Assert.Equal("{\"late\":true}", log[1].Str("body"));
        Assert.True(log[1].GetProperty("verified")[0].GetBoolean());
    }

    private static bool IsDisabledEventOf(JsonElement delivery, string webhookId)
    {
        var body = JsonDocument.Parse(delivery.Str("body")).RootElement;
        return body.Str("type") == "webhook.disabled" && body.GetProperty("data").Str("webhookId") == webhookId;
    }

    /// <summary>A hook on the receiver and an endpoint for it, limited to a queue of its own (so tests sharing the host stay apart).</summary>
    private async Task<(string Hook, string Secret, string Queue, string WebhookId)> EndpointAsync(
        string[] events, int failFirst = 0, int status = 204, bool hang = false, string[]? labels = null, bool filtered = true)
    {
        var hook = Work.Unique("hook");
        var queue = Work.Unique("q");
        using var owner = Host.CreateClient(Org.OwnerToken);
        var created = await owner.PostAsJsonAsync(Org.Api("webhooks"), new
        {
            url = Receiver.UrlOf(hook),
            events,
            filters = filtered ? new { queues = new[] { queue }, labels } : null,
        }).ExpectAsync(HttpStatusCode.Created);
        await Receiver.ConfigureAsync(hook, [created.Str("secret")], failFirst, status, hang);
        return (hook, created.Str("secret"), queue, created.Str("id"));
    }

    private async Task<JsonElement> WaitForDeliveryAsync(string webhookId, Func<JsonElement, bool> done)
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var deadline = DateTimeOffset.UtcNow.AddSeconds(90);
        while (true)
        {
            var page = await owner.GetAsync(Org.Api($"webhooks/{webhookId}/deliveries")).ExpectAsync(HttpStatusCode.OK);
            var items = page.GetProperty("items").EnumerateArray().ToList();
            if (items.Count > 0 && done(items[^1]))
            {
                return items[^1];
            }

            Assert.True(DateTimeOffset.UtcNow < deadline, $"Gave up waiting for the delivery: {page}");
            await Task.Delay(100);
        }
    }
}

/// <summary>
/// Tests that restart their own host: deliveries survive a restart (the fan-out resumes from its durable cursor, pending
/// deliveries are sent again), and the address rules run again at connect time.
/// </summary>
public abstract class WebhookRestartTests(Backend backend) : IAsyncLifetime
{
    private WebhookReceiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await WebhookReceiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    [Fact]
    public async Task Restart_MidWay_LosesNoDelivery()
    {
        const int Count = 10;
        await using var host = await ClarityHost.StartAsync(backend, WebhookFixture.Settings);
        var org = await host.SetupAsync("acme");
        var hook = Work.Unique("hook");
        var queue = Work.Unique("q");
        using (var owner = host.CreateClient(org.OwnerToken))
        {
            var created = await owner.PostAsJsonAsync(org.Api("webhooks"), new { url = _receiver.UrlOf(hook), events = new[] { "task.created" }, filters = new { queues = new[] { queue } } })
                .ExpectAsync(HttpStatusCode.Created);
            // Down before the restart (503, two failures short of being disabled), up after it.
            await _receiver.ConfigureAsync(hook, [created.Str("secret")], failFirst: 2);
        }

        var ids = new List<string>();
        using (var client = host.CreateClient(org.MemberKey))
        {
            for (var i = 0; i < Count; i++)
            {
                ids.Add((await client.CreateTaskAsync(org, new { queue, title = $"t{i}" })).Str("id"));
            }
        }

        // At once, with the fan-out and the sends wherever they are.
        await host.RestartAsync();

        var log = await _receiver.WaitForAsync(hook, l => ids.All(id => l.Any(e => e.Int("status") == 204 && TaskIdOf(e) == id)), "every task delivered after the restart");
        Assert.All(log, e => Assert.True(e.GetProperty("verified")[0].GetBoolean()));
    }

    [Fact]
    public async Task ConnectTime_RulesRefuseAnAddressTheEndpointWasSavedWith_WhenTheyNoLongerAllowIt()
    {
        // Saved while loopback was allowed; then the rules tighten (as a DNS answer that changes to a private address
        // would meet them): the connection is refused by the rules at connect time, and the receiver sees nothing.
        await using var host = await ClarityHost.StartAsync(backend, WebhookFixture.Settings);
        var org = await host.SetupAsync("acme");
        var hook = Work.Unique("hook");
        var queue = Work.Unique("q");
        string webhookId;
        using (var owner = host.CreateClient(org.OwnerToken))
        {
            var created = await owner.PostAsJsonAsync(org.Api("webhooks"), new { url = _receiver.UrlOf(hook).Replace("127.0.0.1", "localhost", StringComparison.Ordinal), events = new[] { "task.created" }, filters = new { queues = new[] { queue } } })
                .ExpectAsync(HttpStatusCode.Created);
            webhookId = created.Str("id");
            await _receiver.ConfigureAsync(hook, [created.Str("secret")]);
        }

        await host.RestartAsync(overrides: new Dictionary<string, string?> { ["Clarity:Webhooks:AllowPrivateNetworks"] = "false" });
        using var client = host.CreateClient(org.MemberKey);
        await client.CreateTaskAsync(org, new { queue, title = "to a host that now resolves to a refused address" });

        using var reader = host.CreateClient(org.OwnerToken);
        var deadline = DateTimeOffset.UtcNow.AddSeconds(90);
        while (true)
        {
            var items = (await reader.GetAsync(org.Api($"webhooks/{webhookId}/deliveries")).ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray().ToList();
            if (items.Count > 0 && items[0].Int("attempts") >= 1)
            {
                Assert.Contains("rule: loopback", items[0].Str("error"), StringComparison.Ordinal);
                Assert.True(items[0].IsNull("responseStatus"));
                break;
            }

            Assert.True(DateTimeOffset.UtcNow < deadline, "Gave up waiting for the refused attempt.");
            await Task.Delay(100);
        }

        Assert.Empty(await _receiver.LogAsync(hook));
    }

    private static string TaskIdOf(JsonElement delivery) => JsonDocument.Parse(delivery.Str("body")).RootElement.GetProperty("data").Str("taskId");
}

public sealed class SqliteWebhookRestartTests() : WebhookRestartTests(Backend.Sqlite);

public sealed class PostgresWebhookRestartTests() : WebhookRestartTests(Backend.Postgres);

public sealed class SqliteWebhookTests(SqliteWebhookFixture fixture) : WebhookTests<SqliteWebhookFixture>(fixture);

public sealed class PostgresWebhookTests(PostgresWebhookFixture fixture) : WebhookTests<PostgresWebhookFixture>(fixture);
