using System.Text.Json;
using Clarity.Features.Logs;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit;

namespace Clarity.Tests.Features.Logs;

/// <summary>
/// What one search statement costs, counted rather than timed, so a test can state that a search does not get more
/// expensive when another org's data grows. SQLite: the statement's virtual-machine steps (sqlite3_stmt_status) and
/// the pages it asks the pager for (cache hits plus misses, sqlite3_db_status). PostgreSQL: the shared buffers the
/// executor touched (EXPLAIN (ANALYZE, BUFFERS)), with the plan for the failure message.
/// </summary>
public sealed record SearchWork(long Steps, long Pages, int Rows, string Plan)
{
    /// <summary>An org with no search table runs no statement at all.</summary>
    public static readonly SearchWork None = new(0, 0, 0, "no statement");

    /// <summary>One page of <c>GET …/logs/search</c> as the API answers it (200 expected); <paramref name="extra"/> adds query parameters.</summary>
    public static async Task<List<JsonElement>> SearchAsync(HttpClient client, OrgSession org, string q, string extra = "") =>
        (await client.GetAsync(org.Api($"logs/search?q={Uri.EscapeDataString(q)}{extra}")).ExpectAsync(System.Net.HttpStatusCode.OK))
            .GetProperty("results").EnumerateArray().ToList();

    /// <summary>Search hits as (task id, seq), in the order answered.</summary>
    public static List<(string, long)> Hits(List<JsonElement> hits) =>
        hits.Select(h => (h.Str("taskId"), h.GetProperty("seq").GetInt64())).ToList();

    public static async Task<Guid> OrgIdAsync(ClarityHost host, string slug)
    {
        await using var c = await host.Services.GetRequiredService<Database>().OpenReadAsync();
        return await c.QuerySingleAsync<Guid>("SELECT id FROM orgs WHERE slug = @slug", new { slug });
    }

    /// <summary>
    /// Brings PostgreSQL to the state a quiet production table is in (autovacuum has run): the GIN pending list is
    /// merged into the index and the planner has statistics. A no-op on SQLite.
    /// </summary>
    public static async Task SettleAsync(ClarityHost host)
    {
        if (host.Backend == Backend.Postgres)
        {
            await using var c = await host.Services.GetRequiredService<Database>().OpenReadAsync();
            await c.ExecuteAsync("VACUUM ANALYZE task_logs");
        }
    }

    public static async Task<SearchWork> MeasureAsync(ClarityHost host, Guid orgId, params string[] terms)
    {
        var store = host.Services.GetRequiredService<LogStore>();
        await using var c = await host.Services.GetRequiredService<Database>().OpenReadAsync();
        await using var statement = await store.SearchStatementAsync(c, orgId, terms, null, null, 21, CancellationToken.None);
        if (statement is null)
        {
            return None;
        }

        var command = statement.Command;

        return host.Backend == Backend.Sqlite
            ? MeasureSqlite((SqliteConnection)c, (SqliteCommand)command)
            : await ExplainAsync((NpgsqlCommand)command);
    }

    /// <summary>
    /// PostgreSQL: the buffers it takes to walk every one of the org's lines newest first through the org's own
    /// index, which is what a search confined to the org may cost at most (the planner picks a plan by statistics
    /// over every org's lines, so a confined search may switch from the GIN index to walking the org's lines).
    /// </summary>
    public static async Task<long> OwnLinesAsync(ClarityHost host, Guid orgId)
    {
        await using var c = (NpgsqlConnection)await host.Services.GetRequiredService<Database>().OpenReadAsync();
        await using var transaction = await c.BeginTransactionAsync();
        await using (var walk = new NpgsqlCommand("SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off", c, transaction))
        {
            await walk.ExecuteNonQueryAsync();
        }

        await using var command = new NpgsqlCommand("SELECT length(text) FROM task_logs WHERE org_id = @org ORDER BY -id", c, transaction);
        command.Parameters.AddWithValue("org", orgId);
        var own = await ExplainAsync(command);
        Assert.Contains("task_logs_org_newest", own.Plan, StringComparison.Ordinal);
        return own.Pages;
    }

    /// <summary>Runs the store's statement through SQLitePCL.raw, with the store's parameters, to read its counters.</summary>
    private static SearchWork MeasureSqlite(SqliteConnection c, SqliteCommand command)
    {
        var (steps, pages, rows) = StatementWork.CountSqlite(
            c, command.CommandText, command.Parameters.Cast<SqliteParameter>().Select(p => (p.ParameterName, p.Value)));
        return new SearchWork(steps, pages, rows, command.CommandText);
    }

    /// <summary>
    /// Runs the statement under EXPLAIN (ANALYZE, BUFFERS) twice on one connection and reads the second run, whose
    /// buffers are the statement's own: the first may also count catalog pages read to fill the session's caches.
    /// </summary>
    private static async Task<SearchWork> ExplainAsync(NpgsqlCommand command)
    {
        command.CommandText = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + command.CommandText;
        await command.ExecuteScalarAsync();
        using var doc = JsonDocument.Parse((string)(await command.ExecuteScalarAsync())!);
        var plan = doc.RootElement[0].GetProperty("Plan");
        return new SearchWork(0, StatementWork.Buffers(plan), (int)plan.GetProperty("Actual Rows").GetDouble(), StatementWork.Describe(plan));
    }
}
