using System.Diagnostics;
using System.Text.Json;
using Clarity.Bench.Harness;
using Npgsql;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// #5: the same job shape as graphile-worker, on the same PostgreSQL server in the same run.
/// graphile-worker: bench.js adds N jobs (16 at a time), then one worker with concurrency 16 completes them.
/// Clarity: N tasks are created over HTTP by 16 concurrent producers, then 16 agents drain the queue through the
/// claim path (POST /work/checkout → POST /tasks/{id}/complete) until checkout answers 204.
/// </summary>
public static class PeerBench
{
    public const string Name = "5. Side by side with graphile-worker";
    private const int Concurrency = 16;
    private const string Queue = "peer";

    public static async Task<(double Add, double Complete, double EndToEnd)?> RunGraphileAsync(BenchOptions options, Report report)
    {
        if (options.GraphileDirectory is null || options.Postgres is null)
        {
            Console.WriteLine("    (graphile-worker skipped: needs --graphile <dir> and --postgres)");
            return null;
        }

        var database = await BenchServer.CreatePostgresDatabaseAsync(options.Postgres, "graphile_bench");
        var cs = new NpgsqlConnectionStringBuilder(database);
        var url = $"postgres://{Uri.EscapeDataString(cs.Username ?? "postgres")}{(string.IsNullOrEmpty(cs.Password) ? "" : ":" + Uri.EscapeDataString(cs.Password))}@{cs.Host}:{cs.Port}/{cs.Database}";
        var start = new ProcessStartInfo("node", ["bench.js", url, options.PeerJobs.ToString(System.Globalization.CultureInfo.InvariantCulture), Concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            WorkingDirectory = options.GraphileDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start node.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"graphile-worker bench failed ({process.ExitCode}): {await stderr}");
        }

        var line = (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries).Last(l => l.TrimStart().StartsWith('{'));
        using var doc = JsonDocument.Parse(line);
        var r = doc.RootElement;
        var add = r.GetProperty("addPerSecond").GetDouble();
        var complete = r.GetProperty("completePerSecond").GetDouble();
        var endToEnd = r.GetProperty("endToEndPerSecond").GetDouble();
        var version = $"graphile-worker {r.GetProperty("version").GetString()} on node {r.GetProperty("node").GetString()}";
        report.Environment["graphileWorker"] = version;
        report.Add(Name, Backend.Postgres, "graphile-worker: add jobs/s", add, "/s", notes: $"{options.PeerJobs:N0} jobs, addJob 16 at a time; {version}");
        report.Add(Name, Backend.Postgres, "graphile-worker: complete jobs/s", complete, "/s", notes: "run() with concurrency 16, no-op task");
        report.Add(Name, Backend.Postgres, "graphile-worker: end to end jobs/s", endToEnd, "/s", notes: "N / (add time + complete time)");
        return (add, complete, endToEnd);
    }

    public static async Task RunClarityAsync(BenchServer server, BenchOptions options, Report report, (double Add, double Complete, double EndToEnd)? peer)
    {
        var api = new AgentApi(server.Http);
        var jobs = options.PeerJobs;
        var b = server.Backend;

        var next = -1;
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < jobs)
            {
                await api.CreateTaskAsync(Queue, $"job {i}");
            }
        })));
        var addSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;

        long done = 0;
        var checkout = new Samples();
        var complete = new Samples();
        started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(agent => Task.Run(async () =>
        {
            while (true)
            {
                var t0 = Stopwatch.GetTimestamp();
                if (await api.CheckoutAsync($"peer-agent-{agent}", Queue, 0) is not { } claimed)
                {
                    break;
                }

                var t1 = Stopwatch.GetTimestamp();
                checkout.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
                await api.CompleteAsync(claimed);
                complete.AddSince(t1);
                Interlocked.Increment(ref done);
            }
        })));
        var completeSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        if (done != jobs)
        {
            throw new InvalidOperationException($"Clarity completed {done} of {jobs} tasks.");
        }

        var add = jobs / addSeconds;
        var drain = jobs / completeSeconds;
        var endToEnd = jobs / (addSeconds + completeSeconds);
        string Ratio(double ours, double theirs) => peer is null ? "" : $"{ours / theirs:F1}× graphile-worker";
        var isPeerRun = peer is not null && b == Backend.Postgres;
        report.Add(Name, b, "Clarity: create tasks/s", add, "/s", notes: $"{jobs:N0} tasks, 16 producers over HTTP; {(isPeerRun ? Ratio(add, peer!.Value.Add) : "")}");
        report.Add(Name, b, "Clarity: checkout + complete tasks/s", drain, "/s", isPeerRun ? "≥ 2× graphile-worker" : null, isPeerRun ? drain >= 2 * peer!.Value.Complete : null,
            $"16 agents; {(isPeerRun ? Ratio(drain, peer!.Value.Complete) : "")}; checkout p50 {Report.Format(checkout.Percentile(50))} ms, complete p50 {Report.Format(complete.Percentile(50))} ms");
        report.Add(Name, b, "Clarity: end to end tasks/s", endToEnd, "/s", isPeerRun ? "≥ 2× graphile-worker" : null, isPeerRun ? endToEnd >= 2 * peer!.Value.EndToEnd : null,
            isPeerRun ? Ratio(endToEnd, peer!.Value.EndToEnd) : "");
    }
}
