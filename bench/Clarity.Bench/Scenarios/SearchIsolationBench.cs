using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Clarity.Bench.Harness;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// #3b: a search costs what the searching org's own logs cost. One org ("bench") holds the lines loaded as in #3;
/// a second org ("empty") has no logs at all. Measures the empty org's search latency for the same kinds of query,
/// then the big org's own requests (a task read and a 10-line append, one after the other), first alone and then
/// while 16 clients search from the empty org back to back.
/// </summary>
public static class SearchIsolationBench
{
    public const string Name = "3b. Search from an org with no logs";
    private const string EmptyOrg = "empty";
    private const int Searchers = 16;

    public static async Task RunAsync(BenchServer server, BenchOptions options, Report report)
    {
        var b = server.Backend;
        var api = new AgentApi(server.Http);
        var emptyKey = await server.CreateOrgAsync(EmptyOrg);
        var loaded = await SearchBench.LoadAsync(server, api, options.SearchLines, report, Name);
        await SearchBench.VacuumAsync(server);
        var probe = await api.CreateTaskAsync("isolation", "probe");

        var vocabulary = new LogText(0);
        var kinds = new (string Kind, string[] Queries)[]
        {
            ("common word", [vocabulary.RankedWord(0), vocabulary.RankedWord(1), vocabulary.RankedWord(2)]),
            ("rare word", [LogText.RareWord]),
            ("prefix", ["conn*", "retr*", "emb*"]),
        };
        foreach (var (kind, queries) in kinds)
        {
            for (var i = 0; i < 3; i++)
            {
                await SearchAsync(server.Http, emptyKey, queries[i % queries.Length], CancellationToken.None);
            }

            var samples = new Samples();
            var hits = 0;
            var until = Stopwatch.GetTimestamp() + (long)(options.Duration.TotalSeconds * Stopwatch.Frequency);
            for (var i = 0; i < options.SearchQueriesPerKind && (i < 5 || Stopwatch.GetTimestamp() < until); i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                hits += await SearchAsync(server.Http, emptyKey, queries[i % queries.Length], CancellationToken.None);
                samples.AddSince(t0);
            }

            report.Add(Name, b, $"empty org, {kind}: p50", samples.Percentile(50), "ms", notes: $"queries: {string.Join(", ", queries.Select(q => $"`{q}`"))}; the other org has {loaded:N0} lines");
            report.Add(Name, b, $"empty org, {kind}: p95", samples.Percentile(95), "ms", notes: $"{samples.Count} sequential requests, limit 20, {hits} hits in all");
        }

        // The big org's own requests, alone and then next to 16 clients searching from the empty org.
        var text = new LogText(77);
        var (readAlone, appendAlone) = await BigOrgRequestsAsync(api, probe, text, options.Duration);
        using var stop = new CancellationTokenSource();
        long searches = 0;
        var searchers = Enumerable.Range(0, Searchers).Select(s => Task.Run(async () =>
        {
            var queries = new[] { vocabulary.RankedWord(0), "conn*", vocabulary.RankedWord(1), "retr*" };
            for (var i = s; !stop.IsCancellationRequested; i++)
            {
                try
                {
                    await SearchAsync(server.Http, emptyKey, queries[i % queries.Length], stop.Token);
                    Interlocked.Increment(ref searches);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                }
            }
        })).ToList();
        await Task.Delay(TimeSpan.FromSeconds(1));
        var cpu = new CpuMeter();
        var searchesBefore = Interlocked.Read(ref searches);
        var window = Stopwatch.GetTimestamp();
        var (readBusy, appendBusy) = await BigOrgRequestsAsync(api, probe, text, options.Duration);
        var seconds = Stopwatch.GetElapsedTime(window).TotalSeconds;
        var searchRate = (Interlocked.Read(ref searches) - searchesBefore) / seconds;
        var (machine, _, _) = cpu.Stop();
        await stop.CancelAsync();
        await Task.WhenAll(searchers);

        var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a";
        report.Add(Name, b, "big org, task read alone: p50 / p95", readAlone.Percentile(50), "ms", notes: $"p95 {Report.Format(readAlone.Percentile(95))} ms; {readAlone.Count} reads, each followed by a 10-line append");
        report.Add(Name, b, "big org, task read, 16 empty-org searchers: p50", readBusy.Percentile(50), "ms", notes: $"p95 {Report.Format(readBusy.Percentile(95))} ms, max {Report.Format(readBusy.Max)} ms; {readBusy.Count} reads in {seconds:F0} s");
        report.Add(Name, b, "big org, 10-line append alone: p50 / p95", appendAlone.Percentile(50), "ms", notes: $"p95 {Report.Format(appendAlone.Percentile(95))} ms; {appendAlone.Count} appends");
        report.Add(Name, b, "big org, 10-line append, 16 empty-org searchers: p50", appendBusy.Percentile(50), "ms", notes: $"p95 {Report.Format(appendBusy.Percentile(95))} ms, max {Report.Format(appendBusy.Max)} ms; {appendBusy.Count} appends");
        report.Add(Name, b, "empty-org searches meanwhile", searchRate, "req/s", notes: $"{Searchers} clients back to back (`{vocabulary.RankedWord(0)}`, `conn*`, `{vocabulary.RankedWord(1)}`, `retr*`); machine CPU {machine:F0}%, load average {load}");
    }

    /// <summary>Reads a task and appends 10 lines to it, one request after the other, for <paramref name="window"/> (at least 5 of each).</summary>
    private static async Task<(Samples Reads, Samples Appends)> BigOrgRequestsAsync(AgentApi api, Guid task, LogText text, TimeSpan window)
    {
        var reads = new Samples();
        var appends = new Samples();
        var until = Stopwatch.GetTimestamp() + (long)(window.TotalSeconds * Stopwatch.Frequency);
        while (reads.Count < 5 || (Stopwatch.GetTimestamp() < until && reads.Count < 2000))
        {
            var t0 = Stopwatch.GetTimestamp();
            using (var response = await api.Http.GetAsync(BenchServer.Api($"tasks/{task}")))
            {
                await BenchServer.ExpectAsync(response, HttpStatusCode.OK);
                await response.Content.ReadAsByteArrayAsync();
            }

            reads.AddSince(t0);
            var batch = text.Batch(10);
            var t1 = Stopwatch.GetTimestamp();
            await api.AppendLogsAsync(task, batch);
            appends.AddSince(t1);
        }

        return (reads, appends);
    }

    private static async Task<int> SearchAsync(HttpClient http, string key, string q, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"api/v1/orgs/{EmptyOrg}/logs/search?q={Uri.EscapeDataString(q)}&limit=20");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await http.SendAsync(request, ct);
        await BenchServer.ExpectAsync(response, HttpStatusCode.OK);
        return (await BenchServer.ReadJsonAsync(response)).GetProperty("results").GetArrayLength();
    }
}
