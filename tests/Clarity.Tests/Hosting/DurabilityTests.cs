using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Clarity.Tests.Hosting;

/// <summary>
/// Crash safety: the real server runs as a child process under load from several clients, is killed with SIGKILL
/// in the middle of it, and is started again on the same data. Every write the server acknowledged with a 2xx
/// (tasks, log lines, answers, completions) must be there afterwards.
/// </summary>
public abstract class DurabilityTests(Backend backend, ITestOutputHelper output)
{
    private const int Workers = 4;
    private const int MaxIterationsPerWorker = 400;
    private const int LinesPerBatch = 10;

    [Fact]
    public async Task KillDashNine_DuringLoad_LosesNoAcknowledgedWrite()
    {
        var dataDirectory = TestDatabases.NewTempDirectory();
        var database = backend == Backend.Postgres ? await TestDatabases.CreatePostgresAsync() : null;
        try
        {
            var ledger = new Ledger();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            string memberKey;
            await using (var first = await ServerProcess.StartAsync(dataDirectory, database))
            {
                output.WriteLine($"{clock.Elapsed}: first server up");
                memberKey = await ServerProcess.SetupAsync(first.BaseAddress, "durability");
                using var stop = new CancellationTokenSource();
                var workers = Enumerable.Range(0, Workers).Select(w => Task.Run(() => WorkAsync(first.BaseAddress, memberKey, w, ledger, stop.Token))).ToArray();

                // Kill once enough has been acknowledged, while every worker is still busy.
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
                while (!(ledger.Answers.Count >= 8 && ledger.Completed.Count >= 4) && DateTime.UtcNow < deadline && workers.All(w => !w.IsCompleted))
                {
                    await Task.Delay(20);
                }

                Assert.True(workers.All(w => !w.IsCompleted), "A worker stopped before the kill: " + string.Join("; ", ledger.Unexpected) + first.OutputTail);
                output.WriteLine($"{clock.Elapsed}: SIGKILL after {ledger.Tasks.Count} tasks, {ledger.LogLines.Count} log lines, {ledger.Answers.Count} answers, {ledger.Completed.Count} completions");
                await first.KillAsync();
                var endings = await Task.WhenAll(workers);
                stop.Cancel();
                Assert.True(ledger.Unexpected.IsEmpty, "Unexpected answers before the kill: " + string.Join("; ", ledger.Unexpected));
                Assert.Contains(WorkerEnding.ServerGone, endings);
            }

            Assert.NotEmpty(ledger.Tasks);
            Assert.NotEmpty(ledger.LogLines);
            Assert.NotEmpty(ledger.Answers);

            await using var second = await ServerProcess.StartAsync(dataDirectory, database);
            output.WriteLine($"{clock.Elapsed}: second server up");
            using var client = ClarityHost.ClientFor(second.BaseAddress, memberKey);
            await VerifyAsync(client, ledger, second);
            output.WriteLine($"{clock.Elapsed}: every acknowledged write verified");

            // And the restarted server takes new work.
            await client.PostAsJsonAsync("api/v1/orgs/acme/tasks", new { title = "after the crash" }).ExpectAsync(HttpStatusCode.Created);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            TestDatabases.DeleteDirectory(dataDirectory);
        }
    }

    private static async Task VerifyAsync(HttpClient client, Ledger ledger, ServerProcess server)
    {
        foreach (var (id, title) in ledger.Tasks)
        {
            var task = await client.GetAsync($"api/v1/orgs/acme/tasks/{id}").ExpectAsync(HttpStatusCode.OK);
            Assert.Equal(title, task.GetProperty("title").GetString());
            if (ledger.Completed.ContainsKey(id))
            {
                Assert.Equal("succeeded", task.GetProperty("status").GetString());
            }
        }

        foreach (var group in ledger.LogLines.GroupBy(l => l.TaskId))
        {
            var stored = new Dictionary<long, string>();
            long after = 0;
            while (true)
            {
                var page = await client.GetAsync($"api/v1/orgs/acme/tasks/{group.Key}/logs?afterSeq={after}&limit=1000").ExpectAsync(HttpStatusCode.OK);
                foreach (var entry in page.GetProperty("entries").EnumerateArray())
                {
                    stored[entry.GetProperty("seq").GetInt64()] = entry.GetProperty("text").GetString()!;
                }

                if (!page.TryGetProperty("nextAfterSeq", out var next) || next.ValueKind != JsonValueKind.Number)
                {
                    break;
                }

                after = next.GetInt64();
            }

            foreach (var line in group)
            {
                Assert.True(stored.TryGetValue(line.Seq, out var text), $"Acknowledged log line {line.TaskId}#{line.Seq} is missing.{Environment.NewLine}{server.OutputTail}");
                Assert.Equal(line.Text, text);
            }
        }

        foreach (var (id, answer) in ledger.Answers)
        {
            var clarification = await client.GetAsync($"api/v1/orgs/acme/clarifications/{id}").ExpectAsync(HttpStatusCode.OK);
            Assert.Equal("answered", clarification.GetProperty("status").GetString());
            Assert.Equal(answer, clarification.GetProperty("answer").GetString());
        }
    }

