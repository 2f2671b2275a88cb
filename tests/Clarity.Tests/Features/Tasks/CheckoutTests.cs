using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Tasks;

public abstract class CheckoutTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task Checkout_HandsOutHigherPriorityFirst_ThenOldestFirst()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var ids = new Dictionary<string, string>();
        foreach (var (title, priority) in new[] { ("a", 0), ("b", 5), ("c", 5), ("d", 0), ("e", 10), ("f", -3) })
        {
            ids[(await client.CreateTaskAsync(Org, new { queue, title, priority })).Str("id")] = title;
        }

        var order = new List<string>();
        for (var i = 0; i < ids.Count; i++)
        {
            order.Add(ids[(await client.CheckoutTaskAsync(Org, Work.Unique("agent"), queue)).TaskId]);
        }

        Assert.Equal(["e", "b", "c", "a", "d", "f"], order);
        await client.CheckoutAsync(Org, "late", queue).ExpectAsync(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task Checkout_GivesALabelledTaskOnlyToAnAgentHavingAllItsLabels()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var gpu = (await client.CreateTaskAsync(Org, new { queue, title = "needs gpu", labels = new[] { "gpu", "linux" }, priority = 10 })).Str("id");
        var plain = (await client.CreateTaskAsync(Org, new { queue, title = "anyone" })).Str("id");

        // The labelled task has the higher priority, but an agent lacking a label never gets it.
        Assert.Equal(plain, (await client.CheckoutTaskAsync(Org, Work.Unique("plain"), queue)).TaskId);
        await client.CheckoutAsync(Org, Work.Unique("plain"), queue).ExpectAsync(HttpStatusCode.NoContent);
        await client.CheckoutAsync(Org, Work.Unique("half"), queue, labels: ["gpu"]).ExpectAsync(HttpStatusCode.NoContent);

        Assert.Equal(gpu, (await client.CheckoutTaskAsync(Org, Work.Unique("full"), queue, labels: ["linux", "gpu", "arm"])).TaskId);
    }

    [Fact]
    public async Task Checkout_WithWaitSeconds_Answers204WhenNothingArrives()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        await client.CheckoutAsync(Org, Work.Unique("agent"), Work.Unique("empty"), waitSeconds: 1).ExpectAsync(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task Checkout_WhileWaiting_ReceivesATaskCreatedDuringTheWait()
    {
        using var agentClient = Host.CreateClient(Org.MemberKey);
        using var creator = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var agent = Work.Unique("agent");

        var waiting = agentClient.CheckoutAsync(Org, agent, queue, waitSeconds: 50);

        // The checkout registers its agent before it starts waiting: once the agent shows up, the poll is under way.
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (await creator.FindAgentAsync(Org, agent) is null)
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, "The waiting checkout never registered its agent.");
            await Task.Delay(20);
        }

        var created = await creator.CreateTaskAsync(Org, new { queue, title = "just in time" });
        var lease = await waiting.ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(created.Str("id"), lease.GetProperty("task").Str("id"));
    }

    [Fact]
    public async Task Checkout_ByManyAgentsAtOnce_NeverHandsOutATaskTwice()
    {
        const int Tasks = 40;
        const int Agents = 8;
        using var creator = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var created = new HashSet<string>();
        for (var i = 0; i < Tasks; i++)
        {
            created.Add((await creator.CreateTaskAsync(Org, new { queue, title = $"t{i}" })).Str("id"));
        }

        var handedOut = new ConcurrentBag<(string Agent, string TaskId)>();
        var deadline = DateTimeOffset.UtcNow.AddSeconds(90);
        using var start = new SemaphoreSlim(0, Agents);
        var agents = Enumerable.Range(0, Agents).Select(n => Task.Run(async () =>
        {
            var name = $"{queue}-agent-{n}";
            using var client = Host.CreateClient(Org.MemberKey);
            await start.WaitAsync();
            while (handedOut.Count < Tasks && DateTimeOffset.UtcNow < deadline)
            {
                using var response = await client.CheckoutAsync(Org, name, queue);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    var json = await response.ReadJsonAsync();
                    handedOut.Add((name, json.GetProperty("task").Str("id")));
                }
                else
                {
                    Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
                }
            }
        })).ToList();
        start.Release(Agents);
        await Task.WhenAll(agents);

        var ids = handedOut.Select(h => h.TaskId).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(created, ids.ToHashSet());
        await creator.CheckoutAsync(Org, "late", queue).ExpectAsync(HttpStatusCode.NoContent);

        var running = await creator.GetAsync(Org.Api($"tasks?queue={queue}&status=running&limit=200")).ExpectAsync(HttpStatusCode.OK);
        Assert.All(running.GetProperty("items").EnumerateArray(), t => Assert.Equal(1, t.Int("attempts")));
        Assert.Equal(Tasks, running.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task Checkout_ByTaskId_ClaimsThatTask()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        await client.CreateTaskAsync(Org, new { queue, title = "first", priority = 5 });
        var wanted = await client.CreateTaskAsync(Org, new { queue, title = "wanted" });

        var lease = await client.PostAsJsonAsync(Org.Api("work/checkout"), new { agent = Work.Unique("agent"), taskId = wanted.Str("id") }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(wanted.Str("id"), lease.GetProperty("task").Str("id"));
        await client.PostAsJsonAsync(Org.Api("work/checkout"), new { agent = Work.Unique("agent"), taskId = wanted.Str("id") }).ExpectAsync(HttpStatusCode.NoContent);
    }
}

public sealed class SqliteCheckoutTests(SqliteHostFixture fixture) : CheckoutTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresCheckoutTests(PostgresHostFixture fixture) : CheckoutTests(fixture), IClassFixture<PostgresHostFixture>;
