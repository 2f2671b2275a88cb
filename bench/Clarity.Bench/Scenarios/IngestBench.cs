using System.Diagnostics;
using Clarity.Bench.Harness;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// #2: log ingestion in batches of 500 lines from 8 concurrent writers (one task each), and the lag until an
/// acknowledged line is searchable. Each batch carries one unique token; a sampler takes the latest acknowledged
/// batch (at most every 100 ms), then searches for its token back to back until it is found.
/// </summary>
public static class IngestBench
{
    public const string Name = "2. Log ingestion (500-line batches)";
    public const int Writers = 8;
    public const int BatchLines = 500;
    private const string Placeholder = "@@TOKEN@@";

    private sealed record Ack(string Token, long AckedAt);

    public static async Task RunAsync(BenchServer server, BenchOptions options, Report report)
    {
        var api = new AgentApi(server.Http);
        var text = new LogText(2);
        var bodies = Enumerable.Range(0, 64).Select(_ => text.Batch(BatchLines, Placeholder)).ToArray();
        var tasks = new List<Guid>();
        for (var i = 0; i < Writers; i++)
        {
            tasks.Add(await api.CreateTaskAsync("ingest", $"ingest writer {i}"));
        }

        var window = new MeasuredWindow();
        long lines = 0;
        Ack? latest = null;
        var append = new Samples();
        var lag = new Samples();
        var firstTry = 0;

        async Task WriterAsync(int writer)
        {
            var tokens = new LogText(100 + writer);
            var n = writer * 7;
            while (!window.Stopping)
            {
                var token = tokens.UniqueToken();
                var body = bodies[n++ % bodies.Length].Replace(Placeholder, token, StringComparison.Ordinal);
                var measured = window.IsOpen;
                var t0 = Stopwatch.GetTimestamp();
                var count = await api.AppendLogsAsync(tasks[writer], body);
                var acked = Stopwatch.GetTimestamp();
                Volatile.Write(ref latest, new Ack(token, acked));
                if (measured && window.IsOpen)
                {
                    Interlocked.Add(ref lines, count);
                    append.Add(Stopwatch.GetElapsedTime(t0, acked).TotalMilliseconds);
                }
            }
        }

        async Task SamplerAsync()
        {
            Ack? previous = null;
            while (!window.Stopping)
            {
                await Task.Delay(100);
                var ack = Volatile.Read(ref latest);
                if (ack is null || ack == previous || !window.IsOpen)
                {
                    continue;
                }

                previous = ack;
                var tries = 0;
                while (await api.SearchAsync(ack.Token, 1) == 0)
                {
                    tries++;
                    if (Stopwatch.GetElapsedTime(ack.AckedAt) > TimeSpan.FromSeconds(30))
                    {
                        throw new InvalidOperationException($"Token {ack.Token} was acknowledged but not searchable after 30 s.");
                    }
                }

                lag.AddSince(ack.AckedAt);
                if (tries == 0)
                {
                    Interlocked.Increment(ref firstTry);
                }
            }
        }

        var writers = Enumerable.Range(0, Writers).Select(i => Task.Run(() => WriterAsync(i))).ToArray();
        var sampler = Task.Run(SamplerAsync);
        await window.RunAsync(options, server);
        await Task.WhenAll(writers);
        await sampler;
        var (seconds, machine, process, cpuMs, serverCpuMs) = (window.Seconds, window.MachinePercent, window.ProcessPercent, window.ProcessCpuMs, window.ServerCpuMs);

        var perSecond = Interlocked.Read(ref lines) / seconds;
        var b = server.Backend;
        var bytes = bodies.Average(x => x.Length) / BatchLines;
        // Issue #10's targets: 100,000 acknowledged lines/s on SQLite, 50,000 on PostgreSQL.
        var target = b == Backend.Postgres ? 50_000 : 100_000;
        report.Add(Name, b, "acknowledged lines/s", perSecond, "lines/s", $"≥ {target:N0}/s", perSecond >= target,
            $"{Writers} writers, {seconds:F0} s window, ~{bytes:F0} JSON bytes per line");
        report.Add(Name, b, "append request p50 / p99", append.Percentile(50), "ms", notes: $"p99 {Report.Format(append.Percentile(99))} ms");
        report.Add(Name, b, "search visibility lag p50", lag.Percentile(50), "ms", "< 1 s", lag.Percentile(50) < 1000, $"{lag.Count} samples; {firstTry} found on the first search");
        report.Add(Name, b, "search visibility lag p99", lag.Percentile(99), "ms", "< 1 s", lag.Percentile(99) < 1000, $"max {Report.Format(lag.Max)} ms");
        var acknowledged = Math.Max(1, Interlocked.Read(ref lines));
        window.ReportWriterCpu(report, Name, b, acknowledged, per: "line", inMicroseconds: true);

        if (serverCpuMs is { } serverMs)
        {
            // --server-process: the server is its own process; this process is only the load generator.
            report.Add(Name, b, "machine CPU busy", machine, "%", notes: window.ServerProcessSplit);
            report.Add(Name, b, "server CPU per line", serverMs * 1000 / acknowledged, "µs", notes: $"the server process alone (/proc/<pid>/stat){(b == Backend.Postgres ? "; PostgreSQL's own CPU not included" : "")}");
            report.Add(Name, b, "server CPU per append request", serverMs * BatchLines / acknowledged, "ms", notes: $"{BatchLines} lines each");
            report.Add(Name, b, "load generator CPU per line", cpuMs * 1000 / acknowledged, "µs", notes: $"the harness process: {Writers} writers and the search sampler");
            return;
        }

        report.Add(Name, b, "machine CPU busy", machine, "%", notes: $"this process: {process:F0}%");
        var perLine = cpuMs * 1000 / acknowledged;
        report.Add(Name, b, "process CPU per line", perLine, "µs", notes: b == Backend.Postgres ? "server + client; PostgreSQL's own CPU not included" : $"server + client; {Environment.ProcessorCount} dedicated cores would allow ≈ {Environment.ProcessorCount * 1_000_000 / perLine:N0} lines/s");
    }
}
