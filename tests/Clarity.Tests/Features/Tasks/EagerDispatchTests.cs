using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Tasks;

/// <summary>Fewer round trips for agents: checkout with <c>maxTasks</c>, and complete with <c>next</c> (eager dispatch).</summary>
public abstract class EagerDispatchTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task Checkout_WithMaxTasks_ClaimsUpToNAndNoMore()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var created = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            created.Add((await client.CreateTaskAsync(Org, new { queue, title = $"t{i}", priority = i })).Str("id"));
        }

        var agent = Work.Unique("agent");
        var first = await CheckoutManyAsync(client, new { agent, queues = new[] { queue }, maxTasks = 3 }).ExpectAsync(HttpStatusCode.OK);
        var firstIds = Leases(first).Select(l => l.TaskId).ToList();
        Assert.Equal([created[4], created[3], created[2]], firstIds); // highest priority first
        Assert.All(Leases(first), l => Assert.Equal("running", l.Task.Str("status")));
        Assert.Equal(3, Leases(first).Select(l => l.Token).Distinct().Count());

        var second = await CheckoutManyAsync(client, new { agent, queues = new[] { queue }, maxTasks = 3 }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([created[1], created[0]], Leases(second).Select(l => l.TaskId));

        await CheckoutManyAsync(client, new { agent, queues = new[] { queue }, maxTasks = 3 }).ExpectAsync(HttpStatusCode.NoContent);
        var running = await client.GetAsync(Org.Api($"tasks?queue={queue}&status=running")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(5, running.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task Checkout_WithMaxTasks_RespectsQueueAndLabelsFilters()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var elsewhere = Work.Unique("q");
        var plain = (await client.CreateTaskAsync(Org, new { queue, title = "anyone" })).Str("id");
        var gpu = (await client.CreateTaskAsync(Org, new { queue, title = "gpu", labels = new[] { "gpu" } })).Str("id");
        var arm = (await client.CreateTaskAsync(Org, new { queue, title = "arm", labels = new[] { "arm" } })).Str("id");
        var other = (await client.CreateTaskAsync(Org, new { queue = elsewhere, title = "other queue" })).Str("id");

        var batch = await CheckoutManyAsync(client, new { agent = Work.Unique("agent"), queues = new[] { queue }, labels = new[] { "gpu" }, maxTasks = 10 })
            .ExpectAsync(HttpStatusCode.OK);

        Assert.Equal([plain, gpu], Leases(batch).Select(l => l.TaskId).Order());
        Assert.Equal("queued", (await client.GetTaskAsync(Org, arm)).Str("status"));
        Assert.Equal("queued", (await client.GetTaskAsync(Org, other)).Str("status"));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(101)]
    public async Task Checkout_WithMaxTasksOutOfRange_Answers400NamingTheField(int maxTasks)
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        await client.CreateTaskAsync(Org, new { queue, title = "stays queued" });

        var problem = await CheckoutManyAsync(client, new { agent = Work.Unique("agent"), queues = new[] { queue }, maxTasks })
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");

        Assert.True(problem.GetProperty("errors").TryGetProperty("maxTasks", out _), problem.ToString());
        await client.CheckoutAsync(Org, Work.Unique("agent"), queue).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Checkout_WithoutMaxTasks_AnswersOneLeaseAsBefore()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        await client.CreateTaskAsync(Org, new { queue, title = "a" });
        await client.CreateTaskAsync(Org, new { queue, title = "b" });

        var lease = await client.CheckoutAsync(Org, Work.Unique("agent"), queue).ExpectAsync(HttpStatusCode.OK);

        Assert.Equal(["leaseExpiresAt", "leaseToken", "task"], lease.EnumerateObject().Select(p => p.Name).Order());
        var queued = await client.GetAsync(Org.Api($"tasks?queue={queue}&status=queued")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(1, queued.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task Checkout_WithMaxTasks_EachLeaseWorksForLogsHeartbeatAndComplete()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        for (var i = 0; i < 3; i++)
        {
            await client.CreateTaskAsync(Org, new { queue, title = $"t{i}" });
        }

        var batch = Leases(await CheckoutManyAsync(client, new { agent = Work.Unique("agent"), queues = new[] { queue }, maxTasks = 3 }).ExpectAsync(HttpStatusCode.OK));

        Assert.Equal(3, batch.Count);
        // One lease does not fence another task.
        await client.PostAsJsonAsync(Org.Api($"tasks/{batch[0].TaskId}/complete"), new { leaseToken = batch[1].Token })
            .ExpectProblemAsync(HttpStatusCode.Conflict, "stale-lease");
        foreach (var lease in batch)
        {
            await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/logs"), new[] { new { text = "working on " + lease.TaskId } }).ExpectAsync(HttpStatusCode.OK);
            await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/heartbeat"), new { leaseToken = lease.Token }).ExpectAsync(HttpStatusCode.OK);
            var done = await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token }).ExpectAsync(HttpStatusCode.OK);
            Assert.Equal("succeeded", done.Str("status"));
            Assert.Equal(1, done.Int("logCount"));
        }
    }

    [Fact]
    public async Task Checkout_WithMaxTasks_WhileWaiting_ReceivesATaskCreatedDuringTheWait()
    {
        using var agentClient = Host.CreateClient(Org.MemberKey);
        using var creator = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var agent = Work.Unique("agent");

        var waiting = CheckoutManyAsync(agentClient, new { agent, queues = new[] { queue }, maxTasks = 5, waitSeconds = 50 });

        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (await creator.FindAgentAsync(Org, agent) is null)
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, "The waiting checkout never registered its agent.");
            await Task.Delay(20);
        }

        var created = await creator.CreateTaskAsync(Org, new { queue, title = "just in time" });
        var batch = await waiting.ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(created.Str("id"), Assert.Single(Leases(batch)).TaskId);
    }

    [Fact]
    public async Task Checkout_WithMaxTasks_ByManyAgentsAtOnce_NeverHandsOutATaskTwice()
    {
        const int Tasks = 60;
        const int Agents = 8;
        using var creator = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var created = new HashSet<string>();
        for (var i = 0; i < Tasks; i++)
        {
            created.Add((await creator.CreateTaskAsync(Org, new { queue, title = $"t{i}" })).Str("id"));
        }

        var handedOut = new ConcurrentBag<string>();
        var deadline = DateTimeOffset.UtcNow.AddSeconds(90);
        using var start = new SemaphoreSlim(0, Agents);
        var agents = Enumerable.Range(0, Agents).Select(n => Task.Run(async () =>
        {
            var name = $"{queue}-agent-{n}";
            using var client = Host.CreateClient(Org.MemberKey);
            await start.WaitAsync();
            while (handedOut.Count < Tasks && DateTimeOffset.UtcNow < deadline)
            {
                using var response = await CheckoutManyAsync(client, new { agent = name, queues = new[] { queue }, maxTasks = 1 + (n % 4) * 3 });
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    foreach (var lease in Leases(await response.ReadJsonAsync()))
                    {
                        handedOut.Add(lease.TaskId);
                    }
                }
                else
                {
                    Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
                }
            }
        })).ToList();
        start.Release(Agents);
        await Task.WhenAll(agents);

        var ids = handedOut.ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(created, ids.ToHashSet());
        var running = await creator.GetAsync(Org.Api($"tasks?queue={queue}&status=running&limit=200")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(Tasks, running.GetProperty("items").GetArrayLength());
        Assert.All(running.GetProperty("items").EnumerateArray(), t => Assert.Equal(1, t.Int("attempts")));
    }

    [Fact]
    public async Task Complete_WithNext_ReturnsTheNextTaskLeasedToTheSameAgentInTheSameUnitOfWork()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        await client.CreateTaskAsync(Org, new { queue, title = "first", priority = 1 });
        var second = (await client.CreateTaskAsync(Org, new { queue, title = "second" })).Str("id");
        var lease = await client.CheckoutTaskAsync(Org, Work.Unique("agent"), queue);

        var answer = await CompleteAsync(client, lease, new { queues = new[] { queue }, leaseSeconds = 120 }).ExpectAsync(HttpStatusCode.OK);

        var done = answer.GetProperty("task");
        Assert.Equal(lease.TaskId, done.Str("id"));
        Assert.Equal("succeeded", done.Str("status"));
        var next = answer.GetProperty("next");
        Assert.Equal(second, next.GetProperty("task").Str("id"));
        Assert.Equal("running", next.GetProperty("task").Str("status"));
        Assert.Equal(lease.Task.Str("agentId"), next.GetProperty("task").Str("agentId"));
        Assert.Equal(done.GetProperty("finishedAt").GetDateTimeOffset(), next.GetProperty("task").GetProperty("startedAt").GetDateTimeOffset());
        Assert.Equal(done.GetProperty("finishedAt").GetDateTimeOffset().AddSeconds(120), next.GetProperty("leaseExpiresAt").GetDateTimeOffset());
    }

    [Fact]
    public async Task Complete_WithNext_TheNextLeaseWorksForLogsAndComplete()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add((await client.CreateTaskAsync(Org, new { queue, title = $"t{i}" })).Str("id"));
        }

        // A busy agent: check out once, then every complete hands over the next task.
        var lease = await client.CheckoutTaskAsync(Org, Work.Unique("agent"), queue);
        var chain = new List<string>();
        while (true)
        {
            chain.Add(lease.TaskId);
            await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/logs"), new[] { new { text = "line" } }).ExpectAsync(HttpStatusCode.OK);
            var answer = await CompleteAsync(client, lease, new { queues = new[] { queue } }).ExpectAsync(HttpStatusCode.OK);
            Assert.Equal("succeeded", answer.GetProperty("task").Str("status"));
            if (answer.GetProperty("next").ValueKind == JsonValueKind.Null)
            {
                break;
            }

            lease = ToLease(answer.GetProperty("next"));
        }

        Assert.Equal(ids, chain);
        foreach (var id in ids)
        {
            var task = await client.GetTaskAsync(Org, id);
            Assert.Equal("succeeded", task.Str("status"));
            Assert.Equal(1, task.Int("logCount"));
        }
    }

    [Fact]
    public async Task Complete_WithNext_OfAWorkflowStep_HandsOverTheStepThatItsCompletionMadeReady()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var run = await StartChainAsync(client, queue);

        // Nothing else waits on the queue: each step's next is the step its own completion dispatched.
        var lease = await client.CheckoutTaskAsync(Org, Work.Unique("agent"), queue);
        var titles = new List<string>();
        while (true)
        {
            titles.Add(lease.Task.Str("title"));
            var answer = await CompleteAsync(client, lease, new { queues = new[] { queue } }).ExpectAsync(HttpStatusCode.OK);
            if (answer.GetProperty("next").ValueKind == JsonValueKind.Null)
            {
                break;
            }

            lease = ToLease(answer.GetProperty("next"));
        }

        Assert.Equal(["A", "B", "C"], titles);
        Assert.Equal("succeeded", (await client.GetAsync(Org.Api($"runs/{run}")).ExpectAsync(HttpStatusCode.OK)).Str("status"));
    }

    [Fact]
    public async Task Complete_WithNext_OfAWorkflowStep_TakesATaskAlreadyWaiting_AndTheRunStillMovesOn()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var run = await StartChainAsync(client, queue);
        var lease = await client.CheckoutTaskAsync(Org, Work.Unique("agent"), queue);
        Assert.Equal("A", lease.Task.Str("title"));
        var waiting = (await client.CreateTaskAsync(Org, new { queue, title = "waiting", priority = 5 })).Str("id");

        var answer = await CompleteAsync(client, lease, new { queues = new[] { queue } }).ExpectAsync(HttpStatusCode.OK);

        Assert.Equal(waiting, answer.GetProperty("next").GetProperty("task").Str("id"));
        var steps = (await client.GetAsync(Org.Api($"runs/{run}")).ExpectAsync(HttpStatusCode.OK)).GetProperty("steps").EnumerateArray().ToDictionary(s => s.Str("id"), s => s.Str("status"));
        Assert.Equal("succeeded", steps["a"]);
        Assert.Equal("running", steps["b"]);
        Assert.Equal("B", (await client.GetAsync(Org.Api($"tasks?queue={queue}&status=queued")).ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray().Single().Str("title"));
    }

    [Fact]
    public async Task Complete_WithNext_WhenNoTaskIsQueued_CompletesAndAnswersNullNext()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var lease = await client.StartTaskAsync(Org);

        var answer = await CompleteAsync(client, lease, new { queues = new[] { Work.Unique("empty") } }).ExpectAsync(HttpStatusCode.OK);

        Assert.Equal("succeeded", answer.GetProperty("task").Str("status"));
        Assert.Equal(JsonValueKind.Null, answer.GetProperty("next").ValueKind);
        Assert.Equal("succeeded", (await client.GetTaskAsync(Org, lease.TaskId)).Str("status"));
    }

    [Fact]
    public async Task Complete_WithNext_RespectsQueueAndLabelsFilters()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var lease = await client.StartTaskAsync(Org);
        var labelled = (await client.CreateTaskAsync(Org, new { queue, title = "needs gpu", labels = new[] { "gpu" }, priority = 5 })).Str("id");
        await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "another queue", priority = 10 });
        var plain = (await client.CreateTaskAsync(Org, new { queue, title = "anyone" })).Str("id");

        var answer = await CompleteAsync(client, lease, new { queues = new[] { queue } }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(plain, answer.GetProperty("next").GetProperty("task").Str("id"));

        var next = ToLease(answer.GetProperty("next"));
        var second = await CompleteAsync(client, next, new { queues = new[] { queue }, labels = new[] { "gpu", "linux" } }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(labelled, second.GetProperty("next").GetProperty("task").Str("id"));
    }

    [Fact]
    public async Task Complete_WithBadNext_Answers400AndLeavesTheTaskRunning()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var lease = await client.StartTaskAsync(Org);

        foreach (var (next, field) in new (object Next, string Field)[]
        {
            (new { leaseSeconds = 0 }, "next.leaseSeconds"),
            (new { queues = new[] { "not a queue!" } }, "next.queues"),
            (new { labels = new[] { "" } }, "next.labels"),
        })
        {
            var problem = await CompleteAsync(client, lease, next).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
        }

        await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token, next = "soon" })
            .ExpectProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal("running", (await client.GetTaskAsync(Org, lease.TaskId)).Str("status"));
    }

    [Fact]
    public async Task Complete_WithNext_AndAStaleLease_Answers409AndClaimsNothing()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var lease = await client.StartTaskAsync(Org);
        var waiting = (await client.CreateTaskAsync(Org, new { queue, title = "waiting" })).Str("id");

        await CompleteAsync(client, lease with { Token = "cll_not-the-token" }, new { queues = new[] { queue } })
            .ExpectProblemAsync(HttpStatusCode.Conflict, "stale-lease");

        Assert.Equal("running", (await client.GetTaskAsync(Org, lease.TaskId)).Str("status"));
        Assert.Equal("queued", (await client.GetTaskAsync(Org, waiting)).Str("status"));
    }

    [Fact]
    public async Task Complete_WithNext_ThroughAnotherOrg_Answers404AndClaimsNothing()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        using var other = Host.CreateClient(fixture.OtherOrg.MemberKey);
        var queue = Work.Unique("q");
        var lease = await client.StartTaskAsync(Org);
        var theirs = (await other.CreateTaskAsync(fixture.OtherOrg, new { queue, title = "theirs" })).Str("id");

        await other.PostAsJsonAsync(fixture.OtherOrg.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token, next = new { queues = new[] { queue } } })
            .ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");

        Assert.Equal("running", (await client.GetTaskAsync(Org, lease.TaskId)).Str("status"));
        Assert.Equal("queued", (await other.GetTaskAsync(fixture.OtherOrg, theirs)).Str("status"));
    }

    [Fact]
    public async Task Complete_WithoutNext_AnswersTheTaskAsBefore()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var lease = await client.StartTaskAsync(Org);
        var waiting = (await client.CreateTaskAsync(Org, new { queue, title = "waiting" })).Str("id");

        var done = await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token }).ExpectAsync(HttpStatusCode.OK);

        Assert.Equal(lease.TaskId, done.Str("id"));
        Assert.Equal("succeeded", done.Str("status"));
        Assert.False(done.TryGetProperty("next", out _));
        Assert.Equal("queued", (await client.GetTaskAsync(Org, waiting)).Str("status"));
    }

    private Task<HttpResponseMessage> CheckoutManyAsync(HttpClient client, object body) => client.PostAsJsonAsync(Org.Api("work/checkout"), body);

    /// <summary>Starts a run of a new workflow of three task steps on <paramref name="queue"/>, each needing the one before (A → B → C); returns the run's id.</summary>
    private async Task<string> StartChainAsync(HttpClient client, string queue)
    {
        var name = Work.Unique("chain").ToLowerInvariant();
        var yaml = $"name: {name}\nsteps:\n  - {{ id: a, kind: task, queue: {queue}, title: A }}\n  - {{ id: b, kind: task, queue: {queue}, title: B, needs: [a] }}\n" +
                   $"  - {{ id: c, kind: task, queue: {queue}, title: C, needs: [b] }}\n";
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        await admin.PostAsync(Org.Api("workflows"), new StringContent(yaml, System.Text.Encoding.UTF8, new System.Net.Http.Headers.MediaTypeHeaderValue("application/yaml"))).ExpectAsync(HttpStatusCode.Created);
        return (await client.PostAsJsonAsync(Org.Api($"workflows/{name}/runs"), new { input = new { } }).ExpectAsync(HttpStatusCode.Created)).Str("id");
    }

    private Task<HttpResponseMessage> CompleteAsync(HttpClient client, Lease lease, object next) =>
        client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token, output = new { ok = true }, next });

    private static Lease ToLease(JsonElement json) => new(json.GetProperty("task"), json.Str("leaseToken"), json.GetProperty("leaseExpiresAt").GetDateTimeOffset());

    private static List<Lease> Leases(JsonElement batch)
    {
        Assert.Equal(["leases"], batch.EnumerateObject().Select(p => p.Name));
        return batch.GetProperty("leases").EnumerateArray().Select(ToLease).ToList();
    }
}

public sealed class SqliteEagerDispatchTests(SqliteHostFixture fixture) : EagerDispatchTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresEagerDispatchTests(PostgresHostFixture fixture) : EagerDispatchTests(fixture), IClassFixture<PostgresHostFixture>;
