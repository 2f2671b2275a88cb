using System.Net;
using System.Net.Http.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Stream;

/// <summary>
/// PostgreSQL: two server processes on one database. An event raised on one node reaches subscribers on both,
/// and ids are cluster-wide: increasing, in the same order everywhere, with no gaps even when both nodes write at once.
/// </summary>
public sealed class StreamAcrossNodesTests
{
    [Fact]
    public async Task TwoNodes_SubscribersOnEachReceiveEveryTask_InOneIdOrderWithoutGaps()
    {
        const int TasksPerNode = 25;
        var database = await TestDatabases.CreatePostgresAsync();
        var dirA = TestDatabases.NewTempDirectory();
        var dirB = TestDatabases.NewTempDirectory();
        try
        {
            var keyRing = ServerProcess.SharedKeyRing();
            await using var a = await ServerProcess.StartAsync(dirA, database, keyRing);
            await using var b = await ServerProcess.StartAsync(dirB, database, keyRing);
            var key = await ServerProcess.SetupAsync(a.BaseAddress, "nodes");

            await using var onA = await StreamSocket.ConnectAsync(a.BaseAddress, "acme", key);
            await using var onB = await StreamSocket.ConnectAsync(b.BaseAddress, "acme", key);
            await onA.SubscribeAsync(["tasks"]);
            await onB.SubscribeAsync(["tasks"]);

            // One task created on A reaches the subscriber on B.
            using var clientA = ClarityHost.ClientFor(a.BaseAddress, key);
            using var clientB = ClarityHost.ClientFor(b.BaseAddress, key);
            var single = (await clientA.PostAsJsonAsync("api/v1/orgs/acme/tasks", new { queue = "nodes", title = "from A" }).ExpectAsync(HttpStatusCode.Created)).Str("id");
            await onB.NextAsync(m => m.IsTaskEvent(single), "A's task on B");
            await onA.NextAsync(m => m.IsTaskEvent(single), "A's task on A");

            // Both nodes create tasks at once.
            var created = await Task.WhenAll(
                Enumerable.Range(0, TasksPerNode).Select(i => CreateAsync(clientA, $"A{i}"))
                    .Concat(Enumerable.Range(0, TasksPerNode).Select(i => CreateAsync(clientB, $"B{i}"))));
            var expected = created.ToHashSet();

            async Task<List<long>> CollectAsync(StreamSocket socket)
            {
                var seen = new HashSet<string>();
                var ids = new List<long>();
                await socket.ReadUntilAsync(m =>
                {
                    if (m.Str("type") == "event" && m.Str("event") == "task" && expected.Contains(m.GetProperty("data").Str("taskId")))
                    {
                        seen.Add(m.GetProperty("data").Str("taskId"));
                        ids.Add(m.Id());
                    }

                    return seen.Count == expected.Count;
                }, "every task of both nodes");
                return ids;
            }

            var idsOnA = await CollectAsync(onA);
            var idsOnB = await CollectAsync(onB);
            Assert.Equal(2 * TasksPerNode, idsOnB.Count);
            Assert.Equal(idsOnB, idsOnA);
            Assert.Equal(Enumerable.Range(0, idsOnB.Count).Select(i => idsOnB[0] + i), idsOnB);
        }
        finally
        {
            TestDatabases.DeleteDirectory(dirA);
            TestDatabases.DeleteDirectory(dirB);
        }
    }

    [Fact]
    public async Task ListenConnectionsLost_EventsCommittedMeanwhileAreSequencedAndReadFromTheOutbox_InOrder()
    {
        await using var host = await ClarityHost.StartAsync(Backend.Postgres);
        var org = await host.SetupAsync("acme");
        using var client = host.CreateClient(org.MemberKey);
        await using var socket = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, org.MemberKey);
        await socket.SubscribeAsync(["tasks"]);

        // Cut the node's LISTEN connections (the feed's, the sequencer's and the outbox consumers': webhook and notification
        // fan-out, the Slack updater), then raise events while they reconnect:
        // their NOTIFYs reach nobody, and the events are still sequenced and read from the table.
        await using (var admin = new Npgsql.NpgsqlConnection(host.PostgresConnectionString))
        {
            await admin.OpenAsync();
            await using var kill = new Npgsql.NpgsqlCommand(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND query IN ('LISTEN clarity_events', 'LISTEN clarity_outbox')", admin);
            Assert.Equal(5L, (long)(await kill.ExecuteScalarAsync())!);
        }

        var created = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            created.Add(await StreamTests.NewTaskAsync(client, org));
        }

        var ids = new List<long>();
        var seen = new List<string>();
        await socket.ReadUntilAsync(m =>
        {
            if (m.IsEvent("task") && created.Contains(m.GetProperty("data").Str("taskId")))
            {
                seen.Add(m.GetProperty("data").Str("taskId"));
                ids.Add(m.Id());
            }

            return seen.Count == created.Count;
        }, "every task raised while LISTEN was down");
        Assert.Equal(created, seen);
        Assert.Equal(ids.Order(), ids);
    }

    private static async Task<string> CreateAsync(HttpClient client, string title) =>
        (await client.PostAsJsonAsync("api/v1/orgs/acme/tasks", new { queue = "nodes", title }).ExpectAsync(HttpStatusCode.Created)).Str("id");
}
