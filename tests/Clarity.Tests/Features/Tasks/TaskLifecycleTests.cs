using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Tasks;

public abstract class TaskLifecycleTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task CreateCheckoutComplete_RunsTheWholeLifecycle()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var task = await agent.CreateTaskAsync(Org, new { queue, title = "t", input = new { n = 1 } });
        var id = task.Str("id");
        Assert.Equal("queued", task.Str("status"));

        var lease = await agent.PostAsJsonAsync(Org.Api("work/checkout"), new { agent = "a1", queues = new[] { queue }, waitSeconds = 1 }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(id, lease.GetProperty("task").Str("id"));
        Assert.Equal("running", lease.GetProperty("task").Str("status"));
        Assert.Equal(1, lease.GetProperty("task").Int("attempts"));

        var done = await agent.PostAsJsonAsync(Org.Api($"tasks/{id}/complete"), new { leaseToken = lease.Str("leaseToken"), output = new { ok = true } })
            .ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("succeeded", done.Str("status"));
        Assert.True(done.GetProperty("output").GetProperty("ok").GetBoolean());
        Assert.Equal(1, (await agent.GetTaskAsync(Org, id)).GetProperty("input").Int("n"));
    }

    [Fact]
    public async Task Create_WithRepeatedIdempotencyKey_ReturnsTheSameTaskWith200()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var key = Work.Unique("key");
        var first = await client.PostAsJsonAsync(Org.Api("tasks"), new { queue, title = "once", idempotencyKey = key }).ExpectAsync(HttpStatusCode.Created);
        var second = await client.PostAsJsonAsync(Org.Api("tasks"), new { queue, title = "twice?", idempotencyKey = key }).ExpectAsync(HttpStatusCode.OK);

        Assert.Equal(first.Str("id"), second.Str("id"));
        Assert.Equal("once", second.Str("title"));
        var page = await client.GetAsync(Org.Api($"tasks?queue={queue}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Single(page.GetProperty("items").EnumerateArray());

        // The key belongs to the org: another org may use the same key for its own task.
        using var other = Host.CreateClient(fixture.OtherOrg.MemberKey);
        var theirs = await other.PostAsJsonAsync(fixture.OtherOrg.Api("tasks"), new { queue, title = "theirs", idempotencyKey = key }).ExpectAsync(HttpStatusCode.Created);
        Assert.NotEqual(first.Str("id"), theirs.Str("id"));
    }

    [Fact]
    public async Task Create_WithTheSameIdempotencyKeyConcurrently_CreatesExactlyOneTask()
    {
        var queue = Work.Unique("q");
        var key = Work.Unique("key");
        var attempts = await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            using var client = Host.CreateClient(Org.MemberKey);
            using var response = await client.PostAsJsonAsync(Org.Api("tasks"), new { queue, title = $"racer {i}", idempotencyKey = key });
            return (response.StatusCode, Id: (await response.ReadJsonAsync()).Str("id"));
        }));

        Assert.Single(attempts, a => a.StatusCode == HttpStatusCode.Created);
        Assert.All(attempts, a => Assert.Contains(a.StatusCode, new[] { HttpStatusCode.Created, HttpStatusCode.OK }));
        Assert.Single(attempts.Select(a => a.Id).Distinct());
        using var reader = Host.CreateClient(Org.MemberKey);
        var page = await reader.GetAsync(Org.Api($"tasks?queue={queue}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Single(page.GetProperty("items").EnumerateArray());
    }

    [Fact]
    public async Task List_FiltersByStatusQueueAndAgent()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var otherQueue = Work.Unique("q");
        var agent = Work.Unique("agent");
        for (var i = 0; i < 3; i++)
        {
            await client.CreateTaskAsync(Org, new { queue, title = $"t{i}" });
        }

        await client.CreateTaskAsync(Org, new { queue = otherQueue, title = "elsewhere" });
        var lease = await client.CheckoutTaskAsync(Org, agent, queue);

        Assert.Equal(3, (await ListAsync($"queue={queue}")).Count);
        Assert.Equal([lease.TaskId], await ListAsync($"queue={queue}&status=running"));
        Assert.Equal(2, (await ListAsync($"queue={queue}&status=queued")).Count);
        Assert.Equal([lease.TaskId], await ListAsync($"agent={agent}"));
        Assert.Equal([lease.TaskId], await ListAsync($"agent={lease.Task.Str("agentId")}"));
        Assert.Empty(await ListAsync($"agent={Work.Unique("nobody")}"));
        Assert.Single(await ListAsync($"queue={otherQueue}"));
        await client.GetAsync(Org.Api("tasks?status=sleeping")).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");

        async Task<List<string>> ListAsync(string query) =>
            (await client.GetAsync(Org.Api($"tasks?{query}")).ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray().Select(t => t.Str("id")).ToList();
    }

    [Fact]
    public async Task List_PagesWithCursor_WithoutDuplicatesOrGaps()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var created = new List<string>();
        for (var i = 0; i < 7; i++)
        {
            created.Add((await client.CreateTaskAsync(Org, new { queue, title = $"t{i}" })).Str("id"));
        }

        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var url = $"tasks?queue={queue}&limit=3" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}");
            var page = await client.GetAsync(Org.Api(url)).ExpectAsync(HttpStatusCode.OK);
            var items = page.GetProperty("items").EnumerateArray().Select(t => t.Str("id")).ToList();
            Assert.InRange(items.Count, 1, 3);
            seen.AddRange(items);
            cursor = page.OptStr("nextCursor");
            pages++;
        }
        while (cursor is not null && pages < 10);

        Assert.Equal(3, pages);
        Assert.Equal(created.AsEnumerable().Reverse(), seen);
        await client.GetAsync(Org.Api("tasks?cursor=not-a-cursor!")).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
    }

    [Fact]
    public async Task Get_AnotherOrgsTask_Answers404()
    {
        using var other = Host.CreateClient(fixture.OtherOrg.MemberKey);
        var theirs = await other.CreateTaskAsync(fixture.OtherOrg, new { queue = Work.Unique("q"), title = "secret" });

        using var client = Host.CreateClient(Org.MemberKey);
        await client.GetAsync(Org.Api($"tasks/{theirs.Str("id")}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await client.PostAsync(Org.Api($"tasks/{theirs.Str("id")}/cancel"), null).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await client.GetAsync(fixture.OtherOrg.Api($"tasks/{theirs.Str("id")}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        Assert.Equal("queued", (await other.GetTaskAsync(fixture.OtherOrg, theirs.Str("id"))).Str("status"));
    }

    [Fact]
    public async Task Cancel_QueuedTask_IsCancelled_ButAFinishedTaskAnswers409()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queued = await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "drop me" });
        var cancelled = await client.PostAsync(Org.Api($"tasks/{queued.Str("id")}/cancel"), null).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("cancelled", cancelled.Str("status"));
        await client.PostAsync(Org.Api($"tasks/{queued.Str("id")}/cancel"), null).ExpectProblemAsync(HttpStatusCode.Conflict, "invalid-transition");

        var lease = await client.StartTaskAsync(Org);
        await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token }).ExpectAsync(HttpStatusCode.OK);
        await client.PostAsync(Org.Api($"tasks/{lease.TaskId}/cancel"), null).ExpectProblemAsync(HttpStatusCode.Conflict, "invalid-transition");
        Assert.Equal("succeeded", (await client.GetTaskAsync(Org, lease.TaskId)).Str("status"));
    }

    [Fact]
    public async Task WrongMethod_Answers405()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        await client.PutAsJsonAsync(Org.Api("tasks"), new { title = "t" }).ExpectProblemAsync(HttpStatusCode.MethodNotAllowed, "method-not-allowed");
    }

    [Fact]
    public async Task Viewer_CannotCreateTasks_Answers403()
    {
        using var viewer = Host.CreateClient(Org.Keys["viewer"]);
        await viewer.PostAsJsonAsync(Org.Api("tasks"), new { title = "nope" }).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await viewer.GetAsync(Org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);
    }
}

public sealed class SqliteTaskLifecycleTests(SqliteHostFixture fixture) : TaskLifecycleTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresTaskLifecycleTests(PostgresHostFixture fixture) : TaskLifecycleTests(fixture), IClassFixture<PostgresHostFixture>;
