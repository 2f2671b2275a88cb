using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Features.Agents;
using Clarity.Features.Identity;
using Clarity.Hosting;
using Clarity.Hosting.Authorization;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Agents;

public abstract class AgentTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task Register_FirstTimeAnswers201_ThenReRegisterAnswers200WithTheSameId()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var name = Work.Unique("agent");
        var first = await client.PostAsJsonAsync(Org.Api("agents"), new { name, labels = new[] { "gpu" } }).ExpectAsync(HttpStatusCode.Created);
        var again = await client.PostAsJsonAsync(Org.Api("agents"), new { name, labels = new[] { "gpu", "linux" } }).ExpectAsync(HttpStatusCode.OK);

        Assert.Equal(first.Str("id"), again.Str("id"));
        Assert.Equal(["gpu", "linux"], again.GetProperty("labels").EnumerateArray().Select(l => l.GetString()));
        Assert.Equal(first.Str("id"), (await client.FindAgentAsync(Org, name))?.Str("id"));
    }

    [Fact]
    public async Task List_ShowsAgentBusyWhileHoldingATask_AndIdleOtherwise()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var name = Work.Unique("agent");
        var queue = Work.Unique("q");
        var agent = await client.PostAsJsonAsync(Org.Api("agents"), new { name }).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal("idle", await StatusAsync());

        await client.CreateTaskAsync(Org, new { queue, title = "t" });
        var lease = await client.CheckoutTaskAsync(Org, name, queue);
        Assert.Equal("busy", await StatusAsync());
        var busy = await client.GetAsync(Org.Api($"agents/{agent.Str("id")}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(lease.TaskId, busy.Str("currentTaskId"));

        await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("idle", await StatusAsync());

        async Task<string> StatusAsync() => (await client.FindAgentAsync(Org, name))!.Value.Str("status");
    }

    [Fact]
    public async Task List_InAnOrgWithoutAgents_IsEmpty()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var slug = Work.Unique("empty");
        await owner.PostAsJsonAsync("api/v1/orgs", new { slug, name = slug }).ExpectAsync(HttpStatusCode.Created);
        var agents = await owner.GetAsync($"api/v1/orgs/{slug}/agents").ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(agents.GetProperty("items").EnumerateArray());
        Assert.True(agents.IsNull("nextCursor"));
    }

    [Fact]
    public async Task Utilization_IsTheShareOfTheWindowSpentHoldingTasks_OnlyForAgentsThatHeldOne()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var (busy, idle, queue) = (Work.Unique("agent"), Work.Unique("agent"), Work.Unique("q"));
        var idleAgent = await client.PostAsJsonAsync(Org.Api("agents"), new { name = idle }).ExpectAsync(HttpStatusCode.Created);
        await client.CreateTaskAsync(Org, new { queue, title = "t" });
        var lease = await client.CheckoutTaskAsync(Org, busy, queue);
        await Task.Delay(50); // the task is held for a measurable time
        await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token }).ExpectAsync(HttpStatusCode.OK);
        var busyId = Guid.Parse((await client.FindAgentAsync(Org, busy))!.Value.Str("id"));

        var org = await Host.Services.GetRequiredService<IdentityStore>().FindOrgBySlugAsync(Org.Org, CancellationToken.None);
        var member = (await Host.Services.GetRequiredService<RoleCatalog>().ForOrgAsync(org!.Id, CancellationToken.None)).Resolve(BuiltInRoles.Member);
        var context = new OrgContext(org.Id, org.Slug, member, new Caller(null, null));
        var share = await Host.Services.GetRequiredService<AgentService>().UtilizationAsync(context, [busyId, Guid.Parse(idleAgent.Str("id"))], TimeSpan.FromHours(1), CancellationToken.None);

        Assert.InRange(share[busyId], double.Epsilon, 1.0);
        Assert.False(share.ContainsKey(Guid.Parse(idleAgent.Str("id"))));
    }

    [Fact]
    public async Task List_PagesByNameWithTheCursor_WithNoGapOrDuplicate_AndAnotherOrgsCursorFindsNothing()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var slug = Work.Unique("paged");
        await owner.PostAsJsonAsync("api/v1/orgs", new { slug, name = slug }).ExpectAsync(HttpStatusCode.Created);
        var names = new[] { "delta", "alpha", "echo", "charlie", "golf", "bravo", "foxtrot" };
        foreach (var name in names)
        {
            await owner.PostAsJsonAsync($"api/v1/orgs/{slug}/agents", new { name }).ExpectAsync(HttpStatusCode.Created);
        }

        var pages = new List<List<string>>();
        string? cursor = null;
        do
        {
            var page = await owner.GetAsync($"api/v1/orgs/{slug}/agents?limit=3" + (cursor is null ? "" : $"&cursor={cursor}")).ExpectAsync(HttpStatusCode.OK);
            pages.Add([.. page.GetProperty("items").EnumerateArray().Select(a => a.Str("name"))]);
            cursor = page.OptStr("nextCursor");
        }
        while (cursor is not null);

        Assert.Equal([3, 3, 1], pages.Select(p => p.Count));
        Assert.Equal(names.Order(StringComparer.Ordinal), pages.SelectMany(p => p));

        // A cursor names an agent of its org: in another org it matches nothing.
        var first = await owner.GetAsync($"api/v1/orgs/{slug}/agents?limit=1").ExpectAsync(HttpStatusCode.OK);
        var foreign = await owner.GetAsync(Org.Api($"agents?cursor={first.Str("nextCursor")}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(foreign.GetProperty("items").EnumerateArray());
    }

    [Theory]
    [InlineData("limit=0")]
    [InlineData("limit=201")]
    [InlineData("cursor=not-a-cursor")]
    public async Task List_WithABadLimitOrCursor_Answers400(string query)
    {
        using var client = Host.CreateClient(Org.MemberKey);
        await client.GetAsync(Org.Api($"agents?{query}")).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
    }

    [Fact]
    public async Task Register_ConcurrentlyWithTheSameNewName_MakesOneAgent_AndAnswers201Once()
    {
        const int Callers = 16;
        var name = Work.Unique("pool");
        var answers = await Task.WhenAll(Enumerable.Range(0, Callers).Select(async _ =>
        {
            using var client = Host.CreateClient(Org.MemberKey);
            using var response = await client.PostAsJsonAsync(Org.Api("agents"), new { name });
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
            return (response.StatusCode, Id: JsonDocument.Parse(body).RootElement.Str("id"));
        }));

        Assert.Single(answers, a => a.StatusCode == HttpStatusCode.Created);
        Assert.Single(answers.Select(a => a.Id).Distinct());
        using var reader = Host.CreateClient(Org.MemberKey);
        Assert.Equal(answers[0].Id, (await reader.FindAgentAsync(Org, name))?.Str("id"));
    }

    [Fact]
    public async Task Checkout_ConcurrentFirstCheckoutsByANewAgentName_AllSucceed_AndMakeOneAgent()
    {
        const int Workers = 16;
        const int Tasks = 4;
        var (name, queue) = (Work.Unique("pool"), Work.Unique("q"));
        using var creator = Host.CreateClient(Org.MemberKey);
        for (var i = 0; i < Tasks; i++)
        {
            await creator.CreateTaskAsync(Org, new { queue, title = $"t{i}" });
        }

        var answers = await Task.WhenAll(Enumerable.Range(0, Workers).Select(async _ =>
        {
            using var client = Host.CreateClient(Org.MemberKey);
            using var response = await client.CheckoutAsync(Org, name, queue);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.NoContent, $"{(int)response.StatusCode}: {body}");
            return body.Length == 0 ? null : JsonDocument.Parse(body).RootElement.GetProperty("task").OptStr("agentId");
        }));

        var agent = (await creator.FindAgentAsync(Org, name))!.Value.Str("id");
        var handedOut = answers.Where(a => a is not null).ToList();
        Assert.Equal(Tasks, handedOut.Count);
        Assert.All(handedOut, id => Assert.Equal(agent, id));
    }

    [Fact]
    public async Task Get_AnotherOrgsAgent_Answers404()
    {
        using var other = Host.CreateClient(fixture.OtherOrg.MemberKey);
        var agent = await other.PostAsJsonAsync(fixture.OtherOrg.Api("agents"), new { name = Work.Unique("agent") }).ExpectAsync(HttpStatusCode.Created);

        using var client = Host.CreateClient(Org.MemberKey);
        await client.GetAsync(Org.Api($"agents/{agent.Str("id")}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
    }
}

public sealed class SqliteAgentTests(SqliteHostFixture fixture) : AgentTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresAgentTests(PostgresHostFixture fixture) : AgentTests(fixture), IClassFixture<PostgresHostFixture>;
