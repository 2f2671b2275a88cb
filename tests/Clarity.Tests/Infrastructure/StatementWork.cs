using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Npgsql;
using SQLitePCL;
using Xunit;

namespace Clarity.Tests.Infrastructure;

/// <summary>
/// What one read-only statement costs, counted rather than timed, so a test can state that it does not grow with a
/// table. SQLite: the statement's virtual-machine steps (<c>sqlite3_stmt_status</c>), as prepared, which is how SQLite
/// plans it (without the parameters' values). PostgreSQL: the shared buffers the executor touched under the statement's
/// <em>generic</em> plan, the one a prepared statement (Npgsql prepares Clarity's) settles on after a few runs.
/// </summary>
public sealed record StatementWork(long Work, string Plan)
{
    /// <param name="sql">The statement, with Dapper-style <c>@name</c> parameters.</param>
    /// <param name="parameters">Each parameter's value: <see cref="long"/> or <see cref="int"/>.</param>
    public static async Task<StatementWork> MeasureAsync(DbConnection connection, string sql, params (string Name, object Value)[] parameters) =>
        connection switch
        {
            SqliteConnection sqlite => MeasureSqlite(sqlite, sql, parameters),
            NpgsqlConnection postgres => await MeasureGenericPlanAsync(postgres, sql, parameters),
            _ => throw new ArgumentException($"Unexpected connection {connection.GetType().Name}.", nameof(connection)),
        };

    private static StatementWork MeasureSqlite(SqliteConnection c, string sql, (string Name, object Value)[] parameters)
    {
        var (steps, _, _) = CountSqlite(c, sql, parameters.Select(p => ("@" + p.Name, (object?)p.Value)));
        using var explain = c.CreateCommand();
        explain.CommandText = "EXPLAIN QUERY PLAN " + sql;
        return new StatementWork(steps, string.Join("; ", QueryPlan(explain, parameters)));
    }

    /// <summary>
    /// Runs <paramref name="sql"/> through SQLitePCL.raw with <paramref name="parameters"/> (named with their prefix;
    /// values <see cref="string"/>, <see cref="long"/> or <see cref="int"/>) and counts its virtual-machine steps, the
    /// pages it asked the pager for (cache hits plus misses, <c>sqlite3_db_status</c>) and the rows it returned.
    /// </summary>
    public static (long Steps, long Pages, int Rows) CountSqlite(SqliteConnection c, string sql, IEnumerable<(string Name, object? Value)> parameters)
    {
        var db = c.Handle!;
        Assert.Equal(raw.SQLITE_OK, raw.sqlite3_prepare_v2(db, sql, out var stmt));
        using (stmt)
        {
            foreach (var (name, value) in parameters)
            {
                var index = raw.sqlite3_bind_parameter_index(stmt, name);
                Assert.True(index > 0, $"The statement has no parameter {name}.");
                var rc = value switch
                {
                    string text => raw.sqlite3_bind_text(stmt, index, text),
                    long l => raw.sqlite3_bind_int64(stmt, index, l),
                    int i => raw.sqlite3_bind_int64(stmt, index, i),
                    var other => throw new InvalidOperationException($"Unexpected parameter type {other?.GetType().Name}."),
                };
                Assert.Equal(raw.SQLITE_OK, rc);
            }

            raw.sqlite3_db_status(db, raw.SQLITE_DBSTATUS_CACHE_HIT, out _, out _, 1);
            raw.sqlite3_db_status(db, raw.SQLITE_DBSTATUS_CACHE_MISS, out _, out _, 1);
            var rows = 0;
            int step;
            while ((step = raw.sqlite3_step(stmt)) == raw.SQLITE_ROW)
            {
                rows++;
            }

            Assert.Equal(raw.SQLITE_DONE, step);
            raw.sqlite3_db_status(db, raw.SQLITE_DBSTATUS_CACHE_HIT, out var hits, out _, 0);
            raw.sqlite3_db_status(db, raw.SQLITE_DBSTATUS_CACHE_MISS, out var misses, out _, 0);
            return (raw.sqlite3_stmt_status(stmt, raw.SQLITE_STMTSTATUS_VM_STEP, 0), hits + misses, rows);
        }
    }

    private static List<string> QueryPlan(SqliteCommand explain, (string Name, object Value)[] parameters)
    {
        foreach (var (name, value) in parameters)
        {
            explain.Parameters.AddWithValue("@" + name, value);
        }

        using var reader = explain.ExecuteReader();
        var steps = new List<string>();
        while (reader.Read())
        {
            steps.Add(reader.GetString(3));
        }

        return steps;
    }

    private static async Task<StatementWork> MeasureGenericPlanAsync(NpgsqlConnection c, string sql, (string Name, object Value)[] parameters)
    {
        var positions = parameters.Select((p, i) => (p.Name, Position: i + 1)).ToDictionary(p => p.Name, p => p.Position);
        var numbered = Regex.Replace(sql, @"@(\w+)", m => "$" + positions[m.Groups[1].Value]);
        var types = string.Join(", ", parameters.Select(p => p.Value is int ? "int" : "bigint"));
        var values = string.Join(", ", parameters.Select(p => Convert.ToInt64(p.Value, CultureInfo.InvariantCulture)));
        await using (var prepare = new NpgsqlCommand(
            $"SET plan_cache_mode = force_generic_plan; PREPARE work_probe{(types.Length > 0 ? $"({types})" : "")} AS {numbered}", c))
        {
            await prepare.ExecuteNonQueryAsync();
        }

        try
        {
            await using var explain = new NpgsqlCommand(
                $"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE work_probe{(values.Length > 0 ? $"({values})" : "")}", c);
            using var doc = JsonDocument.Parse((string)(await explain.ExecuteScalarAsync())!);
            var plan = doc.RootElement[0].GetProperty("Plan");
            return new StatementWork(Buffers(plan), Describe(plan));
        }
        finally
        {
            await using var reset = new NpgsqlCommand("DEALLOCATE work_probe; RESET plan_cache_mode", c);
            await reset.ExecuteNonQueryAsync();
        }
    }

    internal static long Buffers(JsonElement node) =>
        node.GetProperty("Shared Hit Blocks").GetInt64() + node.GetProperty("Shared Read Blocks").GetInt64();

    /// <summary>The plan's nodes, one per line, with the index each one used and its buffers.</summary>
    internal static string Describe(JsonElement node, int depth = 0)
    {
        var index = node.TryGetProperty("Index Name", out var name) ? $" using {name.GetString()}" : "";
        var line = $"{new string(' ', depth * 2)}{node.GetProperty("Node Type").GetString()}{index}: {Buffers(node)} buffers\n";
        return node.TryGetProperty("Plans", out var children)
            ? line + string.Concat(children.EnumerateArray().Select(child => Describe(child, depth + 1)))
            : line;
    }
}
