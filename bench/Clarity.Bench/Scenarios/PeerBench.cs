using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Clarity.Bench.Harness;
using Hangfire;
using Hangfire.PostgreSql;
using Npgsql;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// One peer's figures: jobs/s enqueued, claimed and completed, and end to end (N / both phases' time); and, over both
/// phases, the CPU a job cost the local PostgreSQL server and the whole machine (null when not measured).
/// </summary>
public sealed record PeerFigures(string Peer, string Version, double Enqueue, double Complete, double EndToEnd)
{
    public double? PostgresMsPerJob { get; init; }

    public double? MachineMsPerJob { get; init; }

    /// <summary>These figures with the CPU a job cost, from a meter stopped where both phases ended.</summary>
    public PeerFigures WithCpu(CpuMeter cpu, int jobs) =>
        this with { PostgresMsPerJob = cpu.PostgresCpuMs / jobs, MachineMsPerJob = cpu.MachineCpuMs / jobs };
}

/// <summary>
/// #5: the same job shape in Clarity and in three job queues on PostgreSQL, on the same PostgreSQL server in the
/// same run, each on its own fresh database, one after the other. Each gets its natural path: Clarity its HTTP API,
/// the peers their own clients. Every one enqueues N jobs from 16 concurrent producers (one job per call), then
/// claims and completes them with 16 concurrent workers running a no-op job.
/// <list type="bullet">
/// <item>graphile-worker (node, bench/peers/graphile-worker/bench.js): addJob; then run() with concurrency 16.</item>
/// <item>pg-boss (node, bench/peers/pg-boss/bench.js): send; then 16 loops of fetch → complete.</item>
/// <item>Hangfire with Hangfire.PostgreSql (in this process): BackgroundJob.Enqueue; then a BackgroundJobServer
/// with 16 workers.</item>
/// <item>Clarity: POST /tasks; then 16 agents loop POST /work/checkout → POST /tasks/{id}/complete until checkout
/// answers 204.</item>
/// </list>
/// </summary>
public static class PeerBench
{
    public const string Name = "5. Side by side with graphile-worker, pg-boss and Hangfire";
    private const int Concurrency = 16;
    private const string Queue = "peer";

    /// <summary>Runs every peer that is available, each guarded: a failing peer is reported and the others still run.</summary>
    public static async Task<List<PeerFigures>> RunPeersAsync(BenchOptions options, Report report, Func<string, Func<Task>, Task> guard)
    {
        var peers = new List<PeerFigures>();
        if (options.Postgres is null)
        {
            Console.WriteLine("    (peers skipped: they need --postgres)");
            return peers;
        }

        Console.WriteLine("    graphile-worker");
        await guard("graphile-worker", async () =>
        {
            if (await RunNodePeerAsync(options.GraphileDirectory, "graphile-worker", "--graphile", "graphile_bench", options, report,
                "addJob, 16 at a time", "run() with concurrency 16") is { } f)
            {
                peers.Add(f);
            }
        });
        Console.WriteLine("    pg-boss");
        await guard("pg-boss", async () =>
        {
            if (await RunNodePeerAsync(options.PgBossDirectory, "pg-boss", "--pg-boss", "pgboss_bench", options, report,
                "send (one job per call), 16 at a time", "16 loops of fetch (1 job) → complete") is { } f)
            {
                peers.Add(f);
            }
        });
        Console.WriteLine("    Hangfire");
        await guard("Hangfire", async () => peers.Add(await RunHangfireAsync(options, report)));
        return peers;
    }

