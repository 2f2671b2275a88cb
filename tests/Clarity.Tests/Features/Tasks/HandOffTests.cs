using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using Clarity.Events;
using Clarity.Features.Tasks;
using Clarity.Storage;
using Clarity.Tests.Features.Notifications.OnCall;
using Clarity.Tests.Hosting;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Tasks;

/// <summary>
/// A task created while an agent waits for work on the same node is claimed for that agent by the create's own unit of
/// work (one commit instead of the create's and then the claim's), and the agent's checkout answers with it. The claim is
/// still the agent's: its event carries the agent's key and request, and the task is handed out once.
/// </summary>
public abstract class HandOffTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task ATaskCreatedWhileAnAgentWaits_IsClaimedForItInTheCreatesUnitOfWork_AndTheClaimIsTheAgents()
    {
        using var agentClient = Host.CreateClient(Org.MemberKey);
        using var creator = Host.CreateClient(Org.OwnerToken);
        var orgId = await OrgIdAsync();
        var keyId = Guid.Parse((await agentClient.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK)).GetProperty("apiKey").Str("id"));

        // A waiting checkout polls again every 2 s, and while it looks it cannot be handed a task (it is woken instead):
        // on a loaded machine the create may meet that moment, so the scenario is tried a few times.
        for (var attempt = 1; ; attempt++)
        {
            var queue = Work.Unique("handoff");
            var correlationId = Work.Unique("handoff-agent");
            var handedBefore = await HandedOffAsync();
            using var checkout = new HttpRequestMessage(HttpMethod.Post, Org.Api("work/checkout"))
            {
                Content = JsonContent.Create(new { agent = Work.Unique("agent"), queues = new[] { queue }, waitSeconds = 50 }),
            };
            checkout.Headers.Add("X-Correlation-Id", correlationId);
            var waiting = agentClient.SendAsync(checkout);
            await WaitForWaitersAsync(orgId, 1);

            var created = await creator.CreateTaskAsync(Org, new { queue, title = "handed over" });
            var lease = await waiting.ExpectAsync(HttpStatusCode.OK);
            var taskId = created.Str("id");
            Assert.Equal(taskId, lease.GetProperty("task").Str("id"));
            Assert.Equal(("running", 1), (lease.GetProperty("task").Str("status"), lease.GetProperty("task").Int("attempts")));

            // The lease works like any other: the agent completes the task with it.
            await agentClient.PostAsJsonAsync(Org.Api($"tasks/{taskId}/complete"), new { leaseToken = lease.Str("leaseToken") }).ExpectAsync(HttpStatusCode.OK);

            var handed = await HandedOffAsync() - handedBefore;
            Assert.True(handed is 0 or 1, $"{handed} hand-offs for one task");
            if (handed == 0 && attempt < 5)
            {
                continue;
            }

            Assert.Equal(1, handed);

            // The creation is the owner's; the claim, made in the same unit of work, is the agent's key and its request's.
            var events = await EventsAsync(taskId);
            Assert.Equal(["queued", "running", "succeeded"], events.Select(e => e.Status));
            Assert.Equal(("user", "apikey", "apikey"), (events[0].Row.ActorKind, events[1].Row.ActorKind, events[2].Row.ActorKind));
            Assert.Equal((keyId, correlationId), (events[1].Row.ActorId!.Value, events[1].Row.CorrelationId!));
            Assert.NotEqual(correlationId, events[0].Row.CorrelationId);
            return;
        }
    }

    [Fact]
    public async Task ATaskWithLabels_IsNotHandedOff_ButStillWakesTheWaitingAgentsThatMayTakeIt()
    {
        using var agentClient = Host.CreateClient(Org.MemberKey);
        using var creator = Host.CreateClient(Org.MemberKey);
        var orgId = await OrgIdAsync();
        var queue = Work.Unique("handoff");
        var handedBefore = await HandedOffAsync();

        var waiting = agentClient.CheckoutAsync(Org, Work.Unique("agent"), queue, waitSeconds: 50, labels: ["gpu"]);
        await WaitForWaitersAsync(orgId, 1);
        var created = await creator.CreateTaskAsync(Org, new { queue, title = "needs gpu", labels = new[] { "gpu" } });

        Assert.Equal(created.Str("id"), (await waiting.ExpectAsync(HttpStatusCode.OK)).GetProperty("task").Str("id"));
        Assert.Equal(handedBefore, await HandedOffAsync());
    }

    [Fact]
    public async Task ManyAgentsWaiting_AndManyConcurrentCreates_EveryTaskIsHandedOutOnce_AndNoneIsLeftQueued()
    {
        const int Agents = 6;
        const int Creators = 3;
        const int TasksPerCreator = 15;
        const int Tasks = Creators * TasksPerCreator;
        var orgId = await OrgIdAsync();
        var queue = Work.Unique("handoff-race");
        var handedBefore = await HandedOffAsync();
        var handedOut = new ConcurrentBag<string>();
        using var done = new CancellationTokenSource(TimeSpan.FromSeconds(120));

        var agents = Enumerable.Range(0, Agents).Select(n => Task.Run(async () =>
        {
            using var client = Host.CreateClient(Org.MemberKey);
            var name = $"{queue}-agent-{n}";
            while (handedOut.Count < Tasks && !done.IsCancellationRequested)
            {
                using var response = await client.CheckoutAsync(Org, name, queue, waitSeconds: 2);
                if (response.StatusCode == HttpStatusCode.NoContent)
                {
                    continue;
                }

                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var lease = await response.ReadJsonAsync();
                var id = lease.GetProperty("task").Str("id");
                handedOut.Add(id);
                await client.PostAsJsonAsync(Org.Api($"tasks/{id}/complete"), new { leaseToken = lease.Str("leaseToken") }).ExpectAsync(HttpStatusCode.OK);
            }
        })).ToList();
        await WaitForWaitersAsync(orgId, Agents);

        var created = new ConcurrentBag<string>();
        await Task.WhenAll(Enumerable.Range(0, Creators).Select(c => Task.Run(async () =>
        {
            using var client = Host.CreateClient(Org.MemberKey);
            for (var i = 0; i < TasksPerCreator; i++)
            {
                created.Add((await client.CreateTaskAsync(Org, new { queue, title = $"c{c}-{i}" })).Str("id"));
            }
        })));
        await Task.WhenAll(agents);

        Assert.Equal(Tasks, handedOut.Count);
        Assert.Equal(created.Order(), handedOut.Order());
        using var reader = Host.CreateClient(Org.MemberKey);
        var succeeded = await reader.GetAsync(Org.Api($"tasks?queue={queue}&status=succeeded&limit=200")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(Tasks, succeeded.GetProperty("items").GetArrayLength());
        Assert.All(succeeded.GetProperty("items").EnumerateArray(), t => Assert.Equal(1, t.Int("attempts")));

        // Some of them went through the hand-off (how many depends on how often a create met an agent waiting).
        var handed = await HandedOffAsync() - handedBefore;
        Assert.InRange(handed, 1, Tasks);
    }

    private async Task WaitForWaitersAsync(Guid orgId, int count)
    {
        var signals = Host.Services.GetRequiredService<WorkSignals>();
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (signals.ReadyForHandOff(orgId) < count)
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, $"Fewer than {count} checkouts started waiting.");
            await Task.Delay(10);
        }
    }

    private async Task<double> HandedOffAsync()
    {
        var (_, families) = await MetricsTests.ScrapeAsync(Host);
        return families.TryGetValue("clarity_checkout_handed_off_total", out var family)
            ? family.Samples.Where(s => s.Has(("org", Org.Org))).Sum(s => s.Value)
            : 0;
    }

    private Task<Guid> OrgIdAsync() => Host.OrgIdAsync(Org);

    private async Task<List<(string Status, EventRow Row)>> EventsAsync(string taskId)
    {
        await using var c = await Host.Services.GetRequiredService<Database>().OpenReadAsync();
        return [.. (await EventLog.ReadAllAsync(c)).Where(r => r.Subject == $"task:{taskId}").OrderBy(r => r.RowId)
            .Select(r => (System.Text.Json.JsonDocument.Parse(r.Payload).RootElement.Str("status"), r))];
    }
}

public sealed class SqliteHandOffTests(SqliteHostFixture fixture) : HandOffTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresHandOffTests(PostgresHostFixture fixture) : HandOffTests(fixture), IClassFixture<PostgresHostFixture>;
