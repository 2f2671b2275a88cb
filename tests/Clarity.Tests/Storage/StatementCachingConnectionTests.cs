using System.Data.Common;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Data.Sqlite;
using SQLitePCL;
using Xunit;

namespace Clarity.Tests.Storage;

/// <summary>The SQLite writer's statement cache: Dapper's commands reuse one prepared statement per SQL text.</summary>
public sealed class StatementCachingConnectionTests : IDisposable
{
    private const int StatusRun = 6; // SQLITE_STMTSTATUS_RUN: how many times a prepared statement has run

    private readonly string _dir = TestDatabases.NewTempDirectory();
    private readonly StatementCachingConnection _c;

    public StatementCachingConnectionTests()
    {
        _c = new StatementCachingConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_dir, "cache.db"), Pooling = false }.ToString());
        _c.Open();
        _c.Handle!.enable_sqlite3_next_stmt(true);
        _c.Execute("CREATE TABLE t (x INTEGER NOT NULL, tag TEXT)");
    }

    public void Dispose()
    {
        _c.Dispose();
        TestDatabases.DeleteDirectory(_dir);
    }

    [Fact]
    public void RepeatedStatement_IsPreparedOnceAndRunWithEachCallsParameters()
    {
        const string insert = "INSERT INTO t (x, tag) VALUES (@x, @tag)";
        for (var i = 0; i < 100; i++)
        {
            _c.Execute(insert, new { x = i, tag = i % 2 == 0 ? "even" : null });
        }

        Assert.Equal(4950, _c.ExecuteScalar<long>("SELECT sum(x) FROM t"));
        Assert.Equal(50, _c.ExecuteScalar<long>("SELECT count(*) FROM t WHERE tag = 'even'"));
        Assert.Equal(50, _c.ExecuteScalar<long>("SELECT count(*) FROM t WHERE tag IS NULL"));
        var runs = Statements().Where(s => s.Sql == insert).Select(s => s.Runs).ToList();
        Assert.Equal([100], runs);
    }

    [Fact]
    public async Task Transaction_GoesWithTheCommand_AndARolledBackWriteLeavesNoTrace()
    {
        await using (var t = await _c.BeginTransactionAsync())
        {
            await _c.ExecuteAsync("INSERT INTO t (x) VALUES (@x)", new { x = 1 }, t);
            await t.RollbackAsync();
        }

        await using (var t = await _c.BeginTransactionAsync())
        {
            await _c.ExecuteAsync("INSERT INTO t (x) VALUES (@x)", new { x = 2 }, t);
            await t.CommitAsync();
        }

        Assert.Equal([2L], (await _c.QueryAsync<long>("SELECT x FROM t")).ToList());
    }

    [Fact]
    public void ListParameters_ExpandedByDapper_FindTheRightRows()
    {
        _c.Execute("INSERT INTO t (x) WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < 10) SELECT v FROM n");

        Assert.Equal([2L, 4L], _c.Query<long>("SELECT x FROM t WHERE x IN @xs ORDER BY x", new { xs = new[] { 2, 4 } }).ToList());
        Assert.Equal([1L, 5L, 9L], _c.Query<long>("SELECT x FROM t WHERE x IN @xs ORDER BY x", new { xs = new[] { 9, 1, 5 } }).ToList());
        Assert.Equal([3L], _c.Query<long>("SELECT x FROM t WHERE x IN @xs AND x > @min ORDER BY x", new { xs = new[] { 1, 3 }, min = 2 }).ToList());
    }

    [Fact]
    public void SameStatementWhileItsReaderIsOpen_RunsOnASecondStatement()
    {
        _c.Execute("INSERT INTO t (x) VALUES (1), (2), (3)");
        const string select = "SELECT x FROM t WHERE x >= @min ORDER BY x";

        using var outer = _c.ExecuteReader(select, new { min = 1 });
        var seen = new List<(long Outer, long Inner)>();
        while (outer.Read())
        {
            // The same text again while the first reader is open: it must not reuse (and reset) the busy statement.
            var inner = _c.Query<long>(select, new { min = 3 }).Single();
            seen.Add((outer.GetInt64(0), inner));
        }

        Assert.Equal([(1L, 3L), (2L, 3L), (3L, 3L)], seen);
    }

    [Fact]
    public void DistinctTexts_BeyondTheCapacity_AreNotKept()
    {
        for (var i = 0; i < StatementCachingConnection.Capacity + 50; i++)
        {
            Assert.Equal(i, _c.ExecuteScalar<long>($"SELECT {i} + @zero", new { zero = 0 }));
        }

        Assert.Equal(StatementCachingConnection.Capacity, _c.CachedStatements);
        Assert.True(Statements().Count <= StatementCachingConnection.Capacity + 5);
    }

    [Fact]
    public void DapperParameters_BindUnderTheNameTheStatementSpells_WhicheverPrefixItUses()
    {
        // "id" is also the start of "idx", and "tag" appears in the text as a column name before it appears as a parameter.
        const string insert = "INSERT INTO t (x, tag) VALUES (@idx + $id * 10 + :extra * 100, @tag)";
        for (var i = 0; i < 3; i++)
        {
            _c.Execute(insert, new { idx = 1, id = 2, extra = 3, tag = "mixed" });
        }

        Assert.Equal([321L, 321, 321], _c.Query<long>("SELECT x FROM t WHERE tag = @tag", new { tag = "mixed" }).ToList());

        // Reused DynamicParameters keep working across executions of the same cached statement.
        var parameters = new DynamicParameters(new { x = 5, tag = "dynamic" });
        _c.Execute("INSERT INTO t (x, tag) VALUES (@x, @tag)", parameters);
        _c.Execute("INSERT INTO t (x, tag) VALUES (@x, @tag)", parameters);
        Assert.Equal(10L, _c.ExecuteScalar<long>("SELECT sum(x) FROM t WHERE tag = 'dynamic'"));
    }

    [Fact]
    public void DapperParameter_TheStatementDoesNotName_IsStillRefusedAsBefore()
    {
        var error = Assert.Throws<InvalidOperationException>(() => _c.Execute("INSERT INTO t (x) VALUES (@x)", new DynamicParameters(new { y = 1 })));
        Assert.Contains("@x", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PlainCommands_FromCreateCommand_StillWork()
    {
        using var command = _c.CreateCommand();
        command.CommandText = "INSERT INTO t (x) VALUES ($x)";
        command.Parameters.AddWithValue("$x", 7);
        Assert.Equal(1, command.ExecuteNonQuery());
        DbConnection asDb = _c;
        Assert.Equal(7L, asDb.ExecuteScalar<long>("SELECT x FROM t"));
    }

    /// <summary>Every statement prepared on the connection, with its text and how often it has run.</summary>
    private List<(string Sql, int Runs)> Statements()
    {
        var result = new List<(string, int)>();
        for (var s = raw.sqlite3_next_stmt(_c.Handle, null); s is not null && !s.IsInvalid; s = raw.sqlite3_next_stmt(_c.Handle, s))
        {
            result.Add((raw.sqlite3_sql(s).utf8_to_string(), raw.sqlite3_stmt_status(s, StatusRun, 0)));
        }

        return result;
    }
}
