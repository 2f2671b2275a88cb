using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Client;
using Clarity.Events;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Tasks;

/// <summary>
/// Ad-hoc dependencies (<c>POST …/tasks {dependsOn}</c>): a task is blocked, and never claimed, until every task it
/// depends on has succeeded; when one of them fails or is cancelled, it is cancelled, and so on down the chain.
/// </summary>
public abstract class TaskDependencyTests(TwoOrgFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Own;

    [Fact]
    public async Task Dependent_IsBlockedUntilEveryDependencySucceeds_ThenClaimable()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var a = await client.StartTaskAsync(Org);
        var b = await client.StartTaskAsync(Org);
        var queue = Work.Unique("q");
        var agent = Work.Unique("agent");
        var c = await client.CreateTaskAsync(Org, new { queue, title = "after a and b", dependsOn = new[] { a.TaskId, b.TaskId } });
        Assert.Equal("blocked", c.Str("status"));
        Assert.Equal([a.TaskId, b.TaskId], c.GetProperty("dependsOn").EnumerateArray().Select(d => d.GetString()));

        await client.CheckoutAsync(Org, agent, queue).ExpectAsync(HttpStatusCode.NoContent);
        await CompleteAsync(client, a);
        Assert.Equal("blocked", (await client.GetTaskAsync(Org, c.Str("id"))).Str("status"));
        await client.CheckoutAsync(Org, agent, queue).ExpectAsync(HttpStatusCode.NoContent);

        await CompleteAsync(client, b);
        Assert.Equal("queued", (await client.GetTaskAsync(Org, c.Str("id"))).Str("status"));
        var lease = await client.CheckoutTaskAsync(Org, agent, queue);
        Assert.Equal(c.Str("id"), lease.TaskId);
        Assert.Equal(2, lease.Task.GetProperty("dependsOn").GetArrayLength());
    }

    [Fact]
    public async Task Dependent_OfTasksThatAllSucceeded_StartsQueued()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var a = await client.StartTaskAsync(Org);
        await CompleteAsync(client, a);

        var queue = Work.Unique("q");
        var c = await client.CreateTaskAsync(Org, new { queue, title = "after a", dependsOn = new[] { a.TaskId } });
        Assert.Equal("queued", c.Str("status"));
        Assert.Equal(c.Str("id"), (await client.CheckoutTaskAsync(Org, Work.Unique("agent"), queue)).TaskId);
    }

    [Fact]
    public async Task Task_WithoutDependencies_HasNoDependsOnField()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var task = await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "alone" });
        Assert.True(task.IsNull("dependsOn"));
    }

    [Fact]
    public async Task DependencyFailure_CancelsTheDependent_AndCascadesThroughTheChain()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var root = await client.StartTaskAsync(Org);

        // A chain long enough that settling it one level at a time must not recurse: root ← 1 ← 2 ← … ← 40, plus a
        // second dependent of level 1 that also waits for a task that never ends.
        var chain = new List<string>();
        var previous = root.TaskId;
        for (var i = 0; i < 40; i++)
        {
            previous = (await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = $"level {i + 1}", dependsOn = new[] { previous } })).Str("id");
            chain.Add(previous);
        }

        var pending = await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "never ends" });
        var side = await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "side", dependsOn = new[] { chain[0], pending.Str("id") } });

        await client.PostAsJsonAsync(Org.Api($"tasks/{root.TaskId}/fail"), new { leaseToken = root.Token, error = "broken", retryable = false })
            .ExpectAsync(HttpStatusCode.OK);

        var first = await client.GetTaskAsync(Org, chain[0]);
        Assert.Equal("cancelled", first.Str("status"));
        Assert.Equal($"Dependency {root.TaskId} failed.", first.Str("error"));
        Assert.False(first.IsNull("finishedAt"));
        for (var i = 1; i < chain.Count; i++)
        {
            var task = await client.GetTaskAsync(Org, chain[i]);
            Assert.Equal("cancelled", task.Str("status"));
            Assert.Equal($"Dependency {chain[i - 1]} was cancelled.", task.Str("error"));
        }

        Assert.Equal("cancelled", (await client.GetTaskAsync(Org, side.Str("id"))).Str("status"));
        Assert.Equal("queued", (await client.GetTaskAsync(Org, pending.Str("id"))).Str("status"));
    }

    [Fact]
    public async Task Cancel_ABlockedTask_CancelsIt_AndItsDependents()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var a = await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "a" });
        var b = await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "b", dependsOn = new[] { a.Str("id") } });
        var c = await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "c", dependsOn = new[] { b.Str("id") } });

        var cancelled = await client.PostAsync(Org.Api($"tasks/{b.Str("id")}/cancel"), null).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("cancelled", cancelled.Str("status"));
        var dependent = await client.GetTaskAsync(Org, c.Str("id"));
        Assert.Equal("cancelled", dependent.Str("status"));
        Assert.Equal($"Dependency {b.Str("id")} was cancelled.", dependent.Str("error"));
        Assert.Equal("queued", (await client.GetTaskAsync(Org, a.Str("id"))).Str("status"));
        await client.PostAsync(Org.Api($"tasks/{c.Str("id")}/cancel"), null).ExpectProblemAsync(HttpStatusCode.Conflict, "invalid-transition");
    }

    [Fact]
    public async Task Create_WithADependencyThatAlreadyFailed_IsCancelledAtOnce()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var a = await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "a" });
        await client.PostAsync(Org.Api($"tasks/{a.Str("id")}/cancel"), null).ExpectAsync(HttpStatusCode.OK);

        var b = await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "b", dependsOn = new[] { a.Str("id") } });
        Assert.Equal("cancelled", b.Str("status"));
        Assert.Equal($"Dependency {a.Str("id")} was cancelled.", b.Str("error"));
    }

    [Fact]
    public async Task Create_WithUnknownOrOtherOrgsDependency_Answers400NamingTheField_TheSameForBoth()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        using var other = Host.CreateClient(fixture.Other.MemberKey);
        var mine = await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "mine" });
        var theirs = await other.CreateTaskAsync(fixture.Other, new { queue = Work.Unique("q"), title = "theirs" });
        var queue = Work.Unique("q");

        var unknown = await client.PostAsJsonAsync(Org.Api("tasks"), new { queue, title = "t", dependsOn = new[] { mine.Str("id"), Guid.NewGuid().ToString() } })
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        var foreign = await client.PostAsJsonAsync(Org.Api("tasks"), new { queue, title = "t", dependsOn = new[] { mine.Str("id"), theirs.Str("id") } })
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");

        Assert.Equal("dependsOn[1]: is not a task of this org.", unknown.Str("detail"));
        Assert.Equal(unknown.Str("detail"), foreign.Str("detail"));
        Assert.Equal(unknown.GetProperty("errors").GetRawText(), foreign.GetProperty("errors").GetRawText());
        var page = await client.GetAsync(Org.Api($"tasks?queue={queue}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(page.GetProperty("items").EnumerateArray());
        Assert.Equal("queued", (await other.GetTaskAsync(fixture.Other, theirs.Str("id"))).Str("status"));
    }

    [Fact]
    public async Task Create_WithTooManyDependencies_Answers400()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var ids = Enumerable.Range(0, 101).Select(_ => Guid.NewGuid()).ToArray();
        var problem = await client.PostAsJsonAsync(Org.Api("tasks"), new { queue = Work.Unique("q"), title = "t", dependsOn = ids })
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(problem.GetProperty("errors").TryGetProperty("dependsOn", out _));
    }

    [Fact]
    public async Task Create_WithARepeatedDependency_CountsItOnce()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var a = await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "a" });
        var b = await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "b", dependsOn = new[] { a.Str("id"), a.Str("id") } });
        Assert.Equal([a.Str("id")], b.GetProperty("dependsOn").EnumerateArray().Select(d => d.GetString()));
    }

    [Fact]
    public async Task Create_WithRepeatedIdempotencyKey_ReturnsTheExistingDependentTask()
    {
        using var sdk = new ClarityClient(Host.BaseAddress, Org.MemberKey, Org.Org);
        var a = await sdk.CreateTaskAsync(new CreateTaskRequest(Work.Unique("q"), "a"));
        var request = new CreateTaskRequest(Work.Unique("q"), "b", IdempotencyKey: Work.Unique("key"), DependsOn: [a.Id]);

        var first = await sdk.CreateTaskAsync(request);
        var again = await sdk.CreateTaskAsync(request);
        Assert.Equal(first.Id, again.Id);
        Assert.Equal(TaskStatuses.Blocked, again.Status);
        Assert.Equal([a.Id], again.DependsOn);
        Assert.Equal([first.Id], (await sdk.ListTasksAsync(new TaskQuery(Status: TaskStatuses.Blocked, Queue: request.Queue))).Items.Select(t => t.Id));
    }

    [Fact]
    public async Task Checkout_NeverReturnsABlockedTask()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var a = await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "a" });
        var queue = Work.Unique("q");
        var blocked = await client.CreateTaskAsync(Org, new { queue, title = "blocked", priority = 10, dependsOn = new[] { a.Str("id") } });
        var ready = await client.CreateTaskAsync(Org, new { queue, title = "ready" });
        var agent = Work.Unique("agent");

        await client.PostAsJsonAsync(Org.Api("work/checkout"), new { agent, taskId = blocked.Str("id") }).ExpectAsync(HttpStatusCode.NoContent);
        var batch = await client.PostAsJsonAsync(Org.Api("work/checkout"), new { agent, queues = new[] { queue }, maxTasks = 10 }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([ready.Str("id")], batch.GetProperty("leases").EnumerateArray().Select(l => l.GetProperty("task").Str("id")));
        var any = await client.PostAsJsonAsync(Org.Api("work/checkout"), new { agent, maxTasks = 100 });
        if (any.StatusCode == HttpStatusCode.OK)
        {
            Assert.DoesNotContain(blocked.Str("id"), (await any.ReadJsonAsync()).GetProperty("leases").EnumerateArray().Select(l => l.GetProperty("task").Str("id")));
        }

        await client.CheckoutAsync(Org, agent, queue, waitSeconds: 1).ExpectAsync(HttpStatusCode.NoContent);
        Assert.Equal("blocked", (await client.GetTaskAsync(Org, blocked.Str("id"))).Str("status"));
    }

    [Fact]
    public async Task Unblock_WakesAWaitingAgent()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var a = await client.StartTaskAsync(Org);
        var queue = Work.Unique("q");
        var c = await client.CreateTaskAsync(Org, new { queue, title = "after a", dependsOn = new[] { a.TaskId } });

        // The agent waits long enough for the completion to happen while it waits; the unblock's event must wake it.
        var waiting = client.CheckoutAsync(Org, Work.Unique("agent"), queue, waitSeconds: 30);
        await CompleteAsync(client, a);
        var lease = await waiting.ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(c.Str("id"), lease.GetProperty("task").Str("id"));
    }

    [Fact]
    public async Task Unblock_EmitsTheTasksEvent_AndAnAuditEntry()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var a = await client.StartTaskAsync(Org);
        var c = await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "after a", dependsOn = new[] { a.TaskId } });
        await CompleteAsync(client, a);

        await using (var connection = await Host.Services.GetRequiredService<Database>().OpenReadAsync())
        {
            var events = (await EventLog.ReadAllAsync(connection)).Where(r => r.Subject == $"task:{c.Str("id")}")
                .Select(r => JsonDocument.Parse(r.Payload).RootElement).ToList();
            Assert.Equal(["blocked", "queued"], events.Select(e => e.Str("status")));
            Assert.Equal("unblock", events[1].Str("transition"));
            Assert.Equal("task.unblocked", PublicEvents.TypeOf(new TaskChanged(Guid.Empty, Guid.Empty, "q", "queued", false) { Transition = events[1].Str("transition") }));
            Assert.Equal("task.created", PublicEvents.TypeOf(new TaskChanged(Guid.Empty, Guid.Empty, "q", "blocked", false)));
        }

        using var owner = Host.CreateClient(Org.OwnerToken);
        var audit = await owner.GetAsync(Org.Api($"audit?action=task.unblocked&target=task:{c.Str("id")}")).ExpectAsync(HttpStatusCode.OK);
        var entry = Assert.Single(audit.GetProperty("items").EnumerateArray()).GetProperty("entry");
        Assert.Equal("blocked", entry.GetProperty("before").Str("status"));
        Assert.Equal("queued", entry.GetProperty("after").Str("status"));
        Assert.Equal(a.TaskId, entry.GetProperty("after").Str("dependencyId"));
    }

    [Fact]
    public async Task List_FiltersByStatusBlocked()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var a = await client.CreateTaskAsync(Org, new { queue, title = "a" });
        var b = await client.CreateTaskAsync(Org, new { queue, title = "b", dependsOn = new[] { a.Str("id") } });

        var page = await client.GetAsync(Org.Api($"tasks?queue={queue}&status=blocked")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([b.Str("id")], page.GetProperty("items").EnumerateArray().Select(t => t.Str("id")));
    }

    /// <summary>
    /// The race of a dependent's creation against its dependency's completion, and of two dependencies completing at
    /// once: whichever commits first, the dependent is never left blocked once all its dependencies succeeded. Real on
    /// PostgreSQL (READ COMMITTED, row locks); serialised by the single writer on SQLite.
    /// </summary>
    [Fact]
    public async Task Dependent_RacingItsDependenciesCompletions_IsNeverLeftBlocked()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        using var other = Host.CreateClient(Org.MemberKey);
        var stuck = new List<string>();
        for (var i = 0; i < 25; i++)
        {
            // Create-dependent versus complete-dependency.
            var a = await client.StartTaskAsync(Org);
            var create = other.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "racer", dependsOn = new[] { a.TaskId } });
            var complete = CompleteAsync(client, a);
            await Task.WhenAll(create, complete);
            var created = await create;
            var now = await client.GetTaskAsync(Org, created.Str("id"));
            if (now.Str("status") != "queued")
            {
                stuck.Add($"create vs complete: {now}");
            }

            // Two dependencies of one task completing together.
            var x = await client.StartTaskAsync(Org);
            var y = await client.StartTaskAsync(Org);
            var both = await client.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "both", dependsOn = new[] { x.TaskId, y.TaskId } });
            await Task.WhenAll(CompleteAsync(client, x), CompleteAsync(other, y));
            var after = await client.GetTaskAsync(Org, both.Str("id"));
            if (after.Str("status") != "queued")
            {
                stuck.Add($"complete vs complete: {after}");
            }
        }

        Assert.Empty(stuck);
    }

    private Task<JsonElement> CompleteAsync(HttpClient client, Infrastructure.Lease lease) =>
        client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token }).ExpectAsync(HttpStatusCode.OK);
}

public sealed class SqliteTaskDependencyFixture() : TwoOrgFixture(Backend.Sqlite, RateLimitsOff.With());

public sealed class PostgresTaskDependencyFixture() : TwoOrgFixture(Backend.Postgres, RateLimitsOff.With());

public sealed class SqliteTaskDependencyTests(SqliteTaskDependencyFixture fixture) : TaskDependencyTests(fixture), IClassFixture<SqliteTaskDependencyFixture>;

public sealed class PostgresTaskDependencyTests(PostgresTaskDependencyFixture fixture) : TaskDependencyTests(fixture), IClassFixture<PostgresTaskDependencyFixture>;
