using System.Diagnostics;
using Clarity.Bench.Harness;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// #1: full task lifecycles with 16 concurrent agents. Each agent loops: create a task → check out (long-poll up
/// to 5 s) → append 10 log lines in one batch → complete. Counts lifecycles finished inside the measured window.
/// Then #1b on the same server, the eager variant: each complete asks for the agent's next task (<c>next</c>), and the
/// agent checks out only when none came back, so a busy agent makes 3 requests per lifecycle instead of 4. It starts
/// with a backlog of one queued task per agent (a busy queue), which the loop keeps at that size. The plain loop is the
/// headline.
/// </summary>
public static class LifecycleBench
{
    public const string Name = "1. Task lifecycles (16 agents)";
    public const string EagerName = "1b. Task lifecycles, complete returns next (16 agents)";
    public const string FloorName = "1f. The floor: #1 and #1b against a bare ASP.NET Core app with its tasks in memory";
    private const int Agents = 16;
    private const string Queue = "lifecycle";

    public static async Task RunAsync(BenchServer server, BenchOptions options, Report report)
    {
        await RunVariantAsync(server, options, report, eager: false);
        await RunVariantAsync(server, options, report, eager: true);
    }

    private static async Task RunVariantAsync(BenchServer server, BenchOptions options, Report report, bool eager)
    {
        var api = new AgentApi(server.Http);
        var text = new LogText(1);
        var bodies = Enumerable.Range(0, 64).Select(_ => text.Batch(10)).ToArray();
        var steps = new Dictionary<string, Samples> { ["create"] = new(), ["checkout"] = new(), ["logs"] = new(), ["complete"] = new() };
        var lifecycle = new Samples();
        var window = new MeasuredWindow();
        long completed = 0;
        long checkouts = 0;

        async Task AgentAsync(int agent)
        {
            var n = 0;
            AgentApi.Claimed? handedOver = null;
            while (!window.Stopping)
            {
                var measured = window.IsOpen;
                var t0 = Stopwatch.GetTimestamp();
                await api.CreateTaskAsync(Queue, $"lifecycle {agent}-{n}");
                var t1 = Stopwatch.GetTimestamp();
                var checkedOut = handedOver is null;
                var claimed = handedOver ?? await api.CheckoutAsync($"agent-{agent}", Queue, 5);
                handedOver = null;
                var t2 = Stopwatch.GetTimestamp();
                if (claimed is null)
                {
                    continue;
                }

                await api.AppendLogsAsync(claimed.Id, bodies[n++ % bodies.Length]);
                var t3 = Stopwatch.GetTimestamp();
                if (eager)
                {
                    handedOver = await api.CompleteWithNextAsync(claimed, Queue);
                }
                else
                {
                    await api.CompleteAsync(claimed);
                }

                if (measured && window.IsOpen)
                {
                    Interlocked.Increment(ref completed);
                    steps["create"].Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
                    if (checkedOut)
                    {
                        Interlocked.Increment(ref checkouts);
                        steps["checkout"].Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
                    }

                    steps["logs"].Add(Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds);
                    steps["complete"].AddSince(t3);
                    lifecycle.AddSince(t0);
                }
            }
        }

        if (eager)
        {
            // A busy queue: a standing backlog of one task per agent, so that a complete finds the next task waiting. Every
            // loop still creates one task and finishes one, so the backlog stays the same size.
            for (var i = 0; i < Agents; i++)
            {
                await api.CreateTaskAsync(Queue, $"backlog {i}");
            }
        }

        var agents = Enumerable.Range(0, Agents).Select(i => Task.Run(() => AgentAsync(i))).ToArray();
        long requestsAtStart = 0, requests = 0;
        await window.RunAsync(options, server, atOpen: () => requestsAtStart = api.Requests, atClose: () => requests = api.Requests - requestsAtStart);
        await Task.WhenAll(agents);
        var (seconds, machine, process, cpuMs, serverCpuMs) = (window.Seconds, window.MachinePercent, window.ProcessPercent, window.ProcessCpuMs, window.ServerCpuMs);

        var name = server.Backend == Backend.Floor ? FloorName + (eager ? ", eager" : ", plain") : eager ? EagerName : Name;
        var done = Math.Max(1, Interlocked.Read(ref completed));
        var perSecond = Interlocked.Read(ref completed) / seconds;
        var b = server.Backend;
        var windowNote = $"{seconds:F0} s window after {options.Warmup.TotalSeconds:F0} s warm-up";
        var headline = !eager && b == Backend.Sqlite;
        report.Add(name, b, "lifecycles/s", perSecond, "/s", headline ? "≥ 2,000/s" : null, headline ? perSecond >= 2000 : null,
            eager ? windowNote + "; same server, right after #1" : windowNote);
        report.Add(name, b, "requests/s", requests / seconds, "/s",
            notes: eager ? $"{(double)requests / done:F2} requests per lifecycle; {100.0 * Interlocked.Read(ref checkouts) / done:F0}% of lifecycles needed a checkout" : "4 requests per lifecycle");
        report.Add(name, b, "lifecycle latency p50", lifecycle.Percentile(50), "ms");
        report.Add(name, b, "lifecycle latency p99", lifecycle.Percentile(99), "ms");
        foreach (var (step, samples) in steps)
        {
            report.Add(name, b, $"{step} p50 / p99", samples.Percentile(50), "ms", notes: $"p99 {Report.Format(samples.Percentile(99))} ms");
        }

        if (serverCpuMs is { } serverMs)
        {
            // --server-process: the server is its own process; this process is only the load generator.
            report.Add(name, b, "machine CPU busy", machine, "%", notes: window.ServerProcessSplit);
            report.Add(name, b, "server CPU per request", serverMs / Math.Max(1, requests), "ms", notes: $"the server process alone (/proc/<pid>/stat), {Report.Format(requests / seconds)} requests/s");
            report.Add(name, b, "server CPU per lifecycle", serverMs / done, "ms", notes: b == Backend.Postgres ? "PostgreSQL's own CPU not included" : $"{Environment.ProcessorCount} dedicated cores would allow ≈ {Environment.ProcessorCount * 1000 * done / serverMs:F0}/s for the server alone");
            report.Add(name, b, "load generator CPU per lifecycle", cpuMs / done, "ms", notes: "the harness process: 16 HTTP agents");
            window.ReportWriterCpu(report, name, b, done);
            window.ReportPostgresCpu(report, name, b, done);
            return;
        }

        report.Add(name, b, "machine CPU busy", machine, "%", notes: $"this process (server + load generator): {process:F0}% of {Environment.ProcessorCount} cores");
        window.ReportWriterCpu(report, name, b, done);
        window.ReportPostgresCpu(report, name, b, done);

        var perLifecycle = cpuMs / done;
        report.Add(name, b, "process CPU per lifecycle", perLifecycle, "ms", notes: b == Backend.Postgres ? "server + client; PostgreSQL's own CPU not included" : $"server + client; {Environment.ProcessorCount} dedicated cores would allow ≈ {Environment.ProcessorCount * 1000 / perLifecycle:F0}/s");
    }
}