    /// <summary>One client: create a task, check it out, log, ask, answer, log again, complete; repeat until the server dies.</summary>
    private static async Task<WorkerEnding> WorkAsync(Uri baseAddress, string key, int worker, Ledger ledger, CancellationToken stop)
    {
        using var client = ClarityHost.ClientFor(baseAddress, key);
        var queue = $"durability-{worker}";
        try
        {
            for (var i = 0; i < MaxIterationsPerWorker && !stop.IsCancellationRequested; i++)
            {
                var title = $"w{worker}-task{i}";
                var task = await PostAsync(client, "tasks", new { queue, title }, ledger);
                if (task is null)
                {
                    return WorkerEnding.Unexpected;
                }

                var id = task.Value.GetProperty("id").GetString()!;
                ledger.Tasks[id] = title;

                var lease = await PostAsync(client, "work/checkout", new { agent = $"agent-{worker}", queues = new[] { queue }, taskId = id }, ledger);
                if (lease is null)
                {
                    return WorkerEnding.Unexpected;
                }

                var token = lease.Value.GetProperty("leaseToken").GetString()!;
                if (!await AppendLogsAsync(client, id, $"{title}-before", ledger))
                {
                    return WorkerEnding.Unexpected;
                }

                var question = await PostAsync(client, $"tasks/{id}/clarifications", new { leaseToken = token, question = $"{title}?", expiresInSeconds = 3600, onExpiry = "fail" }, ledger);
                if (question is null)
                {
                    return WorkerEnding.Unexpected;
                }

                var clarificationId = question.Value.GetProperty("id").GetString()!;
                var answer = $"{title}-answer";
                if (await PostAsync(client, $"clarifications/{clarificationId}/answer", new { answer }, ledger) is null)
                {
                    return WorkerEnding.Unexpected;
                }

                ledger.Answers[clarificationId] = answer;
                if (!await AppendLogsAsync(client, id, $"{title}-after", ledger))
                {
                    return WorkerEnding.Unexpected;
                }

                if (await PostAsync(client, $"tasks/{id}/complete", new { leaseToken = token, output = new { worker, i } }, ledger) is null)
                {
                    return WorkerEnding.Unexpected;
                }

                ledger.Completed[id] = true;
            }

            return WorkerEnding.Finished;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException or JsonException)
        {
            // The server was killed under this request: whatever it had not acknowledged may or may not be stored.
            return WorkerEnding.ServerGone;
        }
    }

    private static async Task<bool> AppendLogsAsync(HttpClient client, string taskId, string prefix, Ledger ledger)
    {
        var texts = Enumerable.Range(0, LinesPerBatch).Select(j => $"{prefix}-line{j}").ToArray();
        var appended = await PostAsync(client, $"tasks/{taskId}/logs", texts.Select(text => new { text }).ToArray(), ledger);
        if (appended is null)
        {
            return false;
        }

        var first = appended.Value.GetProperty("firstSeq").GetInt64();
        Assert.Equal(first + LinesPerBatch - 1, appended.Value.GetProperty("lastSeq").GetInt64());
        for (var j = 0; j < LinesPerBatch; j++)
        {
            ledger.LogLines.Add(new AckedLine(taskId, first + j, texts[j]));
        }

        return true;
    }

    /// <summary>Posts and returns the JSON answer of a 2xx; a 4xx/5xx is recorded as unexpected and returns null.</summary>
    private static async Task<JsonElement?> PostAsync<T>(HttpClient client, string path, T body, Ledger ledger)
    {
        using var response = await client.PostAsJsonAsync($"api/v1/orgs/acme/{path}", body);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode || text.Length == 0)
        {
            ledger.Unexpected.Add($"POST {path} → {(int)response.StatusCode} {text}");
            return null;
        }

        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private enum WorkerEnding
    {
        Finished,
        ServerGone,
        Unexpected,
    }

    private sealed record AckedLine(string TaskId, long Seq, string Text);

    /// <summary>Everything the server acknowledged with a 2xx before it was killed.</summary>
    private sealed class Ledger
    {
        public ConcurrentDictionary<string, string> Tasks { get; } = new();

        public ConcurrentBag<AckedLine> LogLines { get; } = [];

        public ConcurrentDictionary<string, string> Answers { get; } = new();

        public ConcurrentDictionary<string, bool> Completed { get; } = new();

        public ConcurrentBag<string> Unexpected { get; } = [];
    }
}

public sealed class SqliteDurabilityTests(ITestOutputHelper output) : DurabilityTests(Backend.Sqlite, output);

public sealed class PostgresDurabilityTests(ITestOutputHelper output) : DurabilityTests(Backend.Postgres, output);
