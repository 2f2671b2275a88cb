using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Tests.Features.Stream;
using Clarity.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Clarity.Tests.Hosting;

/// <summary>
/// PostgreSQL: two server processes on one database elect one leader (the <c>clarity_leader</c> gauge says which).
/// When the leader is killed with SIGKILL, the other node takes over within seconds, and the leader-only work really
/// runs there: the outbox is sequenced (events reach the survivor's stream clients) and expired leases are swept.
/// (SQLite has one node, which always leads.)
/// </summary>
public sealed class LeadershipTests(ITestOutputHelper output)
{
    /// <summary>A generous bound on a failover: the survivor retries the lock every second.</summary>
    private static readonly TimeSpan s_takeover = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task LeaderKilled_OtherNodeTakesOver_AndSequencesEventsToItsStreamClients()
    {
        await using var pair = await NodePair.StartAsync(output);
        using var client = ClarityHost.ClientFor(pair.Survivor.BaseAddress, pair.MemberKey);
        await using var stream = await StreamSocket.ConnectAsync(pair.Survivor.BaseAddress, "acme", pair.MemberKey);
        await stream.SubscribeAsync(["tasks"]);

        // While the leader lives, a task created on the survivor reaches the survivor's stream (the leader sequences it).
        var before = await CreateTaskAsync(client, "before the kill");
        var beforeId = (await stream.NextAsync(m => m.IsTaskEvent(before), "the task created before the kill")).Id();

        // Tasks created right after the kill may commit while nobody leads: they wait, unsequenced, for the new leader.
        await pair.KillLeaderAsync();
        var created = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            created.Add(await CreateTaskAsync(client, $"after the kill {i}"));
        }

        await pair.WaitForSurvivorToLeadAsync();
        created.Add(await CreateTaskAsync(client, "after the takeover"));

        var ids = new List<long>();
        var seen = new List<string>();
        await stream.ReadUntilAsync(m =>
        {
            if (m.IsEvent("task") && created.Contains(m.GetProperty("data").Str("taskId")))
            {
                seen.Add(m.GetProperty("data").Str("taskId"));
                ids.Add(m.Id());
            }

            return seen.Count == created.Count;
        }, "every task created after the kill, on the survivor's stream");

