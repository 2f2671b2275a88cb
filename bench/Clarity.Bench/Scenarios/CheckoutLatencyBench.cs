using System.Collections.Concurrent;
using System.Diagnostics;
using Clarity.Bench.Harness;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// #4: push latency to a waiting agent. Sixteen agents (as issue #10 asks) long-poll POST /work/checkout (waitSeconds 30). One producer
/// creates a task, timestamping just before the create request is sent; the agent that receives it stamps the
/// arrival of its checkout response. The producer waits for the arrival (and a short pause) before the next task,
/// so each sample is one task travelling through an otherwise idle server.
/// </summary>
public static class CheckoutLatencyBench
{
    public const string Name = "4. Checkout latency (long-poll push)";
    private const int Agents = 16;
    private const string Queue = "latency";

    public static async Task RunAsync(BenchServer server, BenchOptions options, Report report)
    {
        var api = new AgentApi(server.Http);
        var sent = new ConcurrentDictionary<int, long>();
        var arrived = new ConcurrentDictionary<int, TaskCompletionSource>();
        var latency = new Samples();
        var create = new Samples();
        using var stop = new CancellationTokenSource();
        var measuring = 0;

        async Task AgentAsync(int agent)
        {
            while (!stop.IsCancellationRequested)
            {
                AgentApi.Claimed? claimed;
                try
                {
                    claimed = await api.CheckoutAsync($"waiter-{agent}", Queue, 30, stop.Token);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }

                var at = Stopwatch.GetTimestamp();
                if (claimed is null)
                {
                    continue;
                }

                var seq = int.Parse(claimed.Title.AsSpan("latency ".Length), System.Globalization.CultureInfo.InvariantCulture);
                if (Volatile.Read(ref measuring) == 1 && sent.TryGetValue(seq, out var t0))
                {
                    latency.Add(Stopwatch.GetElapsedTime(t0, at).TotalMilliseconds);
                }

                arrived.GetOrAdd(seq, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                await api.CompleteAsync(claimed, CancellationToken.None);
            }
        }

        var agents = Enumerable.Range(0, Agents).Select(i => Task.Run(() => AgentAsync(i))).ToArray();
        var handedOffBefore = 0.0;
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        var random = new Random(4);
        var warmup = options.Quick ? 20 : 100;
        for (var seq = 0; seq < warmup + options.LatencySamples; seq++)
        {
            if (seq == warmup)
            {
                handedOffBefore = await HandedOffAsync(server);
            }

            Volatile.Write(ref measuring, seq >= warmup ? 1 : 0);
            var done = arrived.GetOrAdd(seq, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            var t0 = Stopwatch.GetTimestamp();
            sent[seq] = t0;
            await api.CreateTaskAsync(Queue, $"latency {seq}");
            if (seq >= warmup)
            {
                create.AddSince(t0);
            }

            await done.Task.WaitAsync(TimeSpan.FromSeconds(30));
            // Let the agent complete and go back to waiting, then pause a little, so the next task meets idle waiters.
            await Task.Delay(5 + random.Next(10));
        }

        var handedOff = await HandedOffAsync(server) - handedOffBefore;
        await stop.CancelAsync();
        await Task.WhenAll(agents);

        var b = server.Backend;
        var p99 = latency.Percentile(99);
        report.Add(Name, b, "create sent → waiting agent has it, p50", latency.Percentile(50), "ms",
            notes: $"{latency.Count} samples, {Agents} agents waiting; {handedOff:N0} of the tasks claimed in their create's commit (the hand-off)");
        report.Add(Name, b, "create sent → waiting agent has it, p99", p99, "ms", "p99 < 5 ms", p99 < 5, $"max {Report.Format(latency.Max)} ms");
        report.Add(Name, b, "create request alone, p50 / p99", create.Percentile(50), "ms", notes: $"p99 {Report.Format(create.Percentile(99))} ms");
    }

    /// <summary>
    /// The server's <c>clarity_checkout_handed_off_total</c>, summed over orgs, from GET /metrics (0 before the first
    /// hand-off, and from a server that predates the metric).
    /// </summary>
    private static async Task<double> HandedOffAsync(BenchServer server)
    {
        using var client = new HttpClient { BaseAddress = server.BaseAddress };
        var text = await client.GetStringAsync("metrics");
        return text.Split('\n')
            .Where(line => line.StartsWith("clarity_checkout_handed_off_total", StringComparison.Ordinal))
            .Sum(line =>
            {
                // name{labels} value [timestamp]
                var afterName = line.Contains('{', StringComparison.Ordinal) ? line.IndexOf('}', StringComparison.Ordinal) + 1 : line.IndexOf(' ', StringComparison.Ordinal);
                var value = line[afterName..].Trim().Split(' ')[0];
                return double.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
            });
    }
}