    private static async Task<PeerFigures?> RunNodePeerAsync(string? directory, string peer, string option, string databasePrefix, BenchOptions options, Report report,
        string enqueueNote, string completeNote)
    {
        if (directory is null)
        {
            Console.WriteLine($"    ({peer} skipped: needs {option} <dir>)");
            return null;
        }

        var database = await BenchServer.CreatePostgresDatabaseAsync(options.Postgres!, databasePrefix);
        var cs = new NpgsqlConnectionStringBuilder(database);
        var url = $"postgres://{Uri.EscapeDataString(cs.Username ?? "postgres")}{(string.IsNullOrEmpty(cs.Password) ? "" : ":" + Uri.EscapeDataString(cs.Password))}@{cs.Host}:{cs.Port}/{cs.Database}";
        var start = new ProcessStartInfo("node", ["bench.js", url, options.PeerJobs.ToString(CultureInfo.InvariantCulture), Concurrency.ToString(CultureInfo.InvariantCulture)])
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var cpu = new CpuMeter(postgres: await PostgresCpu.ForAsync(options.Postgres));
        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start node.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        cpu.Stop();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{peer} bench failed ({process.ExitCode}): {await stderr}");
        }

        var line = (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries).Last(l => l.TrimStart().StartsWith('{'));
        using var doc = JsonDocument.Parse(line);
        var r = doc.RootElement;
        var figures = new PeerFigures(peer, r.GetProperty("version").GetString() ?? "?",
            r.GetProperty("addPerSecond").GetDouble(), r.GetProperty("completePerSecond").GetDouble(), r.GetProperty("endToEndPerSecond").GetDouble()).WithCpu(cpu, options.PeerJobs);
        var version = $"{peer} {figures.Version} on node {r.GetProperty("node").GetString()}";
        report.Environment[peer] = version;
        AddPeerFigures(report, figures, $"{options.PeerJobs:N0} jobs, {enqueueNote}; {version}", $"{completeNote}, no-op job");
        return figures;
    }

    private static void AddPeerFigures(Report report, PeerFigures f, string enqueueNote, string completeNote)
    {
        report.Add(Name, Backend.Postgres, $"{f.Peer}: enqueue jobs/s", f.Enqueue, "/s", notes: enqueueNote);
        report.Add(Name, Backend.Postgres, $"{f.Peer}: complete jobs/s", f.Complete, "/s", notes: completeNote);
        report.Add(Name, Backend.Postgres, $"{f.Peer}: end to end jobs/s", f.EndToEnd, "/s", notes: "N / (enqueue time + complete time)");
        AddCpuFigures(report, Backend.Postgres, f);
    }

    /// <summary>
    /// What one job cost PostgreSQL and the whole machine over both phases, when PostgreSQL runs on this machine. For the
    /// node peers the window also holds node's start and the peer's own schema setup, a fraction of a second against the
    /// jobs' tens of seconds.
    /// </summary>
    private static void AddCpuFigures(Report report, Backend backend, PeerFigures f)
    {
        if (f.PostgresMsPerJob is { } postgres)
        {
            report.Add(Name, backend, $"{f.Peer}: PostgreSQL CPU per job", postgres, "ms",
                notes: "enqueue + complete; every process of the local PostgreSQL server (/proc: the postmaster, its children, and those reaped)");
        }

        if (f.MachineMsPerJob is { } machine)
        {
            report.Add(Name, backend, $"{f.Peer}: machine CPU per job", machine, "ms",
                notes: $"enqueue + complete; every process on the machine (/proc/stat); at this cost {Environment.ProcessorCount} cores allow ≈ {Report.Format(Environment.ProcessorCount * 1000 / machine)} jobs/s");
        }
    }

    /// <summary>
    /// Hangfire 1.8 with Hangfire.PostgreSql, set up as its documentation recommends (compatibility level 1.8, simple
    /// assembly names, recommended serializer settings), storage options at their defaults. Enqueue: 16 producer
    /// threads call BackgroundJob.Enqueue (synchronous, so each gets its own thread). Complete: a BackgroundJobServer
    /// with WorkerCount 16; the phase ends when every job is in the Succeeded state in the database.
    /// </summary>
    private static async Task<PeerFigures> RunHangfireAsync(BenchOptions options, Report report)
    {
        var database = await BenchServer.CreatePostgresDatabaseAsync(options.Postgres!, "hangfire_bench");
        var storageOptions = new PostgreSqlStorageOptions { PrepareSchemaIfNecessary = true };
        GlobalConfiguration.Configuration
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings()
            .UsePostgreSqlStorage(c => c.UseNpgsqlConnection(database), storageOptions);
        HangfireJobs.Reset();
        var jobs = options.PeerJobs;

        var next = -1;
        var cpu = new CpuMeter(postgres: await PostgresCpu.ForAsync(options.Postgres));
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => Task.Factory.StartNew(() =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < jobs)
            {
                BackgroundJob.Enqueue(() => HangfireJobs.NoOp(i));
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)));
        var enqueueSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;

        started = Stopwatch.GetTimestamp();
        long succeeded;
        double completeSeconds;
        using (new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = Concurrency }))
        {
            // The job runs before its Succeeded state commits: wait for the jobs first, then for the database.
            var deadline = Stopwatch.GetTimestamp() + (Stopwatch.Frequency * 600);
            while (HangfireJobs.Done < jobs && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(10);
            }

            await using var connection = new NpgsqlConnection(database);
            await connection.OpenAsync();
            await using var count = new NpgsqlCommand("SELECT count(*) FROM hangfire.job WHERE statename = 'Succeeded'", connection);
            while ((succeeded = (long)(await count.ExecuteScalarAsync())!) < jobs && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(10);
            }

            // Before the server's shutdown, which is not part of the work.
            completeSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            cpu.Stop();
        }

        if (succeeded != jobs)
        {
            throw new InvalidOperationException($"Hangfire ran {HangfireJobs.Done} of {jobs} jobs; {succeeded} succeeded in the database.");
        }

        var versions = $"{Informational(typeof(BackgroundJob).Assembly)} (Hangfire.PostgreSql {Informational(typeof(PostgreSqlStorage).Assembly)})";
        var version = $"Hangfire.Core {versions} on {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}";
        report.Environment["Hangfire"] = version;
        var figures = new PeerFigures("Hangfire", versions, jobs / enqueueSeconds, jobs / completeSeconds, jobs / (enqueueSeconds + completeSeconds)).WithCpu(cpu, jobs);
        AddPeerFigures(report, figures, $"{jobs:N0} jobs, BackgroundJob.Enqueue from 16 threads; {version}",
            "BackgroundJobServer with WorkerCount 16, no-op job, until all are Succeeded in the database");
        return figures;
    }

    private static string Informational(Assembly assembly) =>
        (assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? assembly.GetName().Version?.ToString(3) ?? "?").Split('+')[0];

    public static async Task RunClarityAsync(BenchServer server, BenchOptions options, Report report, IReadOnlyList<PeerFigures> peers)
    {
        var api = new AgentApi(server.Http);
        var jobs = options.PeerJobs;
        var b = server.Backend;

        var next = -1;
        var cpu = new CpuMeter(server);
        var cpu0 = server.ServerCpu;
        var requests0 = api.Requests;
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
        var cpu1 = server.ServerCpu;
        var requests1 = api.Requests;

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
        cpu.Stop();
        var cpu2 = server.ServerCpu;
        var requests2 = api.Requests;
        if (done != jobs)
        {
            throw new InvalidOperationException($"Clarity completed {done} of {jobs} tasks.");
        }

        var clarity = new PeerFigures("Clarity", b.ToString(), jobs / addSeconds, jobs / completeSeconds, jobs / (addSeconds + completeSeconds)).WithCpu(cpu, jobs);
        var compared = b == Backend.Postgres && peers.Count > 0;
        string Ratio(Func<PeerFigures, double> column)
        {
            if (!compared)
            {
                return "";
            }

            var best = peers.MaxBy(column)!;
            return $"{column(clarity) / column(best):F2}× the best peer ({best.Peer})";
        }

        static string Notes(params string[] parts) => string.Join("; ", parts.Where(p => p.Length > 0));
        report.Add(Name, b, "Clarity: create tasks/s", clarity.Enqueue, "/s", notes: Notes($"{jobs:N0} tasks, 16 producers over HTTP", Ratio(f => f.Enqueue)));
        report.Add(Name, b, "Clarity: checkout + complete tasks/s", clarity.Complete, "/s", notes: Notes("16 agents", Ratio(f => f.Complete),
            $"checkout p50 {Report.Format(checkout.Percentile(50))} ms, complete p50 {Report.Format(complete.Percentile(50))} ms"));
        report.Add(Name, b, "Clarity: end to end tasks/s", clarity.EndToEnd, "/s", compared ? "≥ 2× the best peer" : null,
            compared ? clarity.EndToEnd >= 2 * peers.Max(f => f.EndToEnd) : null, Ratio(f => f.EndToEnd));
        AddCpuFigures(report, b, clarity);
        if (cpu0 is { } c0 && cpu1 is { } c1 && cpu2 is { } c2)
        {
            // --server-process: the server's own CPU (/proc/<pid>/stat) per HTTP request in each phase.
            report.Add(Name, b, "Clarity: server CPU per request, create", (c1 - c0).TotalMilliseconds / Math.Max(1, requests1 - requests0), "ms", notes: "the server process alone");
            report.Add(Name, b, "Clarity: server CPU per request, checkout + complete", (c2 - c1).TotalMilliseconds / Math.Max(1, requests2 - requests1), "ms",
                notes: $"the server process alone; {(c2 - c1).TotalMilliseconds / jobs:F2} ms per task claimed and completed");
        }

        if (compared)
        {
            var table = SideBySide(clarity, peers, jobs);
            Console.WriteLine();
            Console.WriteLine(table);
            report.AddTable(Name, table);
        }
    }

    /// <summary>One Markdown table: Clarity and every peer, then Clarity's ratio to the best peer per column, then the verdict.</summary>
    private static string SideBySide(PeerFigures clarity, IReadOnlyList<PeerFigures> peers, int jobs)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Same PostgreSQL, same run, {jobs:N0} jobs, 16 producers then 16 workers:");
        sb.AppendLine();
        sb.AppendLine("| | enqueue/s | complete/s | end to end/s | PostgreSQL CPU per job | machine CPU per job |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|");
        static string Ms(double? ms) => ms is { } v ? $"{v:F2} ms" : "–";
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"| Clarity over HTTP (PostgreSQL) | {Report.Format(clarity.Enqueue)} | {Report.Format(clarity.Complete)} | {Report.Format(clarity.EndToEnd)} | {Ms(clarity.PostgresMsPerJob)} | {Ms(clarity.MachineMsPerJob)} |");
        foreach (var p in peers)
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {p.Peer} {p.Version} | {Report.Format(p.Enqueue)} | {Report.Format(p.Complete)} | {Report.Format(p.EndToEnd)} | {Ms(p.PostgresMsPerJob)} | {Ms(p.MachineMsPerJob)} |");
        }

        string Cell(Func<PeerFigures, double> column)
        {
            var best = peers.MaxBy(column)!;
            return $"**{column(clarity) / column(best):F2}×** ({best.Peer})";
        }

        sb.AppendLine(CultureInfo.InvariantCulture, $"| Clarity ÷ best peer | {Cell(f => f.Enqueue)} | {Cell(f => f.Complete)} | {Cell(f => f.EndToEnd)} | | |");
        var bestEndToEnd = peers.MaxBy(f => f.EndToEnd)!;
        var ratio = clarity.EndToEnd / bestEndToEnd.EndToEnd;
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"Target: Clarity end to end ≥ 2× the best peer ({bestEndToEnd.Peer}, {Report.Format(bestEndToEnd.EndToEnd)}/s): {(ratio >= 2 ? "**met**" : "**missed**")} ({ratio:F2}×).");
        return sb.ToString();
    }
}

/// <summary>The Hangfire peer's job: a public static no-op, so Hangfire can find it by name; it counts its runs.</summary>
public static class HangfireJobs
{
    private static long s_done;

    public static long Done => Interlocked.Read(ref s_done);

    public static void Reset() => Interlocked.Exchange(ref s_done, 0);

    /// <summary>A no-op job: the measurement is the queue's own cost. The argument makes each job's arguments differ, as a real job's would.</summary>
    public static void NoOp(int job)
    {
        _ = job;
        Interlocked.Increment(ref s_done);
    }
}
