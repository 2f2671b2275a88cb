using System.Diagnostics;
using Clarity.Bench.Harness;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// #1: full task lifecycles with 16 concurrent agents. Each agent loops: create a task → check out (long-poll up
/// to 5 s) → append 10 log lines in one batch → complete. Counts lifecycles finished inside the measured window.
/// </summary>
public static class LifecycleBench
{
    public const string Name = "1. Task lifecycles (16 agents)";
    private const int Agents = 16;
    private const string Queue = "lifecycle";

    public static async Task RunAsync(BenchServer server, BenchOptions options, Report report)
    {
        var api = new AgentApi(server.Http);
        var text = new LogText(1);
        var bodies = Enumerable.Range(0, 64).Select(_ => text.Batch(10)).ToArray();
        var steps = new Dictionary<string, Samples> { ["create"] = new(), ["checkout"] = new(), ["logs"] = new(), ["complete"] = new() };
        var lifecycle = new Samples();
        var measuring = 0;
        var stopping = 0;
        long completed = 0;

        async Task AgentAsync(int agent)
        {
            var n = 0;
            while (Volatile.Read(ref stopping) == 0)
            {
                var measured = Volatile.Read(ref measuring) == 1;
                var t0 = Stopwatch.GetTimestamp();
                await api.CreateTaskAsync(Queue, $"lifecycle {agent}-{n}");
                var t1 = Stopwatch.GetTimestamp();
                var claimed = await api.CheckoutAsync($"agent-{agent}", Queue, 5);
                var t2 = Stopwatch.GetTimestamp();
                if (claimed is null)
                {
                    continue;
                }

                await api.AppendLogsAsync(claimed.Id, bodies[n++ % bodies.Length]);
                var t3 = Stopwatch.GetTimestamp();
                await api.CompleteAsync(claimed);
                if (measured && Volatile.Read(ref measuring) == 1)
                {
                    Interlocked.Increment(ref completed);
                    steps["create"].Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
                    steps["checkout"].Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
                    steps["logs"].Add(Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds);
                    steps["complete"].AddSince(t3);
                    lifecycle.AddSince(t0);
                }
            }
        }

        var agents = Enumerable.Range(0, Agents).Select(i => Task.Run(() => AgentAsync(i))).ToArray();
        await Task.Delay(options.Warmup);
        var requestsAtStart = api.Requests;
        var cpu = new CpuMeter();
        var serverCpuAtStart = server.ServerCpu;
        var started = Stopwatch.GetTimestamp();
        Volatile.Write(ref measuring, 1);
        await Task.Delay(options.Duration);
        Volatile.Write(ref measuring, 0);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var requests = api.Requests - requestsAtStart;
        var (machine, process, cpuMs) = cpu.Stop();
        var serverCpuMs = (server.ServerCpu - serverCpuAtStart)?.TotalMilliseconds;
        Volatile.Write(ref stopping, 1);
        await Task.WhenAll(agents);

        var perSecond = Interlocked.Read(ref completed) / seconds;
        var b = server.Backend;
        var window = $"{seconds:F0} s window after {options.Warmup.TotalSeconds:F0} s warm-up";
        report.Add(Name, b, "lifecycles/s", perSecond, "/s", b == Backend.Sqlite ? "≥ 2,000/s" : null, b == Backend.Sqlite ? perSecond >= 2000 : null, window);
        report.Add(Name, b, "requests/s", requests / seconds, "/s", notes: "4 requests per lifecycle");
        report.Add(Name, b, "lifecycle latency p50", lifecycle.Percentile(50), "ms");
        report.Add(Name, b, "lifecycle latency p99", lifecycle.Percentile(99), "ms");
        foreach (var (step, samples) in steps)
        {
            report.Add(Name, b, $"{step} p50 / p99", samples.Percentile(50), "ms", notes: $"p99 {Report.Format(samples.Percentile(99))} ms");
        }

        if (serverCpuMs is { } serverMs)
        {
            // --server-process: the server is its own process; this process is only the load generator.
            var lifecycles = Math.Max(1, Interlocked.Read(ref completed));
            report.Add(Name, b, "machine CPU busy", machine, "%", notes: $"server process: {100 * serverMs / (seconds * 1000 * Environment.ProcessorCount):F0}%, load generator: {process:F0}% of {Environment.ProcessorCount} cores");
            report.Add(Name, b, "server CPU per request", serverMs / Math.Max(1, requests), "ms", notes: $"the server process alone (/proc/<pid>/stat), {Report.Format(requests / seconds)} requests/s");
            report.Add(Name, b, "server CPU per lifecycle", serverMs / lifecycles, "ms", notes: b == Backend.Postgres ? "PostgreSQL's own CPU not included" : $"{Environment.ProcessorCount} dedicated cores would allow ≈ {Environment.ProcessorCount * 1000 * lifecycles / serverMs:F0}/s for the server alone");
            report.Add(Name, b, "load generator CPU per lifecycle", cpuMs / lifecycles, "ms", notes: "the harness process: 16 HTTP agents");
            return;
        }

        report.Add(Name, b, "machine CPU busy", machine, "%", notes: $"this process (server + load generator): {process:F0}% of {Environment.ProcessorCount} cores");
        var perLifecycle = cpuMs / Math.Max(1, Interlocked.Read(ref completed));
        report.Add(Name, b, "process CPU per lifecycle", perLifecycle, "ms", notes: b == Backend.Postgres ? "server + client; PostgreSQL's own CPU not included" : $"server + client; {Environment.ProcessorCount} dedicated cores would allow ≈ {Environment.ProcessorCount * 1000 / perLifecycle:F0}/s");
    }
}
