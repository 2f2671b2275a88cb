using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Tasks;

/// <summary>
/// Several stateless nodes on one PostgreSQL database: claims stay exclusive across nodes, and a node's waiters
/// hear about work and answers that arrive through another node. (SQLite is the one-machine mode.)
/// </summary>
public sealed class PostgresMultiNodeTests : IAsyncLifetime
{
    private ClarityHost _first = null!;
    private ClarityHost _second = null!;
    private OrgSession _org = null!;

    public async Task InitializeAsync()
    {
        _first = await ClarityHost.StartAsync(Backend.Postgres);
        _second = await ClarityHost.StartNodeAsync(_first);
        _org = await _first.SetupAsync();
    }

    public async Task DisposeAsync()
    {
        await _second.DisposeAsync();
        await _first.DisposeAsync();
    }

    [Fact]
    public async Task Checkout_ByAgentsOnTwoNodes_NeverHandsOutATaskTwice()
    {
        const int Tasks = 40;
        var queue = Work.Unique("q");
        using var creator = _first.CreateClient(_org.MemberKey);
        var created = new HashSet<string>();
        for (var i = 0; i < Tasks; i++)
        {
            created.Add((await creator.CreateTaskAsync(_org, new { queue, title = $"t{i}" })).Str("id"));
        }

        var handedOut = new ConcurrentBag<string>();
        var deadline = DateTimeOffset.UtcNow.AddSeconds(90);
        var agents = Enumerable.Range(0, 8).Select(n => Task.Run(async () =>
        {
            using var client = (n % 2 == 0 ? _first : _second).CreateClient(_org.MemberKey);
            while (handedOut.Count < Tasks && DateTimeOffset.UtcNow < deadline)
            {
                using var response = await client.CheckoutAsync(_org, $"{queue}-agent-{n}", queue);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    handedOut.Add((await response.ReadJsonAsync()).GetProperty("task").Str("id"));
                }
                else
                {
                    Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
                }
            }
        })).ToList();
        await Task.WhenAll(agents);

        Assert.Equal(handedOut.Count, handedOut.Distinct().Count());
        Assert.Equal(created, handedOut.ToHashSet());
    }

    [Fact]
    public async Task Checkout_WaitingOnOneNode_ReceivesATaskCreatedOnTheOther()
    {
        var queue = Work.Unique("q");
        var agent = Work.Unique("agent");
        using var waiterClient = _second.CreateClient(_org.MemberKey);
        using var creator = _first.CreateClient(_org.MemberKey);

        var waiting = waiterClient.CheckoutAsync(_org, agent, queue, waitSeconds: 50);
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (await creator.FindAgentAsync(_org, agent) is null)
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, "The waiting checkout never registered its agent.");
            await Task.Delay(20);
        }

        var task = await creator.CreateTaskAsync(_org, new { queue, title = "cross-node" });
        Assert.Equal(task.Str("id"), (await waiting.ExpectAsync(HttpStatusCode.OK)).GetProperty("task").Str("id"));
    }

    [Fact]
    public async Task Clarification_WaitingOnOneNode_ReceivesAnAnswerGivenOnTheOther()
    {
        using var agent = _second.CreateClient(_org.MemberKey);
        using var person = _first.CreateClient(_org.OwnerToken);
        var lease = await agent.StartTaskAsync(_org);
        var question = await agent.PostAsJsonAsync(_org.Api($"tasks/{lease.TaskId}/clarifications"), new { leaseToken = lease.Token, question = "Which?" })
            .ExpectAsync(HttpStatusCode.Created);

        var waiting = agent.GetAsync(_org.Api($"clarifications/{question.Str("id")}?waitSeconds=50"));
        await person.PostAsJsonAsync(_org.Api($"clarifications/{question.Str("id")}/answer"), new { answer = "that one" }).ExpectAsync(HttpStatusCode.OK);

        var answered = await waiting.ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("answered", "that one"), (answered.Str("status"), answered.Str("answer")));
    }
}
