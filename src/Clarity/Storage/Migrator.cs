using System.Security.Cryptography;
using System.Text;
using Dapper;

namespace Clarity.Storage;

public sealed record Migration(int Version, string Name, string Sql)
{
    public string Checksum { get; } = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Sql.ReplaceLineEndings("\n"))));
}

public sealed record MigrationReport(IReadOnlyList<Migration> Applied, int AlreadyApplied);

/// <summary>
/// Migration work that SQL alone cannot do, such as work per org under names computed in code. Steps run after the
/// SQL migrations, at every start-up and in <c>clarity migrate</c>. A step finds its remaining work in the database,
/// does it in transactions that each leave the database consistent, and does nothing once it is done: it may be
/// stopped at any point and run again.
/// </summary>
public interface IMigrationStep
{
    Task RunAsync(CancellationToken cancellationToken);
}

/// <summary>
/// Applies the numbered SQL files under Storage/Migrations/{sqlite,postgres} in order, each in its own
/// transaction, and records them in <c>schema_migrations</c>. Migrations only move forward; a shipped file
/// whose text has changed is refused, because the databases already migrated would silently differ.
/// Then it runs the registered <see cref="IMigrationStep"/>s, in order.
/// </summary>
public sealed partial class Migrator(Database database, ILogger<Migrator> logger, IEnumerable<IMigrationStep> steps)
{
    public Migrator(Database database, ILogger<Migrator> logger)
        : this(database, logger, [])
    {
    }

    // Any constant works; it only has to be the same on every node.
    private const long PostgresLockKey = 0x436c6172697479; // "Clarity"

    public static IReadOnlyList<Migration> Load(DatabaseKind kind)
    {
        var folder = kind == DatabaseKind.Sqlite ? "sqlite" : "postgres";
        var prefix = $"migrations/{folder}/";
        var assembly = typeof(Migrator).Assembly;
        var list = new List<Migration>();
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            var file = name[prefix.Length..];
            var underscore = file.IndexOf('_', StringComparison.Ordinal);
            if (underscore <= 0 || !int.TryParse(file[..underscore], out var version))
            {
                throw new InvalidOperationException($"Migration file '{file}' must be named NNNN_name.sql.");
            }

            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream);
            list.Add(new Migration(version, Path.GetFileNameWithoutExtension(file)[(underscore + 1)..], reader.ReadToEnd()));
        }

        list.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 1; i < list.Count; i++)
        {
            if (list[i].Version == list[i - 1].Version)
            {
                throw new InvalidOperationException($"Two migrations share version {list[i].Version}.");
            }
        }

        return list;
    }

    public async Task<MigrationReport> MigrateAsync(CancellationToken cancellationToken = default)
    {
        var migrations = Load(database.Kind);
        await database.WriteAsync(async (c, t) =>
        {
            if (database.Kind == DatabaseKind.Postgres)
            {
                // Serialises concurrent start-ups of several nodes; released at commit.
                await c.ExecuteAsync("SELECT pg_advisory_xact_lock(@key)", new { key = PostgresLockKey }, t);
            }

            await c.ExecuteAsync(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                transaction: t);
        }, cancellationToken);

        var applied = new List<Migration>();
        var already = 0;
        foreach (var migration in migrations)
        {
            var wasApplied = await database.WriteAsync(async (c, t) =>
            {
                if (database.Kind == DatabaseKind.Postgres)
                {
                    await c.ExecuteAsync("SELECT pg_advisory_xact_lock(@key)", new { key = PostgresLockKey }, t);
                }

                var checksum = await c.QuerySingleOrDefaultAsync<string>(
                    "SELECT checksum FROM schema_migrations WHERE version = @Version", new { migration.Version }, t);
                if (checksum is not null)
                {
                    if (checksum != migration.Checksum)
                    {
                        throw new InvalidOperationException(
                            $"Migration {migration.Version:D4}_{migration.Name} was changed after it was applied. Shipped migrations must never be edited; add a new one instead.");
                    }

                    return true;
                }

                await c.ExecuteAsync(migration.Sql, transaction: t);
                await c.ExecuteAsync(
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (@Version, @Name, @Checksum, @at)",
                    new { migration.Version, migration.Name, migration.Checksum, at = DbTime.ToDb(DateTimeOffset.UtcNow) }, t);
                return false;
            }, cancellationToken);

            if (wasApplied)
            {
                already++;
            }
            else
            {
                Log.Applied(logger, migration.Version, migration.Name);
                applied.Add(migration);
            }
        }

        foreach (var step in steps)
        {
            await step.RunAsync(cancellationToken);
        }

        return new MigrationReport(applied, already);
    }

    /// <summary>True when every known migration is recorded as applied.</summary>
    public async Task<bool> IsCurrentAsync(CancellationToken cancellationToken = default)
    {
        var expected = Load(database.Kind).Select(m => m.Version).ToHashSet();
        await using var c = await database.OpenReadAsync(cancellationToken);
        var versions = await c.QueryAsync<int>("SELECT version FROM schema_migrations");
        return expected.IsSubsetOf(versions);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Applied migration {Version:D4}_{Name}")]
        public static partial void Applied(ILogger logger, int version, string name);
    }
}
