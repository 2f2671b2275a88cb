using System.Collections.Concurrent;
using System.Data.Common;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Clarity.Tests.Infrastructure;
using Dapper;
using Xunit;

namespace Clarity.Tests.Features.Workflows;

/// <summary>
/// A workflow run survives SIGKILL: the real server runs as a child process, agents work a fan-out/fan-in run, the
/// server is killed in the middle of it and started again on the same data. No step is dispatched twice (each step has
/// exactly as many tasks as attempts), none is lost (the run succeeds), and every acknowledged completion stands.
/// </summary>
public abstract class WorkflowCrashTests(Backend backend)
{
    private const int Branches = 40;

    [Fact]
    public async Task KillDashNine_MidFanOut_NoStepIsDispatchedTwice_NoneIsLost_AndTheRunSucceedsAfterTheRestart()
    {
        var dataDirectory = TestDatabases.NewTempDirectory();
        var database = backend == Backend.Postgres ? await TestDatabases.CreatePostgresAsync() : null;
        var acknowledged = new ConcurrentBag<string>();
        string runId;
        string memberKey;
        try
        {
            await using (var first = await ServerProcess.StartAsync(dataDirectory, database))
            {
                (var ownerToken, memberKey) = await ServerProcess.SetupOrgAsync(first.BaseAddress, "crash");
                using var owner = ClarityHost.ClientFor(first.BaseAddress, ownerToken);
                var yaml = new StringBuilder("name: crash-fan\nsteps:\n  - { id: start, kind: task, queue: crash, title: Start }\n");
                for (var i = 0; i < Branches; i++)
                {
                    yaml.Append($"  - {{ id: p{i}, kind: task, queue: crash, title: P{i}, needs: [start], retry: {{ attempts: 5, backoffSeconds: 0 }} }}\n");
                }

                yaml.Append("  - { id: merge, kind: task, queue: crash, title: Merge, needs: [" + string.Join(", ", Enumerable.Range(0, Branches).Select(i => $"p{i}")) + "] }\n");
                await owner.PostAsync("api/v1/orgs/acme/workflows", new StringContent(yaml.ToString(), Encoding.UTF8, new MediaTypeHeaderValue("application/yaml")))
                    .ExpectAsync(HttpStatusCode.Created);
                using var member = ClarityHost.ClientFor(first.BaseAddress, memberKey);
                runId = (await member.PostAsJsonAsync("api/v1/orgs/acme/workflows/crash-fan/runs", new { input = new { } }).ExpectAsync(HttpStatusCode.Created)).Str("id");

                // Agents work until a third of the branches are acknowledged, then the server dies under them.
                using var stop = new CancellationTokenSource();
                var agents = Enumerable.Range(0, 4).Select(a => AgentLoopAsync(first.BaseAddress, memberKey, $"a{a}", acknowledged, stop.Token)).ToList();
                var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
                while (acknowledged.Count < Branches / 3 && DateTimeOffset.UtcNow < deadline)
                {
                    await Task.Delay(20);
                }

                Assert.True(acknowledged.Count >= Branches / 3, "The agents made no progress before the crash.\n" + first.OutputTail);
                await first.KillAsync();
                await stop.CancelAsync();
                await Task.WhenAll(agents);
            }

            await using var second = await ServerProcess.StartAsync(dataDirectory, database);
            using (var stop = new CancellationTokenSource())
            {
                var agents = Enumerable.Range(0, 4).Select(a => AgentLoopAsync(second.BaseAddress, memberKey, $"b{a}", acknowledged, stop.Token)).ToList();
                using var member = ClarityHost.ClientFor(second.BaseAddress, memberKey);
                var deadline = DateTimeOffset.UtcNow.AddSeconds(120);
                JsonElement run;
                while (true)
                {
                    run = await member.GetAsync($"api/v1/orgs/acme/runs/{runId}").ExpectAsync(HttpStatusCode.OK);
                    if (run.Str("status") != "running" || DateTimeOffset.UtcNow > deadline)
                    {
                        break;
                    }

                    await Task.Delay(200);
                }

                await stop.CancelAsync();
                await Task.WhenAll(agents);
                Assert.True(run.Str("status") == "succeeded", $"The run did not succeed after the restart: {run}\n{second.OutputTail}");

                // Exactly as many tasks per step as the step's attempts, all of them final; the merge ran once.
                await using DbConnection connection = database is null
                    ? new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDirectory, "clarity.db")};Mode=ReadOnly;Pooling=False")
                    : new Npgsql.NpgsqlConnection(database);
                await connection.OpenAsync();
                var tasks = (await connection.QueryAsync<(string StepId, string Status, string Id)>(
                    "SELECT step_id, status, CAST(id AS TEXT) FROM tasks WHERE LOWER(CAST(run_id AS TEXT)) = @runId", new { runId = runId.ToLowerInvariant() })).ToList();
                var byStep = tasks.GroupBy(t => t.StepId).ToDictionary(g => g.Key, g => g.ToList());
                foreach (var step in run.GetProperty("steps").EnumerateArray())
                {
                    var id = step.Str("id");
                    Assert.Equal(step.Int("attempts"), byStep.GetValueOrDefault(id)?.Count ?? 0);
                    Assert.All(byStep[id], t => Assert.Contains(t.Status, new[] { "succeeded", "failed", "cancelled" }));
                    Assert.True(byStep[id].Count(t => t.Status == "succeeded") == 1, $"Step {id} ({step}) has tasks {string.Join(", ", byStep[id])}");
                }

                Assert.Single(byStep["merge"]);
                var succeeded = tasks.Where(t => t.Status == "succeeded").Select(t => t.Id).ToHashSet(StringComparer.OrdinalIgnoreCase);
                Assert.All(acknowledged, id => Assert.Contains(id, succeeded));
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            TestDatabases.DeleteDirectory(dataDirectory);
        }
    }

    /// <summary>A no-op agent: checks out a task of the run's queue (short leases, so tasks in flight at the crash come back), completes it, repeats.</summary>
    private static async Task AgentLoopAsync(Uri baseAddress, string key, string name, ConcurrentBag<string> acknowledged, CancellationToken stop)
    {
        using var client = ClarityHost.ClientFor(baseAddress, key);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                using var checkout = await client.PostAsJsonAsync("api/v1/orgs/acme/work/checkout",
                    new { agent = name, queues = new[] { "crash" }, waitSeconds = 1, leaseSeconds = 2 }, stop);
                if (checkout.StatusCode != HttpStatusCode.OK)
                {
                    continue;
                }

                var lease = await checkout.Content.ReadFromJsonAsync<JsonElement>(stop);
                var id = lease.GetProperty("task").Str("id");
                using var complete = await client.PostAsJsonAsync($"api/v1/orgs/acme/tasks/{id}/complete", new { leaseToken = lease.Str("leaseToken"), output = new { by = name } }, stop);
                if (complete.StatusCode == HttpStatusCode.OK)
                {
                    acknowledged.Add(id);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
            {
                // The server died under us (or we were told to stop): the unacknowledged call may or may not have happened.
                if (stop.IsCancellationRequested)
                {
                    return;
                }

                await Task.Delay(50, CancellationToken.None);
            }
        }
    }
}

public sealed class SqliteWorkflowCrashTests() : WorkflowCrashTests(Backend.Sqlite);

public sealed class PostgresWorkflowCrashTests() : WorkflowCrashTests(Backend.Postgres);
