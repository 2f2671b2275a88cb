using System.Diagnostics;
using Clarity.Bench.Harness;
using Clarity.Features.Logs;
using Clarity.Storage;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// #3: full-text search over a large log. Loads the lines through the API (5,000-line batches, 4 loaders, spread
/// over 200 tasks), then times search requests one after another through GET /logs/search (newest first, limit 20)
/// for five kinds of query (the last matching nothing). On SQLite it also reports how many full-text tables hold the org's lines.
/// </summary>
public static class SearchBench
{
    public const string Name = "3. Log search";
    private const int Loaders = 4;
    private const int BatchLines = 5000;
    private const int TaskCount = 200;

    public static async Task RunAsync(BenchServer server, BenchOptions options, Report report)
    {
        var api = new AgentApi(server.Http);
        var b = server.Backend;
        var loaded = await LoadAsync(server, api, options.SearchLines, report, Name);
        await VacuumAsync(server);

        var vocabulary = new LogText(0);
        var kinds = new (string Kind, string[] Queries)[]
        {
            ("common word", [vocabulary.RankedWord(0), vocabulary.RankedWord(1), vocabulary.RankedWord(2)]),
            ("rare word", [LogText.RareWord]),
            ("two words", [$"timeout {vocabulary.RankedWord(1)}", $"cache {vocabulary.RankedWord(0)}"]),
            ("prefix", ["conn*", "retr*", "emb*"]),

            // Found nowhere: on SQLite it reads every one of the org's full-text tables (one per million lines).
            ("no match", ["qzxjvkwy", "vbxqzk*"]),
        };

        var db = server.Server.Services.GetRequiredService<Database>();
        if (db.Kind == DatabaseKind.Sqlite)
        {
            await using var c = await db.OpenReadAsync();
            var tables = await c.ExecuteScalarAsync<long>(
                "SELECT count(*) FROM log_search_tables WHERE org_id = (SELECT upper(id) FROM orgs WHERE slug = @slug)", new { slug = BenchServer.Org });
            report.Add(Name, b, "full-text tables of the org", tables, "tables", notes: $"one per {LogStore.DefaultSqliteTableLines:N0} lines (SqliteSearchTableLines)");
        }

        foreach (var (kind, queries) in kinds)
        {
            var matches = await CountAsync(db, queries[0]);
            for (var i = 0; i < 5; i++)
            {
                await api.SearchAsync(queries[i % queries.Length]);
            }

            var samples = new Samples();
            var hits = 0;
            for (var i = 0; i < options.SearchQueriesPerKind; i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                hits = await api.SearchAsync(queries[i % queries.Length]);
                samples.AddSince(t0);
            }

            var p95 = samples.Percentile(95);
            report.Add(Name, b, $"{kind}: p50", samples.Percentile(50), "ms", notes: $"queries: {string.Join(", ", queries.Select(q => $"`{q}`"))}; `{queries[0]}` matches {matches:N0} of {loaded:N0} lines");
            report.Add(Name, b, $"{kind}: p95", p95, "ms", "p95 < 50 ms", p95 < 50, $"{options.SearchQueriesPerKind} sequential requests, limit 20, {hits} hits returned");
        }
    }

    /// <summary>
    /// Loads <paramref name="lines"/> realistic lines into the bench org through the API (5,000-line batches,
    /// 4 loaders, spread over 200 tasks) and reports the load rate. Returns the number of lines loaded.
    /// </summary>
    public static async Task<long> LoadAsync(BenchServer server, AgentApi api, int lines, Report report, string scenario)
    {
        var tasks = new List<Guid>();
        for (var i = 0; i < TaskCount; i++)
        {
            tasks.Add(await api.CreateTaskAsync("search", $"search corpus {i}"));
        }

        var batches = (lines + BatchLines - 1) / BatchLines;
        var next = -1;
        long loaded = 0;
        var retries = 0;
        var cpu = new CpuMeter();
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, Loaders).Select(loader => Task.Run(async () =>
        {
            var text = new LogText(1000 + loader);
            int k;
            while ((k = Interlocked.Increment(ref next)) < batches)
            {
                var count = Math.Min(BatchLines, lines - k * BatchLines);
                var (appended, retried) = await api.AppendLogsPatientlyAsync(tasks[k % TaskCount], text.Batch(count));
                Interlocked.Add(ref loaded, appended);
                Interlocked.Add(ref retries, retried);
            }
        })));
        var loadSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var (machine, _, _) = cpu.Stop();
        report.Add(scenario, server.Backend, "load rate (5,000-line batches)", loaded / loadSeconds, "lines/s", notes: $"{loaded:N0} lines in {loadSeconds:F0} s, {Loaders} loaders, machine CPU {machine:F0}%; {retries} batches retried after 503");
        return loaded;
    }

    /// <summary>On PostgreSQL, what autovacuum would do shortly after a bulk load: flush the GIN pending list and gather statistics.</summary>
    public static async Task VacuumAsync(BenchServer server)
    {
        if (server.Database is { } database)
        {
            await using var connection = new NpgsqlConnection(database);
            await connection.OpenAsync();
            await connection.ExecuteAsync("VACUUM ANALYZE task_logs", commandTimeout: 600);
        }
    }

    /// <summary>How many lines a query matches in total (straight from the database, for context only).</summary>
    private static async Task<long> CountAsync(Database db, string query)
    {
        var terms = query.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        await using var c = await db.OpenReadAsync();
        if (db.Kind == DatabaseKind.Sqlite)
        {
            var match = string.Join(' ', terms.Select(t => t.EndsWith('*') ? $"\"{t[..^1]}\"*" : $"\"{t}\""));
            var org = await c.QuerySingleAsync<Guid>("SELECT id FROM orgs WHERE slug = @slug", new { slug = BenchServer.Org });
            long count = 0;
            foreach (var part in await c.QueryAsync<long>("SELECT part FROM log_search_tables WHERE org_id = @org", new { org = org.ToString().ToUpperInvariant() }))
            {
                var table = LogStore.SqliteSearchTable(org, part);
                count += await c.ExecuteScalarAsync<long>($"SELECT count(*) FROM {table} WHERE {table} MATCH @match", new { match }, commandTimeout: 600);
            }

            return count;
        }

        var tsquery = string.Join(" & ", terms.Select(t => t.EndsWith('*') ? $"'{t[..^1]}':*" : $"'{t}'"));
        return await c.ExecuteScalarAsync<long>("SELECT count(*) FROM task_logs WHERE text_tsv @@ to_tsquery('simple', @tsquery)", new { tsquery }, commandTimeout: 600);
    }
}
