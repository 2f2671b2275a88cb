using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Clarifications;

public abstract class ClarificationTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task Ask_PutsTheTaskInAwaitingResponse_AndListsItAsPending()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var lease = await agent.StartTaskAsync(Org);
        var question = await AskAsync(agent, lease, new { question = "Which branch?", options = new[] { "main", "dev" } });
        Assert.Equal(("pending", lease.TaskId), (question.Str("status"), question.Str("taskId")));
        Assert.Equal(["main", "dev"], question.GetProperty("options").EnumerateArray().Select(o => o.GetString()));

        Assert.Equal("awaiting_response", (await agent.GetTaskAsync(Org, lease.TaskId)).Str("status"));
        var pending = await agent.GetAsync(Org.Api("clarifications?status=pending&limit=200")).ExpectAsync(HttpStatusCode.OK);
        Assert.Contains(pending.GetProperty("items").EnumerateArray(), c => c.Str("id") == question.Str("id"));

        // Another org sees neither the question nor its list entry.
        using var other = Host.CreateClient(fixture.OtherOrg.MemberKey);
        var theirs = await other.GetAsync(fixture.OtherOrg.Api("clarifications?status=pending")).ExpectAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(theirs.GetProperty("items").EnumerateArray(), c => c.Str("id") == question.Str("id"));
        await other.GetAsync(fixture.OtherOrg.Api($"clarifications/{question.Str("id")}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Answer_ResumesTheTask_RecordsWhoAnsweredAndHow_AndASecondAnswerAnswers409NamingTheWinner()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        using var person = Host.CreateClient(Org.OwnerToken);
        var userId = (await person.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK)).GetProperty("user").Str("id");
        var lease = await agent.StartTaskAsync(Org);
        var question = await AskAsync(agent, lease, new { question = "Proceed?" });

        var answered = await person.PostAsJsonAsync(Org.Api($"clarifications/{question.Str("id")}/answer"), new { answer = "yes" }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("answered", "yes", userId), (answered.Str("status"), answered.Str("answer"), answered.Str("answeredBy")));
        Assert.Equal(("api", Org.OwnerEmail), (answered.Str("answeredVia"), answered.Str("answeredByName")));
        Assert.False(answered.IsNull("answeredAt"));
        Assert.Equal("running", (await agent.GetTaskAsync(Org, lease.TaskId)).Str("status"));

        // A later answer, through any channel, is told which answer won: who, through which channel, when.
        var late = await person.PostAsJsonAsync(Org.Api($"clarifications/{question.Str("id")}/answer"), new { answer = "no" }).ExpectProblemAsync(HttpStatusCode.Conflict, "not-pending");
        Assert.Equal(("answered", Org.OwnerEmail, "api"), (late.Str("clarificationStatus"), late.Str("answeredBy"), late.Str("answeredVia")));
        Assert.Contains(Org.OwnerEmail, late.Str("detail"), StringComparison.Ordinal);
        Assert.False(late.IsNull("answeredAt"));
        var stored = await person.GetAsync(Org.Api($"clarifications/{question.Str("id")}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("yes", stored.Str("answer"));

        // The agent carries on under the same lease.
        await agent.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token }).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Get_WithWaitSeconds_ReturnsTheAnswerGivenDuringTheWait()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        using var person = Host.CreateClient(Org.OwnerToken);
        var lease = await agent.StartTaskAsync(Org);
        var id = (await AskAsync(agent, lease, new { question = "Colour?" })).Str("id");

        var waiting = agent.GetAsync(Org.Api($"clarifications/{id}?waitSeconds=50"));
        await person.PostAsJsonAsync(Org.Api($"clarifications/{id}/answer"), new { answer = "blue" }).ExpectAsync(HttpStatusCode.OK);

        var result = await waiting.ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("answered", "blue"), (result.Str("status"), result.Str("answer")));
    }

    [Fact]
    public async Task Expiry_WithOnExpiryFail_FailsTheTask()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var lease = await agent.StartTaskAsync(Org);
        var id = (await AskAsync(agent, lease, new { question = "Anyone?", expiresInSeconds = 1, onExpiry = "fail" })).Str("id");

        var failed = await agent.WaitForStatusAsync(Org, lease.TaskId, "failed");
        Assert.Contains("clarification", failed.Str("error"), StringComparison.OrdinalIgnoreCase);
        var expired = await agent.GetAsync(Org.Api($"clarifications/{id}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("expired", expired.Str("status"));
        Assert.True(expired.IsNull("answer"));
        await agent.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token }).ExpectProblemAsync(HttpStatusCode.Conflict, "invalid-transition");
    }

    [Fact]
    public async Task Expiry_WithDefault_ResumesTheTaskWithTheDefaultAnswer()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var lease = await agent.StartTaskAsync(Org);
        var id = (await AskAsync(agent, lease, new { question = "Deploy?", expiresInSeconds = 1, onExpiry = "default", defaultAnswer = "skip deploy" })).Str("id");

        var waited = await agent.GetAsync(Org.Api($"clarifications/{id}?waitSeconds=50")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("expired", "skip deploy"), (waited.Str("status"), waited.Str("answer")));
        // An expiry is never recorded as a person's answer.
        Assert.True(waited.IsNull("answeredBy") && waited.IsNull("answeredVia") && waited.IsNull("answeredByName"));
        await agent.WaitForStatusAsync(Org, lease.TaskId, "running");
        await agent.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token }).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Complete_WhileAwaitingResponse_Answers409()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var lease = await agent.StartTaskAsync(Org);
        await AskAsync(agent, lease, new { question = "Wait for me" });

        await agent.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token }).ExpectProblemAsync(HttpStatusCode.Conflict, "invalid-transition");
        await AskAsync(agent, lease, new { question = "A second question?" }, HttpStatusCode.Conflict);
        Assert.Equal("awaiting_response", (await agent.GetTaskAsync(Org, lease.TaskId)).Str("status"));
    }

    [Fact]
    public async Task CancelTask_CancelsItsPendingClarification()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var lease = await agent.StartTaskAsync(Org);
        var id = (await AskAsync(agent, lease, new { question = "Still needed?" })).Str("id");

        var cancelled = await agent.PostAsync(Org.Api($"tasks/{lease.TaskId}/cancel"), null).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("cancelled", cancelled.Str("status"));
        Assert.Equal("cancelled", (await agent.GetAsync(Org.Api($"clarifications/{id}")).ExpectAsync(HttpStatusCode.OK)).Str("status"));
        await agent.PostAsJsonAsync(Org.Api($"clarifications/{id}/answer"), new { answer = "late" }).ExpectProblemAsync(HttpStatusCode.Conflict, "not-pending");
        Assert.Equal("cancelled", (await agent.GetTaskAsync(Org, lease.TaskId)).Str("status"));
    }

    [Fact]
    public async Task Ask_WithAStaleLease_Answers409()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var lease = await agent.StartTaskAsync(Org);
        await agent.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/clarifications"), new { leaseToken = "cll_not-the-lease", question = "?" })
            .ExpectProblemAsync(HttpStatusCode.Conflict, "stale-lease");
        Assert.Equal("running", (await agent.GetTaskAsync(Org, lease.TaskId)).Str("status"));
    }

    [Fact]
    public async Task Answer_ByAViewer_Answers403_AndTheQuestionStaysPending()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        using var viewer = Host.CreateClient(Org.Keys["viewer"]);
        var lease = await agent.StartTaskAsync(Org);
        var id = (await AskAsync(agent, lease, new { question = "May a viewer answer?" })).Str("id");

        await viewer.PostAsJsonAsync(Org.Api($"clarifications/{id}/answer"), new { answer = "yes" }).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        Assert.Equal("pending", (await viewer.GetAsync(Org.Api($"clarifications/{id}")).ExpectAsync(HttpStatusCode.OK)).Str("status"));
    }

    [Fact]
    public async Task Ask_OnAQueuedTask_Answers409()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var task = await agent.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "not started" });
        await agent.PostAsJsonAsync(Org.Api($"tasks/{task.Str("id")}/clarifications"), new { leaseToken = "cll_none", question = "?" })
            .ExpectProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal("queued", (await agent.GetTaskAsync(Org, task.Str("id"))).Str("status"));
    }

    private async Task<JsonElement> AskAsync(HttpClient agent, Lease lease, object body, HttpStatusCode expected = HttpStatusCode.Created)
    {
        var request = JsonSerializer.SerializeToNode(body, JsonSerializerOptions.Web)!.AsObject();
        request["leaseToken"] = lease.Token;
        var pending = agent.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/clarifications"), request);
        return expected == HttpStatusCode.Created ? await pending.ExpectAsync(expected) : await pending.ExpectProblemAsync(expected);
    }
}

public sealed class SqliteClarificationTests(SqliteHostFixture fixture) : ClarificationTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresClarificationTests(PostgresHostFixture fixture) : ClarificationTests(fixture), IClassFixture<PostgresHostFixture>;
