using System.Net;
using System.Net.Http.Json;
using Clarity.Features.Clarifications;
using Clarity.Hosting;
using Clarity.Hosting.Authorization;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Clarifications;

/// <summary>A task's own clarifications, oldest first: the task page's timeline reads them.</summary>
public abstract class TaskClarificationsTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    [Fact]
    public async Task ListForTask_ReturnsTheTasksQuestionsOldestFirst_AndNothingToAnotherOrg()
    {
        var org = fixture.Org;
        using var agent = Host.CreateClient(org.MemberKey);
        using var person = Host.CreateClient(org.OwnerToken);
        var lease = await agent.StartTaskAsync(org);
        var first = await agent.PostAsJsonAsync(org.Api($"tasks/{lease.TaskId}/clarifications"), new { leaseToken = lease.Token, question = "Which branch?" }).ExpectAsync(HttpStatusCode.Created);
        await person.PostAsJsonAsync(org.Api($"clarifications/{first.Str("id")}/answer"), new { answer = "main" }).ExpectAsync(HttpStatusCode.OK);
        var second = await agent.PostAsJsonAsync(org.Api($"tasks/{lease.TaskId}/clarifications"), new { leaseToken = lease.Token, question = "Push now?" }).ExpectAsync(HttpStatusCode.Created);
        var unrelated = await agent.StartTaskAsync(org);
        await agent.PostAsJsonAsync(org.Api($"tasks/{unrelated.TaskId}/clarifications"), new { leaseToken = unrelated.Token, question = "Not this one" }).ExpectAsync(HttpStatusCode.Created);

        var service = Host.Services.GetRequiredService<ClarificationService>();
        var taskId = Guid.Parse(lease.TaskId);
        var listed = await service.ListForTaskAsync(await ContextAsync(org), taskId, CancellationToken.None);

        Assert.Equal([first.Str("id"), second.Str("id")], listed.Select(c => c.Id.ToString()));
        Assert.Equal(["answered", "pending"], listed.Select(c => c.Status));
        Assert.Empty(await service.ListForTaskAsync(await ContextAsync(fixture.OtherOrg), taskId, CancellationToken.None));
    }

    private async Task<OrgContext> ContextAsync(OrgSession session)
    {
        await using var c = await Host.Services.GetRequiredService<Database>().OpenReadAsync();
        var orgId = await c.QuerySingleAsync<Guid>("SELECT id FROM orgs WHERE slug = @slug", new { slug = session.Org });
        var owner = (await Host.Services.GetRequiredService<RoleCatalog>().ForOrgAsync(orgId, CancellationToken.None)).Resolve(BuiltInRoles.Owner);
        return new OrgContext(orgId, session.Org, owner, new Caller(Guid.NewGuid(), null));
    }
}

public sealed class SqliteTaskClarificationsTests(SqliteHostFixture fixture) : TaskClarificationsTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresTaskClarificationsTests(PostgresHostFixture fixture) : TaskClarificationsTests(fixture), IClassFixture<PostgresHostFixture>;