        // In creation order, each once, numbered on from the last id the dead leader gave out, without a gap.
        Assert.Equal(created, seen);
        Assert.Equal(Enumerable.Range(1, created.Count).Select(i => beforeId + i), ids);
    }

    [Fact]
    public async Task LeaderKilled_OtherNodeTakesOver_AndRequeuesTasksWhoseLeasesExpired()
    {
        await using var pair = await NodePair.StartAsync(output);
        using var client = ClarityHost.ClientFor(pair.Survivor.BaseAddress, pair.MemberKey);
        await using var stream = await StreamSocket.ConnectAsync(pair.Survivor.BaseAddress, "acme", pair.MemberKey);
        await stream.SubscribeAsync(["tasks"]);
        var queue = Work.Unique("failover");

        // One task is checked out while the old leader leads, with a lease that should end after it is gone; the other
        // is checked out once it is dead, so that nobody but the survivor can sweep it.
        var before = await CreateTaskAsync(client, "leased before the kill", queue);
        await CheckoutAsync(client, queue, before, leaseSeconds: 5, attempt: 1);
        await pair.KillLeaderAsync();
        var after = await CreateTaskAsync(client, "leased after the kill", queue);
        await CheckoutAsync(client, queue, after, leaseSeconds: 1, attempt: 1);
        await pair.WaitForSurvivorToLeadAsync();

        // The survivor's sweeper puts both back in their queue, and the stream says so.
        var requeued = new Dictionary<string, JsonElement>();
        await stream.ReadUntilAsync(m =>
        {
            if (m.IsEvent("task") && m.GetProperty("data") is var data && data.Str("status") == "queued" && data.Int("attempts") == 1)
            {
                requeued[data.Str("taskId")] = data;
            }

            return requeued.ContainsKey(before) && requeued.ContainsKey(after);
        }, "the requeue of both tasks whose leases expired");
        foreach (var id in new[] { before, after })
        {
            Assert.True(requeued[id].IsNull("agentId"), requeued[id].ToString());
            var task = await client.GetAsync($"api/v1/orgs/acme/tasks/{id}").ExpectAsync(HttpStatusCode.OK);
            Assert.Equal(("queued", 1), (task.Str("status"), task.Int("attempts")));

            // And it can be checked out again, for a second attempt.
            await CheckoutAsync(client, queue, id, leaseSeconds: 60, attempt: 2);
        }
    }

    private static async Task CheckoutAsync(HttpClient client, string queue, string id, int leaseSeconds, int attempt)
    {
        var lease = await client.PostAsJsonAsync("api/v1/orgs/acme/work/checkout", new { agent = Work.Unique("agent"), queues = new[] { queue }, taskId = id, leaseSeconds })
            .ExpectAsync(HttpStatusCode.OK);
        Assert.Equal((id, attempt), (lease.GetProperty("task").Str("id"), lease.GetProperty("task").Int("attempts")));
    }

    private static async Task<string> CreateTaskAsync(HttpClient client, string title, string queue = "failover") =>
        (await client.PostAsJsonAsync("api/v1/orgs/acme/tasks", new { queue, title }).ExpectAsync(HttpStatusCode.Created)).Str("id");

    /// <summary>Reads this node's <c>clarity_leader</c> gauge: 1 while it leads, 0 otherwise; null when the node does not answer.</summary>
    private static async Task<double?> LeaderGaugeAsync(ServerProcess node)
    {
        using var http = new HttpClient { BaseAddress = node.BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            var text = await http.GetStringAsync("metrics");
            return PrometheusScrape.Parse(text).TryGetValue("clarity_leader", out var family) ? family.Value("clarity_leader") : null;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>Two nodes on one fresh PostgreSQL database, org acme set up, and which of them leads.</summary>
    private sealed class NodePair : IAsyncDisposable
    {
        private readonly ITestOutputHelper _output;
        private readonly List<string> _directories;
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();

        private NodePair(ITestOutputHelper output, List<string> directories, ServerProcess leader, ServerProcess survivor, string memberKey)
        {
            _output = output;
            _directories = directories;
            Leader = leader;
            Survivor = survivor;
            MemberKey = memberKey;
        }

        public ServerProcess Leader { get; }

        public ServerProcess Survivor { get; }

        public string MemberKey { get; }

        public static async Task<NodePair> StartAsync(ITestOutputHelper output)
        {
            var database = await TestDatabases.CreatePostgresAsync();
            var directories = new List<string> { TestDatabases.NewTempDirectory(), TestDatabases.NewTempDirectory() };

            // Started together (the migrator serialises them): either may win the election.
            var keyRing = ServerProcess.SharedKeyRing();
            var starting = directories.Select(d => ServerProcess.StartAsync(d, database, keyRing)).ToList();
            var nodes = new List<ServerProcess>();
            try
            {
                await Task.WhenAll(starting).ContinueWith(_ => { }, TaskScheduler.Default);
                nodes.AddRange(starting.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
                await Task.WhenAll(starting);

                // Exactly one of the two leads, and its gauge says so (the other's says 0).
                double?[] gauges = [];
                var deadline = DateTime.UtcNow + s_takeover;
                while (DateTime.UtcNow < deadline)
                {
                    gauges = await Task.WhenAll(nodes.Select(LeaderGaugeAsync));
                    if (gauges.Count(g => g == 1) == 1 && gauges.Count(g => g == 0) == 1 && nodes[Array.IndexOf(gauges, 1)].Printed("This node now leads"))
                    {
                        break;
                    }

                    await Task.Delay(200);
                }

                Assert.True(gauges.Count(g => g == 1) == 1 && gauges.Count(g => g == 0) == 1,
                    $"Expected one leader and one follower; clarity_leader reads {string.Join(", ", gauges)}.{Environment.NewLine}{nodes[0].OutputTail}{Environment.NewLine}{nodes[1].OutputTail}");
                var leader = nodes[Array.IndexOf(gauges, 1)];
                var survivor = nodes[Array.IndexOf(gauges, 0)];
                Assert.True(leader.Printed("This node now leads"), leader.OutputTail);
                Assert.False(survivor.Printed("This node now leads"), survivor.OutputTail);
                var memberKey = await ServerProcess.SetupAsync(leader.BaseAddress, "leadership");
                return new NodePair(output, directories, leader, survivor, memberKey);
            }
            catch
            {
                foreach (var node in nodes)
                {
                    await node.DisposeAsync();
                }

                directories.ForEach(TestDatabases.DeleteDirectory);
                throw;
            }
        }

        public async Task KillLeaderAsync()
        {
            await Leader.KillAsync();
            _output.WriteLine($"{_clock.Elapsed}: SIGKILL to the leader");
        }

        /// <summary>Polls the survivor's gauge until it leads; fails after a generous bound, never on how long it took.</summary>
        public async Task WaitForSurvivorToLeadAsync()
        {
            var deadline = DateTime.UtcNow + s_takeover;
            // The gauge, and the line in its log (the console logger writes a moment after the term begins).
            while (await LeaderGaugeAsync(Survivor) != 1 || !Survivor.Printed("This node now leads"))
            {
                Assert.True(DateTime.UtcNow < deadline, $"The survivor did not take over within {s_takeover}:{Environment.NewLine}{Survivor.OutputTail}");
                await Task.Delay(100);
            }

            _output.WriteLine($"{_clock.Elapsed}: the survivor leads");
        }

        public async ValueTask DisposeAsync()
        {
            await Survivor.DisposeAsync();
            await Leader.DisposeAsync();
            _directories.ForEach(TestDatabases.DeleteDirectory);
        }
    }
}
