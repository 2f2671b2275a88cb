using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Clarity.Tests.Storage;

/// <summary>
/// The writer's WAL writes, gathered by <see cref="SqliteSplitWritesVfs"/> into few large ones and written out at the
/// commit's sync: every commit is visible to readers the moment its write is answered, and on disk, whatever its size.
/// (DurabilityTests and CrashConsistencyTests kill a server mid-load and check what it answered survived.)
/// </summary>
public sealed class SqliteWalGatheringTests : IDisposable
{
    private readonly string _dir = TestDatabases.NewTempDirectory();

    private string DatabaseFile => Path.Combine(_dir, "clarity.db");

    public void Dispose() => TestDatabases.DeleteDirectory(_dir);

    [Fact]
    public async Task TheWriterThatSyncsEveryCommit_GathersItsWalWrites_AndEveryCommitIsReadableOnceAnswered()
    {
        var opened = SqliteSplitWritesVfs.GatheringWals;
        await using var db = new SqliteDatabase(DatabaseFile, "FULL", NullLogger<SqliteDatabase>.Instance);
        var unix = !OperatingSystem.IsWindows();
        Assert.Equal(unix, db.GathersWalWrites);

        // A new database's WAL opens at its first write, on the writer's thread.
        await db.WriteAsync((c, t) => c.ExecuteAsync("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)", transaction: t));
        if (unix)
        {
            Assert.True(SqliteSplitWritesVfs.GatheringWals > opened, "the writer's WAL was not opened to gather its writes");
        }

        var writtenOut = SqliteSplitWritesVfs.WalWritesOut;
        for (var i = 1; i <= 50; i++)
        {
            await db.WriteAsync((c, t) => c.ExecuteAsync("INSERT INTO t (id, v) VALUES (@i, @v)", new { i, v = new string('x', 3_000) }, t));
            await using var read = await db.OpenReadAsync();
            Assert.Equal(i, await read.ExecuteScalarAsync<long>("SELECT count(*) FROM t"));
        }

        if (unix)
        {
            Assert.True(SqliteSplitWritesVfs.WalWritesOut >= writtenOut + 50, "each commit should write its gathered frames out at its sync");
        }
    }

    [Fact]
    public async Task AGroupCommitLargerThanTheWalBuffer_IsReadableAtOnce_AndAfterTheDatabaseIsOpenedAgain()
    {
        // About 6 MB of rows in one unit of work: the buffer fills and is written out several times within the commit.
        const int Rows = 2_000;
        var text = new string('y', 3_000);
        await using (var db = new SqliteDatabase(DatabaseFile, "FULL", NullLogger<SqliteDatabase>.Instance))
        {
            await db.WriteAsync((c, t) => c.ExecuteAsync("CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT NOT NULL)", transaction: t));
            await db.WriteAsync((c, t) => c.ExecuteAsync("INSERT INTO big (id, v) VALUES (@Id, @V)", Enumerable.Range(1, Rows).Select(i => new { Id = i, V = text + i }), t));
            await using var read = await db.OpenReadAsync();
            Assert.Equal(Rows, await read.ExecuteScalarAsync<long>("SELECT count(*) FROM big"));
            Assert.Equal(text + Rows, await read.ExecuteScalarAsync<string>("SELECT v FROM big WHERE id = @Rows", new { Rows }));
        }

        await using var again = new SqliteDatabase(DatabaseFile, "FULL", NullLogger<SqliteDatabase>.Instance);
        await using var reopened = await again.OpenReadAsync();
        Assert.Equal(Rows, await reopened.ExecuteScalarAsync<long>("SELECT count(*) FROM big"));
        Assert.Equal("ok", await reopened.ExecuteScalarAsync<string>("PRAGMA integrity_check"));
    }

    [Fact]
    public async Task AUnitThatFailsAfterWritingMoreThanTheWalBuffer_IsUndoneAlone_AndTheGroupsAfterItCommit()
    {
        await using var db = new SqliteDatabase(DatabaseFile, "FULL", NullLogger<SqliteDatabase>.Instance);
        await db.WriteAsync((c, t) => c.ExecuteAsync("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)", transaction: t));
        var text = new string('z', 3_000);
        await Assert.ThrowsAsync<InvalidOperationException>(() => db.WriteAsync<int>(async (c, t) =>
        {
            await c.ExecuteAsync("INSERT INTO t (id, v) VALUES (@Id, @V)", Enumerable.Range(1, 1_000).Select(i => new { Id = i, V = text }), t);
            throw new InvalidOperationException("undo this unit");
        }));
        await db.WriteAsync((c, t) => c.ExecuteAsync("INSERT INTO t (id, v) VALUES (5000, 'after')", transaction: t));

        await using var read = await db.OpenReadAsync();
        Assert.Equal(1, await read.ExecuteScalarAsync<long>("SELECT count(*) FROM t"));
        Assert.Equal("after", await read.ExecuteScalarAsync<string>("SELECT v FROM t WHERE id = 5000"));
        Assert.Equal("ok", await read.ExecuteScalarAsync<string>("PRAGMA integrity_check"));
    }

    [Fact]
    public async Task AWriterThatDoesNotSyncEveryCommit_WritesItsWalAtOnce_SoReadersNeverMissACommit()
    {
        await using var db = new SqliteDatabase(DatabaseFile, "NORMAL", NullLogger<SqliteDatabase>.Instance);
        Assert.False(db.GathersWalWrites);
        await db.WriteAsync((c, t) => c.ExecuteAsync("CREATE TABLE t (id INTEGER PRIMARY KEY)", transaction: t));
        for (var i = 1; i <= 20; i++)
        {
            await db.WriteAsync((c, t) => c.ExecuteAsync("INSERT INTO t (id) VALUES (@i)", new { i }, t));
            await using var read = await db.OpenReadAsync();
            Assert.Equal(i, await read.ExecuteScalarAsync<long>("SELECT count(*) FROM t"));
        }
    }
}