/// <summary>
/// #1f's second half: how much one request costs on Clarity's own request path before any task work. 16 clients loop on
/// one GET against a Clarity server in its own process: <c>/healthz</c> (every middleware, no authentication, no database)
/// and <c>/api/v1/me</c> (with the member API key: authentication, and one read). Beside the floor server's figures, the
/// difference says what the middleware and authentication cost, and what is left for a lifecycle's own work.
/// </summary>
public static class RequestPathBench
{
    public const string Name = "1f. The floor: one GET on Clarity's request path (16 clients)";
    private const int Clients = 16;

    public static async Task RunAsync(BenchServer server, BenchOptions options, Report report)
    {
        foreach (var path in new[] { "healthz", "api/v1/me" })
        {
            long requests = 0;
            var latency = new Samples();
            var window = new MeasuredWindow();

            async Task ClientAsync()
            {
                while (!window.Stopping)
                {
                    var t0 = Stopwatch.GetTimestamp();
                    using var response = await server.Http.GetAsync(path);
                    await BenchServer.ExpectAsync(response, System.Net.HttpStatusCode.OK);
                    await response.Content.ReadAsByteArrayAsync();
                    if (window.IsOpen)
                    {
                        Interlocked.Increment(ref requests);
                        latency.AddSince(t0);
                    }
                }
            }

            var clients = Enumerable.Range(0, Clients).Select(_ => Task.Run(ClientAsync)).ToArray();
            await window.RunAsync(options, server, options.Duration / 3);
            await Task.WhenAll(clients);
            var (seconds, machine, process, serverMs) = (window.Seconds, window.MachinePercent, window.ProcessPercent, window.ServerCpuMs ?? double.NaN);

            var done = Math.Max(1, Interlocked.Read(ref requests));
            var b = server.Backend;
            report.Add(Name, b, $"GET /{path}: requests/s", done / seconds, "/s", notes: $"{seconds:F0} s window after {options.Warmup.TotalSeconds:F0} s warm-up; p50 {Report.Format(latency.Percentile(50))} ms, p99 {Report.Format(latency.Percentile(99))} ms");
            report.Add(Name, b, $"GET /{path}: server CPU per request", serverMs / done, "ms",
                notes: $"machine {machine:F0}% busy; server process {100 * serverMs / (seconds * 1000 * Environment.ProcessorCount):F0}%, load generator {process:F0}% of {Environment.ProcessorCount} cores");
        }
    }
}
