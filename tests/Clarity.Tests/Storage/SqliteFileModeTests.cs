using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Clarity.Tests.Storage;

/// <summary>The SQLite files hold password and key hashes and encrypted secrets: a new database is its owner's alone.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SqliteFileModeTests : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly string _dir = TestDatabases.NewTempDirectory();

    public void Dispose() => TestDatabases.DeleteDirectory(_dir);

    [Fact]
    public async Task NewDatabase_AndItsWriteAheadLog_AreReadableByTheOwnerOnly()
    {
        var path = Path.Combine(_dir, "data", "clarity.db");
        await using (var db = new SqliteDatabase(path, "FULL", NullLogger<SqliteDatabase>.Instance))
        {
            await db.WriteAsync((c, t) => c.ExecuteAsync("CREATE TABLE probe (id INTEGER PRIMARY KEY)", transaction: t));
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(path));
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(path + "-wal"));
        }
    }

    [Fact]
    public async Task ExistingDatabase_KeepsTheModeItsOperatorChose()
    {
        var path = Path.Combine(_dir, "clarity.db");
        const UnixFileMode chosen = OwnerOnly | UnixFileMode.GroupRead;
        await File.WriteAllBytesAsync(path, []);
        File.SetUnixFileMode(path, chosen);
        await using (var db = new SqliteDatabase(path, "FULL", NullLogger<SqliteDatabase>.Instance))
        {
            await db.WriteAsync((c, t) => c.ExecuteAsync("CREATE TABLE probe (id INTEGER PRIMARY KEY)", transaction: t));
        }

        Assert.Equal(chosen, File.GetUnixFileMode(path));
    }
}
