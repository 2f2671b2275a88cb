using Clarity.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace Clarity.Tests.Infrastructure;

/// <summary>A database of either backend with every migration applied, for tests of the storage layer without a host.</summary>
public static class MigratedDatabases
{
    /// <param name="dir">The SQLite file's folder (from <see cref="TestDatabases.NewTempDirectory"/>); unused on PostgreSQL.</param>
    public static async Task<Database> CreateAsync(Backend backend, string dir)
    {
        Database db = backend == Backend.Sqlite
            ? new SqliteDatabase(Path.Combine(dir, "clarity.db"), "FULL", NullLogger<SqliteDatabase>.Instance)
            : new PostgresDatabase(await TestDatabases.CreatePostgresAsync());
        await new Migrator(db, NullLogger<Migrator>.Instance).MigrateAsync();
        return db;
    }
}
