using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Clarity.Tests.Storage;

/// <summary>
/// Savepoint and temporary-table journals: one block in memory up to <see cref="SqliteEngine.StatementJournalInMemoryBytes"/>,
/// then a temporary file written through <see cref="SqliteSplitWritesVfs"/>, on every connection in the process.
/// (SqliteGroupCommitTests holds the same for a unit of work inside the writer's group.)
/// </summary>
public sealed class SqliteStatementJournalTests : IDisposable
{
    // SQLite's default page is 4 KiB, so each row of 3,000 characters takes a page of its own (a longer one would spill
    // into overflow pages, which an update frees rather than journals), and changing all of them journals about 14 MB:
    // past the threshold, so the journal moves to a file in one write of about the threshold's size, which the unix VFS
    // alone cuts short.
    private const int RowChars = 3_000;
    private const int Rows = 3_500;

    private readonly string _dir = TestDatabases.NewTempDirectory();

    private string DatabaseFile => Path.Combine(_dir, "clarity.db");

    public void Dispose() => TestDatabases.DeleteDirectory(_dir);

    [Fact]
    public async Task OnUnix_TheWriterKeepsSavepointJournalsInOneBlock_BehindTheVfsThatSplitsLongWrites()
    {
        // Linux and macOS run SQLite's unix VFS, the one that cuts long writes short; Windows keeps SQLite's defaults.
        var unix = !OperatingSystem.IsWindows();
        Assert.Equal(unix, SqliteEngine.StatementJournalInOneBlock);
        Assert.True(SqliteEngine.StatementJournalInMemoryBytes > 128 * 1024);

        await using var db = new SqliteDatabase(DatabaseFile, "FULL", NullLogger<SqliteDatabase>.Instance);
        // temp_store 0 is the default, under which the threshold holds; MEMORY (2) would bring back the 1 KiB chunks.
        Assert.Equal(unix ? 0L : 2L, await db.WriteAsync((c, t) => c.ExecuteScalarAsync<long>("PRAGMA temp_store", transaction: t)));
    }

    [Fact]
    public void ASavepointOnAnyConnection_ThatJournalsMoreThanTheThreshold_RollsBackToItsStart_AndCommitsOtherwise()
    {
        using var connection = Open();
        connection.Execute("CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
        Fill(connection, "big");

        connection.Execute("BEGIN;");
        connection.Execute("UPDATE big SET v = 'kept' WHERE id = 1");
        connection.Execute("SAVEPOINT s");
        Assert.Equal(Rows, connection.Execute("UPDATE big SET v = 'changed'"));
        connection.Execute("ROLLBACK TO s; RELEASE s; COMMIT");
        Assert.Equal("kept", connection.ExecuteScalar<string>("SELECT v FROM big WHERE id = 1"));
        Assert.Equal(Rows - 1, connection.ExecuteScalar<long>("SELECT count(*) FROM big WHERE v = @Original", new { Original }));

        connection.Execute("SAVEPOINT s");
        Assert.Equal(Rows, connection.Execute("UPDATE big SET v = 'changed'"));
        connection.Execute("RELEASE s");
        Assert.Equal(["changed"], connection.Query<string>("SELECT DISTINCT v FROM big").ToArray());
        Assert.Equal("ok", connection.ExecuteScalar<string>("PRAGMA integrity_check"));
    }

    [Fact]
    public void ATemporaryTablesTransaction_ThatJournalsMoreThanTheThreshold_RollsBack_AndCommitsOtherwise()
    {
        using var connection = Open();
        connection.Execute("CREATE TEMP TABLE scratch (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
        Fill(connection, "scratch");

        connection.Execute("BEGIN;");
        Assert.Equal(Rows, connection.Execute("UPDATE scratch SET v = 'changed'"));
        connection.Execute("ROLLBACK;");
        Assert.Equal([Original], connection.Query<string>("SELECT DISTINCT v FROM scratch").ToArray());
        Assert.Equal(Rows, connection.ExecuteScalar<long>("SELECT count(*) FROM scratch"));

        connection.Execute("BEGIN;");
        Assert.Equal(Rows, connection.Execute("UPDATE scratch SET v = 'changed'"));
        connection.Execute("COMMIT;");
        Assert.Equal(["changed"], connection.Query<string>("SELECT DISTINCT v FROM scratch").ToArray());
    }

    private static string Original { get; } = new('a', RowChars);

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection($"Data Source={DatabaseFile};Pooling=False");
        connection.Open();
        connection.Execute("PRAGMA journal_mode=WAL");
        return connection;
    }

    private static void Fill(SqliteConnection connection, string table) => connection.Execute(
        $"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {Rows}) " +
        $"INSERT INTO {table} (id, v) SELECT i, @v FROM n", new { v = Original });
}
