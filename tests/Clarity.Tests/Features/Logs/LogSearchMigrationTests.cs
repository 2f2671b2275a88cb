using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Features.Logs;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;
using Xunit;

namespace Clarity.Tests.Features.Logs;

/// <summary>
/// Migration 0005 on a database that the previous release left: its one full-text index for every org is replaced
/// by one per org (SQLite) or by an index on (org_id, text_tsv) (PostgreSQL), and search keeps working, confined to
/// the org. The previous release's database is made by starting this one, logging, stopping it and putting the
/// search schema back as 0001_core.sql made it.
/// </summary>
public abstract class LogSearchMigrationTests(Backend backend)
{
    [Fact]
    public async Task Migrate_FromTheSharedIndex_KeepsEveryOrgsLinesSearchable_AndConfinedToTheOrg()
    {
        await using var host = await ClarityHost.StartAsync(backend);
        var (acme, other, quiet, word) = await LogInTwoOrgsAsync(host);

        await host.RestartAsync(async () =>
        {
            await ToPreviousReleaseAsync(host);
            Assert.Equal(backend == Backend.Sqlite ? ["task_logs_fts"] : ["task_logs_fts", "task_logs_org_id"], await SearchIndexesAsync(host));
        });

        Assert.Equal(backend == Backend.Sqlite ? [Table(acme.Id), Table(other.Id)] : ["task_logs_org_fts", "task_logs_org_newest"], await SearchIndexesAsync(host));
        await ExpectIsolatedSearchAsync(host, acme.Org, other.Org, quiet, word);

        // New lines are indexed in the org's table as usual.
        using var client = host.CreateClient(acme.Org.MemberKey);
        var task = (await client.CreateTaskAsync(acme.Org, new { queue = "after", title = "after" })).Str("id");
        await client.PostAsJsonAsync(acme.Org.Api($"tasks/{task}/logs"), new[] { new { text = $"{word} after the upgrade" } }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(4, (await SearchAsync(client, acme.Org, $"{word}*")).Count);
    }

    protected static async Task<(OrgRef Acme, OrgRef Other, OrgSession Quiet, string Word)> LogInTwoOrgsAsync(ClarityHost host)
    {
        var acme = await host.SetupAsync("acme");
        var other = await host.CreateOrgAsync(acme, "other");
        var quiet = await host.CreateOrgAsync(acme, "quiet");
        var word = Work.UniqueWord("kept");
        foreach (var org in new[] { acme, other })
        {
            using var client = host.CreateClient(org.MemberKey);
            var task = (await client.CreateTaskAsync(org, new { queue = "before", title = "before" })).Str("id");
            await client.PostAsJsonAsync(org.Api($"tasks/{task}/logs"), new[]
            {
                new { text = $"{org.Org} one {word}" },
                new { text = $"{org.Org} two {word}suffix" },
                new { text = $"{org.Org} three {word} \uE000not a mark\uE001" },
            }).ExpectAsync(HttpStatusCode.OK);
        }

        return (new OrgRef(acme, await SearchWork.OrgIdAsync(host, "acme")), new OrgRef(other, await SearchWork.OrgIdAsync(host, "other")), quiet, word);
    }

    protected static async Task ExpectIsolatedSearchAsync(ClarityHost host, OrgSession acme, OrgSession other, OrgSession quiet, string word)
    {
        foreach (var org in new[] { acme, other })
        {
            using var client = host.CreateClient(org.MemberKey);
            var hits = await SearchAsync(client, org, $"{word}*");
            Assert.Equal([3L, 2L, 1L], hits.Select(h => h.GetProperty("seq").GetInt64()));
            Assert.All(hits, h => Assert.StartsWith($"{org.Org} ", h.Str("snippet"), StringComparison.Ordinal));
            Assert.Equal($"{org.Org} three <mark>{word}</mark> \uE000not a mark\uE001", hits[0].Str("snippet"));
            Assert.Equal(2, (await SearchAsync(client, org, word)).Count);
        }

        using var nobody = host.CreateClient(quiet.MemberKey);
        Assert.Empty(await SearchAsync(nobody, quiet, $"{word}*"));
    }

    /// <summary>Puts the search schema back as the previous release had it, with every line in the one shared index.</summary>
    private Task ToPreviousReleaseAsync(ClarityHost host) => backend == Backend.Sqlite
        ? WithSqliteAsync(host, async c =>
        {
            foreach (var table in await SearchIndexesAsync(host, c))
            {
                await c.ExecuteAsync($"DROP TABLE {table}");
            }

            await c.ExecuteAsync(
                """
                DROP TABLE log_search_backfill;
                DROP VIEW log_search_text;
                CREATE VIRTUAL TABLE task_logs_fts USING fts5(text, content = 'task_logs', content_rowid = 'id', tokenize = 'unicode61');
                INSERT INTO task_logs_fts (task_logs_fts) VALUES ('rebuild');
                DELETE FROM schema_migrations WHERE version = 5;
                """);
        })
        : WithPostgresAsync(host, c => c.ExecuteAsync(
            """
            DROP INDEX task_logs_org_fts;
            DROP INDEX task_logs_org_newest;
            DROP EXTENSION btree_gin;
            CREATE INDEX task_logs_fts ON task_logs USING gin (text_tsv);
            CREATE INDEX task_logs_org_id ON task_logs(org_id, id);
            DELETE FROM schema_migrations WHERE version = 5;
            """));

    /// <summary>The full-text tables (SQLite) or the search's indexes (PostgreSQL) over the log lines, by name.</summary>
    protected async Task<List<string>> SearchIndexesAsync(ClarityHost host, SqliteConnection? open = null)
    {
        if (backend == Backend.Postgres)
        {
            await using var pg = new NpgsqlConnection(host.PostgresConnectionString);
            return (await pg.QueryAsync<string>("SELECT indexname FROM pg_indexes WHERE tablename = 'task_logs' AND indexname NOT IN ('task_logs_pkey', 'task_logs_task_seq') ORDER BY indexname")).AsList();
        }

        const string sql = "SELECT name FROM sqlite_schema WHERE sql LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name";
        if (open is not null)
        {
            return (await open.QueryAsync<string>(sql)).AsList();
        }

        await using var c = new SqliteConnection($"Data Source={SqlitePath(host)};Mode=ReadOnly;Pooling=false");
        return (await c.QueryAsync<string>(sql)).AsList();
    }

    protected static async Task WithSqliteAsync(ClarityHost host, Func<SqliteConnection, Task> work)
    {
        await using var c = new SqliteConnection($"Data Source={SqlitePath(host)};Pooling=false");
        await c.OpenAsync();
        await work(c);
    }

    private static async Task WithPostgresAsync(ClarityHost host, Func<NpgsqlConnection, Task> work)
    {
        await using var c = new NpgsqlConnection(host.PostgresConnectionString);
        await c.OpenAsync();
        await work(c);
    }

    protected static string SqlitePath(ClarityHost host) => Path.Combine(host.DataDirectory, "clarity.db");

    protected static string Table(Guid orgId) => "log_search_" + orgId.ToString("N");

    protected static string Upper(Guid id) => id.ToString().ToUpperInvariant();

    protected static Task<List<JsonElement>> SearchAsync(HttpClient client, OrgSession org, string q) => SearchWork.SearchAsync(client, org, q);

    protected sealed record OrgRef(OrgSession Org, Guid Id);
}

public sealed class SqliteLogSearchMigrationTests() : LogSearchMigrationTests(Backend.Sqlite)
{
    [Fact]
    public async Task Migrate_WhenStoppedHalfwayThroughTheBackfill_CarriesOnAtTheNextStart()
    {
        await using var host = await ClarityHost.StartAsync(Backend.Sqlite);
        var (acme, other, quiet, word) = await LogInTwoOrgsAsync(host);

        // As a crash leaves it: one org's table built and its row gone, the other's row still listed and no table;
        // plus a row for an org whose table exists (rebuilt rather than indexed twice).
        await host.RestartAsync(() => WithSqliteAsync(host, async c =>
        {
            await c.ExecuteAsync($"DROP TABLE {Table(other.Id)}");
            await c.ExecuteAsync("INSERT INTO log_search_backfill (org_id) VALUES (@a), (@b)", new { a = Upper(acme.Id), b = Upper(other.Id) });
        }));

        await ExpectIsolatedSearchAsync(host, acme.Org, other.Org, quiet, word);
        Assert.Equal([Table(acme.Id), Table(other.Id)], await SearchIndexesAsync(host));
        await using var c = new SqliteConnection($"Data Source={SqlitePath(host)};Mode=ReadOnly;Pooling=false");
        Assert.Equal(0, await c.ExecuteScalarAsync<long>("SELECT count(*) FROM log_search_backfill"));
    }

