using Npgsql;

namespace Clarity.Tests.Infrastructure;

/// <summary>The two storage backends every feature is tested on.</summary>
public enum Backend
{
    Sqlite,
    Postgres,
}

/// <summary>
/// Where test databases come from. SQLite: a fresh file in a temp folder. PostgreSQL: a fresh database on the
/// server named by CLARITY_TEST_POSTGRES (test.sh starts a throwaway cluster and sets it). When that variable is
/// missing, PostgreSQL tests fail with a message saying so: they never skip silently. The browser tests
/// (tests/Clarity.BrowserTests) compile this file too.
/// </summary>
public static class TestDatabases
{
    public static string? PostgresServer => Environment.GetEnvironmentVariable("CLARITY_TEST_POSTGRES");

    /// <summary>Creates an empty PostgreSQL database and returns its connection string.</summary>
    public static async Task<string> CreatePostgresAsync()
    {
        var server = PostgresServer;
        if (string.IsNullOrEmpty(server))
        {
            throw new InvalidOperationException("CLARITY_TEST_POSTGRES is not set: PostgreSQL tests never skip. Run the suite through ./test.sh, which starts a throwaway PostgreSQL.");
        }

        var name = "clarity_test_" + Guid.NewGuid().ToString("N")[..16];
        await using (var admin = new NpgsqlConnection(server))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", admin);
            await create.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(server) { Database = name, Pooling = true, MaxPoolSize = 30 }.ConnectionString;
    }

    public static string NewTempDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "clarity-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static void DeleteDirectory(string dir)
    {
        try
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
