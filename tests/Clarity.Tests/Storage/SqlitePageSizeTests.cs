using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Clarity.Tests.Storage;

/// <summary>The page size: 8 KiB for a database Clarity creates; a database made with other pages keeps them.</summary>
public sealed class SqlitePageSizeTests : IDisposable
{
    private readonly string _dir = TestDatabases.NewTempDirectory();

    private string DatabaseFile => Path.Combine(_dir, "clarity.db");

    public void Dispose() => TestDatabases.DeleteDirectory(_dir);

    [Fact]
    public async Task ANewDatabase_IsCreatedWith8KiBPages()
    {
        await using (var db = new SqliteDatabase(DatabaseFile, "FULL", NullLogger<SqliteDatabase>.Instance))
        {
            await db.WriteAsync((c, t) => c.ExecuteAsync("CREATE TABLE probe (id INTEGER PRIMARY KEY, v TEXT NOT NULL); INSERT INTO probe (v) VALUES ('a')", transaction: t));
        }

        Assert.Equal(8192, PageSizeOf(DatabaseFile));
        Assert.Equal(SqliteDatabase.PageSize, PageSizeOf(DatabaseFile));
    }

    [Fact]
    public async Task ADatabaseMadeWith4KiBPages_KeepsThem_AndItsRowsStayReadableAndWritable()
    {
        using (var old = new SqliteConnection($"Data Source={DatabaseFile};Pooling=False"))
        {
            old.Open();
            old.Execute("PRAGMA page_size=4096; PRAGMA journal_mode=WAL; CREATE TABLE probe (id INTEGER PRIMARY KEY, v TEXT NOT NULL); INSERT INTO probe (v) VALUES ('before')");
        }

        await using (var db = new SqliteDatabase(DatabaseFile, "FULL", NullLogger<SqliteDatabase>.Instance))
        {
            await db.WriteAsync((c, t) => c.ExecuteAsync("INSERT INTO probe (v) VALUES ('after')", transaction: t));
        }

        Assert.Equal(4096, PageSizeOf(DatabaseFile));
        using var check = new SqliteConnection($"Data Source={DatabaseFile};Pooling=False");
        check.Open();
        Assert.Equal(["before", "after"], check.Query<string>("SELECT v FROM probe ORDER BY id").ToArray());
        Assert.Equal("ok", check.ExecuteScalar<string>("PRAGMA integrity_check"));
    }

    private static long PageSizeOf(string file)
    {
        using var c = new SqliteConnection($"Data Source={file};Mode=ReadOnly;Pooling=False");
        c.Open();
        return c.ExecuteScalar<long>("PRAGMA page_size");
    }
}