    [Fact]
    public async Task Start_GivesEachOrgsNewestTable_TheAutomergeSetting_WhereAnEarlierReleaseLeftFts5sDefault()
    {
        await using var host = await ClarityHost.StartAsync(Backend.Sqlite);
        var (acme, other, quiet, word) = await LogInTwoOrgsAsync(host);
        var tables = new[] { Table(acme.Id), Table(other.Id) };

        // As the previous release created them: no automerge row in the tables' configuration, so FTS5's default of 4.
        await host.RestartAsync(() => WithSqliteAsync(host, async c =>
        {
            foreach (var table in tables)
            {
                Assert.Equal(1, await c.ExecuteAsync($"DELETE FROM {table}_config WHERE k = 'automerge'"));
            }
        }));

        await using (var c = new SqliteConnection($"Data Source={SqlitePath(host)};Mode=ReadOnly;Pooling=false"))
        {
            foreach (var table in tables)
            {
                Assert.Equal(LogStore.SqliteSearchAutomerge, await c.ExecuteScalarAsync<long>($"SELECT v FROM {table}_config WHERE k = 'automerge'"));
            }
        }

        await ExpectIsolatedSearchAsync(host, acme.Org, other.Org, quiet, word);
    }

    [Fact]
    public async Task Migrate_To0027_ListsEachOrgsTableWithItsLines_AndAFullTableIsFollowedByTheNextOne()
    {
        var settings = new Dictionary<string, string?> { ["Clarity:SqliteSearchTableLines"] = "3" };
        await using var host = await ClarityHost.StartAsync(Backend.Sqlite, settings);
        var (acme, other, quiet, word) = await LogInTwoOrgsAsync(host);

        // As the previous release left it: each org's one table, and no list of tables.
        await host.RestartAsync(() => WithSqliteAsync(host, c => c.ExecuteAsync("DROP TABLE log_search_tables; DELETE FROM schema_migrations WHERE version = 27;")), settings);

        await using (var c = new SqliteConnection($"Data Source={SqlitePath(host)};Mode=ReadOnly;Pooling=false"))
        {
            var listed = (await c.QueryAsync<(string, long, long)>("SELECT org_id, part, lines FROM log_search_tables ORDER BY org_id")).AsList();
            Assert.Equal(new[] { (Upper(acme.Id), 0L, 3L), (Upper(other.Id), 0L, 3L) }.OrderBy(r => r.Item1, StringComparer.Ordinal), listed);
        }

        await ExpectIsolatedSearchAsync(host, acme.Org, other.Org, quiet, word);

        // The first table is full (3 lines), so the next line starts the second.
        using var client = host.CreateClient(acme.Org.MemberKey);
        var task = (await client.CreateTaskAsync(acme.Org, new { queue = "after", title = "after" })).Str("id");
        await client.PostAsJsonAsync(acme.Org.Api($"tasks/{task}/logs"), new[] { new { text = $"{word} after the upgrade" } }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([Table(acme.Id), Table(acme.Id) + "_1", Table(other.Id)], await SearchIndexesAsync(host));
        var hits = await SearchAsync(client, acme.Org, $"{word}*");
        Assert.Equal($"<mark>{word}</mark> after the upgrade", hits[0].Str("snippet"));
        Assert.Equal([1L, 3L, 2L, 1L], hits.Select(h => h.GetProperty("seq").GetInt64()));
        Assert.Equal(4, hits.Count);
    }
}

public sealed class PostgresLogSearchMigrationTests() : LogSearchMigrationTests(Backend.Postgres)
{
    [Fact]
    public async Task Migrate_AsADatabaseOwnerWhoIsNotSuperuser_CreatesTheExtensionAndTheIndex()
    {
        var admin = TestDatabases.PostgresServer ?? throw new InvalidOperationException("CLARITY_TEST_POSTGRES is not set: PostgreSQL tests never skip.");
        var role = "clarity_owner_" + Guid.NewGuid().ToString("N")[..12];
        var database = role + "_db";
        await WithAdminAsync(admin, $"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; CREATE DATABASE {database} OWNER {role}");
        try
        {
            var connectionString = new NpgsqlConnectionStringBuilder(admin) { Username = role, Database = database, Pooling = true }.ConnectionString;
            await using (var host = await ClarityHost.StartAsync(Backend.Postgres, new Dictionary<string, string?> { ["Clarity:Database"] = connectionString }))
            {
                var org = await host.SetupAsync("owned");
                using var client = host.CreateClient(org.MemberKey);
                var task = (await client.CreateTaskAsync(org, new { queue = "q", title = "t" })).Str("id");
                var word = Work.UniqueWord("owned");
                await client.PostAsJsonAsync(org.Api($"tasks/{task}/logs"), new[] { new { text = $"found {word}" } }).ExpectAsync(HttpStatusCode.OK);
                Assert.Single(await SearchAsync(client, org, word));
                Assert.Equal(["task_logs_org_fts", "task_logs_org_newest"], await SearchIndexesAsync(host));
            }

            await using var c = new NpgsqlConnection(connectionString);
            Assert.False(await c.ExecuteScalarAsync<bool>("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"));
            Assert.Equal(role, await c.ExecuteScalarAsync<string>("SELECT extowner::regrole::text FROM pg_extension WHERE extname = 'btree_gin'"));
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await WithAdminAsync(admin, $"DROP DATABASE IF EXISTS {database} WITH (FORCE); DROP ROLE IF EXISTS {role}");
        }
    }

    private static async Task WithAdminAsync(string admin, string sql)
    {
        await using var c = new NpgsqlConnection(admin);
        await c.OpenAsync();
        foreach (var statement in sql.Split("; "))
        {
            await c.ExecuteAsync(statement, commandTimeout: 300);
        }
    }
}
