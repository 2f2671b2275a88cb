using System.Net;
using System.Net.Http.Json;
using Clarity.Features.Agents;
using Clarity.Features.Identity;
using Clarity.Hosting;
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
        var listed = (await client.GetAsync(Org.Api("agents")).ExpectAsync(HttpStatusCode.OK)).EnumerateArray().Where(a => a.Str("name") == name);
        Assert.Single(listed);
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

        async Task<string> StatusAsync() =>
            (await client.GetAsync(Org.Api("agents")).ExpectAsync(HttpStatusCode.OK)).EnumerateArray().Single(a => a.Str("name") == name).Str("status");
    }

    [Fact]
    public async Task List_InAnOrgWithoutAgents_IsEmpty()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var slug = Work.Unique("empty");
        await owner.PostAsJsonAsync("api/v1/orgs", new { slug, name = slug }).ExpectAsync(HttpStatusCode.Created);
        var agents = await owner.GetAsync($"api/v1/orgs/{slug}/agents").ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(agents.EnumerateArray());
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
        var busyId = Guid.Parse((await client.GetAsync(Org.Api("agents")).ExpectAsync(HttpStatusCode.OK)).EnumerateArray().Single(a => a.Str("name") == busy).Str("id"));

        var org = await Host.Services.GetRequiredService<IdentityStore>().FindOrgBySlugAsync(Org.Org, CancellationToken.None);
        var context = new OrgContext(org!.Id, org.Slug, Roles.Member, new Caller(null, null));
        var share = await Host.Services.GetRequiredService<AgentService>().UtilizationAsync(context, TimeSpan.FromHours(1), CancellationToken.None);

        Assert.InRange(share[busyId], double.Epsilon, 1.0);
        Assert.False(share.ContainsKey(Guid.Parse(idleAgent.Str("id"))));
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
