using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Workflows;

/// <summary>
/// The engine's invariants under real concurrency (meant for PostgreSQL, where races are real; SQLite runs them too):
/// a fan-in is dispatched exactly once when its needs finish at the same moment on two nodes, concurrent votes of
/// distinct people decide an approval once, and one person's concurrent votes count once.
/// </summary>
public abstract class WorkflowRaceTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : HostFixture
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    private async Task UploadAsync(string yaml)
    {
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        await admin.PostAsync(Org.Api("workflows"), new StringContent(yaml, Encoding.UTF8, new MediaTypeHeaderValue("application/yaml"))).ExpectAsync(HttpStatusCode.Created);
    }

    private async Task<string> StartAsync(string name, HttpClient? client = null)
    {
        using var member = Host.CreateClient(Org.MemberKey);
        return (await (client ?? member).PostAsJsonAsync(Org.Api($"workflows/{name}/runs"), new { input = new { } }).ExpectAsync(HttpStatusCode.Created)).Str("id");
    }

    [Fact]
    public async Task FanIn_WhoseNeedsFinishAtOnceOnTwoNodes_IsDispatchedExactlyOnce()
    {
        const int Branches = 24;
        await using var second = await ClarityHost.StartNodeAsync(Host);
        for (var round = 0; round < 3; round++)
        {
            var name = Work.Unique("race").ToLowerInvariant();
            var q = Work.Unique("q");
            var yaml = new StringBuilder($"name: {name}\nsteps:\n");
            for (var i = 0; i < Branches; i++)
            {
                yaml.Append($"  - {{ id: b{i}, kind: task, queue: {q}, title: B{i} }}\n");
            }

            yaml.Append($"  - {{ id: merge, kind: task, queue: {q}-merge, title: Merge, needs: [{string.Join(", ", Enumerable.Range(0, Branches).Select(i => $"b{i}"))}] }}\n");
            await UploadAsync(yaml.ToString());
            var id = await StartAsync(name);

            // Every branch is claimed first, then all are completed at once, half through each node.
            using var agent = Host.CreateClient(Org.MemberKey);
            var claimed = await agent.PostAsJsonAsync(Org.Api("work/checkout"), new { agent = "racer", queues = new[] { q }, maxTasks = Branches }).ExpectAsync(HttpStatusCode.OK);
            var leases = claimed.GetProperty("leases").EnumerateArray().ToList();
            Assert.Equal(Branches, leases.Count);
            using var onSecond = second.CreateClient(Org.MemberKey);
            var completions = leases.Select((lease, i) => (i % 2 == 0 ? agent : onSecond).PostAsJsonAsync(
                Org.Api($"tasks/{lease.GetProperty("task").Str("id")}/complete"), new { leaseToken = lease.Str("leaseToken"), output = new { i } }));
            foreach (var response in await Task.WhenAll(completions))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            var merges = await agent.PostAsJsonAsync(Org.Api("work/checkout"), new { agent = "racer", queues = new[] { q + "-merge" }, maxTasks = 10 }).ExpectAsync(HttpStatusCode.OK);
            var merge = Assert.Single(merges.GetProperty("leases").EnumerateArray());
            await agent.PostAsJsonAsync(Org.Api($"tasks/{merge.GetProperty("task").Str("id")}/complete"), new { leaseToken = merge.Str("leaseToken") }).ExpectAsync(HttpStatusCode.OK);
            var run = await agent.GetAsync(Org.Api($"runs/{id}")).ExpectAsync(HttpStatusCode.OK);
            Assert.Equal("succeeded", run.Str("status"));
            Assert.Equal(1, run.GetProperty("steps").EnumerateArray().Single(s => s.Str("id") == "merge").Int("attempts"));
        }
    }

    [Fact]
    public async Task CancelRacingCompletions_NeverFails500_AndLeavesNoOpenTaskOrStep()
    {
        const int Branches = 12;
        for (var round = 0; round < 5; round++)
        {
            var name = Work.Unique("cancel").ToLowerInvariant();
            var q = Work.Unique("q");
            var yaml = new StringBuilder($"name: {name}\nsteps:\n");
            for (var i = 0; i < Branches; i++)
            {
                yaml.Append($"  - {{ id: b{i}, kind: task, queue: {q}, title: B{i} }}\n");
            }

            yaml.Append($"  - {{ id: after, kind: task, queue: {q}, title: After, needs: [b0, b1] }}\n");
            await UploadAsync(yaml.ToString());
            var id = await StartAsync(name);
            using var agent = Host.CreateClient(Org.MemberKey);
            var claimed = await agent.PostAsJsonAsync(Org.Api("work/checkout"), new { agent = "racer", queues = new[] { q }, maxTasks = Branches }).ExpectAsync(HttpStatusCode.OK);
            var calls = claimed.GetProperty("leases").EnumerateArray().Select(lease => agent.PostAsJsonAsync(
                    Org.Api($"tasks/{lease.GetProperty("task").Str("id")}/complete"), new { leaseToken = lease.Str("leaseToken") }))
                .Append(agent.PostAsync(Org.Api($"runs/{id}/cancel"), null))
                .ToList();
            foreach (var response in await Task.WhenAll(calls))
            {
                Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict, $"{response.RequestMessage!.RequestUri}: {response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }

            var run = await agent.GetAsync(Org.Api($"runs/{id}")).ExpectAsync(HttpStatusCode.OK);
            Assert.Contains(run.Str("status"), new[] { "cancelled", "running" });
            if (run.Str("status") == "running")
            {
                // Every completion came first and the cancel found the run still going: cancel it now.
                await agent.PostAsync(Org.Api($"runs/{id}/cancel"), null).ExpectAsync(HttpStatusCode.OK);
                run = await agent.GetAsync(Org.Api($"runs/{id}")).ExpectAsync(HttpStatusCode.OK);
            }

            Assert.All(run.GetProperty("steps").EnumerateArray(), s => Assert.Contains(s.Str("status"), new[] { "succeeded", "cancelled" }));
            Assert.Equal(HttpStatusCode.NoContent, (await agent.CheckoutAsync(Org, "racer", q)).StatusCode);
        }
    }

    [Fact]
    public async Task ConcurrentVotes_OfDistinctPeople_DecideTheApprovalOnce_AndOnePersonsRepeatedVotesCountOnce()
    {
        var name = Work.Unique("vote").ToLowerInvariant();
        var q = Work.Unique("q");
        await UploadAsync($$$"""
            name: {{{name}}}
            steps:
              - { id: gate, kind: approval, votes: 3, from: tasks:respond }
              - { id: after, kind: task, queue: {{{q}}}, title: After, needs: [gate] }
            """);
        var people = new List<Person>();
        for (var i = 0; i < 5; i++)
        {
            people.Add(await Host.AddPersonAsync(Org, "member"));
        }

        var id = await StartAsync(name);
        await using var second = await ClarityHost.StartNodeAsync(Host);
        var clients = people.Select((p, i) => (i % 2 == 0 ? Host : second).CreateClient(p.Token)).ToList();
        try
        {
            // Each of five people votes twice at once: three approvals are needed, so some votes find the gate decided.
            var votes = clients.SelectMany(c => new[] { c, c }).Select(c =>
                c.PostAsJsonAsync(Org.Api($"runs/{id}/steps/gate/votes"), new { decision = "approve" }));
            var answers = await Task.WhenAll(votes);
            Assert.All(answers, a => Assert.True(a.StatusCode is HttpStatusCode.OK or HttpStatusCode.Conflict, a.StatusCode.ToString()));
            Assert.Equal(3, answers.Count(a => a.StatusCode == HttpStatusCode.OK));

            using var member = Host.CreateClient(Org.MemberKey);
            var run = await member.GetAsync(Org.Api($"runs/{id}")).ExpectAsync(HttpStatusCode.OK);
            var gate = run.GetProperty("steps").EnumerateArray().Single(s => s.Str("id") == "gate");
            Assert.Equal("succeeded", gate.Str("status"));
            var voters = gate.GetProperty("approval").GetProperty("votes").EnumerateArray().Select(v => v.Str("userId")).ToList();
            Assert.Equal(3, voters.Count);
            Assert.Equal(3, voters.Distinct().Count());
            var after = run.GetProperty("steps").EnumerateArray().Single(s => s.Str("id") == "after");
            Assert.Equal(("running", 1), (after.Str("status"), after.Int("attempts")));
        }
        finally
        {
            foreach (var c in clients)
            {
                c.Dispose();
            }
        }
    }
}

public sealed class SqliteWorkflowRaceTests(SqliteHostFixture fixture) : WorkflowRaceTests<SqliteHostFixture>(fixture);

public sealed class PostgresWorkflowRaceTests(PostgresHostFixture fixture) : WorkflowRaceTests<PostgresHostFixture>(fixture);
