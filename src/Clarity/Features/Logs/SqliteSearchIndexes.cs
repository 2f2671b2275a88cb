using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Logs;

/// <summary>
/// Start-up work for the per-org search tables on SQLite (nothing on PostgreSQL). It builds the own table of every
/// org that migration 0005 listed in <c>log_search_backfill</c> (the orgs whose lines the old global table indexed),
/// one org per transaction that also deletes the org's row there, so a crash loses at most the org in progress and
/// the next start carries on. And it warns when so many orgs have a table that loading the schema gets slow.
/// </summary>
public sealed partial class SqliteSearchIndexes(Database db, ILogger<SqliteSearchIndexes> logger) : IMigrationStep
{
    /// <summary>
    /// Above this many full-text tables, every new connection and every new table (an org's first log line, or the
    /// next table of a large org: a schema change each reader then reloads) costs tens of milliseconds or more
    /// (docs/operations.md, Storage).
    /// </summary>
    public const int ManyTables = 1000;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (db.Kind != DatabaseKind.Sqlite)
        {
            return;
        }

        await BackfillAsync(cancellationToken);
        await SetAutomergeAsync(cancellationToken);

        await using var c = await db.OpenReadAsync(cancellationToken);
        var tables = await c.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name LIKE 'log\\_search\\_%' ESCAPE '\\' AND sql LIKE 'CREATE VIRTUAL TABLE%'");
        if (tables > ManyTables)
        {
            Log.ManyTables(logger, tables);
        }
    }

    /// <summary>
    /// Gives each org's newest full-text table (the one its lines go to) the <c>automerge</c> setting that tables get
    /// when created (<see cref="LogStore.SqliteSearchAutomerge"/>), if an earlier release created it with FTS5's
    /// default. The older tables are full and take no more lines. One write, and none once every table has it.
    /// </summary>
    private async Task SetAutomergeAsync(CancellationToken cancellationToken)
    {
        var tables = new List<string>();
        await using (var c = await db.OpenReadAsync(cancellationToken))
        {
            var configs = (await c.QueryAsync<string>(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'log\\_search\\_%\\_config' ESCAPE '\\'")).ToHashSet(StringComparer.Ordinal);
            var newest = await c.QueryAsync<(string Org, long Part)>("SELECT org_id, max(part) FROM log_search_tables GROUP BY org_id ORDER BY org_id");
            foreach (var (org, part) in newest)
            {
                var table = LogStore.SqliteSearchTable(Guid.Parse(org), part);
                if (configs.Contains(table + "_config") &&
                    await c.ExecuteScalarAsync<long?>($"SELECT v FROM {table}_config WHERE k = 'automerge'") != LogStore.SqliteSearchAutomerge)
                {
                    tables.Add(table);
                }
            }
        }

        if (tables.Count == 0)
        {
            return;
        }

        await db.WriteBackgroundAsync(async (c, t) =>
        {
            foreach (var table in tables)
            {
                await c.ExecuteAsync(LogStore.SqliteSetAutomerge(table), transaction: t);
            }

            return tables.Count;
        }, cancellationToken);
        Log.AutomergeSet(logger, tables.Count, LogStore.SqliteSearchAutomerge);
    }

    private async Task BackfillAsync(CancellationToken cancellationToken)
    {
        List<string> orgs;
        await using (var c = await db.OpenReadAsync(cancellationToken))
        {
            orgs = (await c.QueryAsync<string>("SELECT org_id FROM log_search_backfill ORDER BY org_id")).AsList();
        }

        if (orgs.Count == 0)
        {
            return;
        }

        Log.Started(logger, orgs.Count);
        long total = 0;
        for (var i = 0; i < orgs.Count; i++)
        {
            var org = orgs[i];
            var orgId = Guid.Parse(org);
            var lines = await db.WriteBackgroundAsync(async (c, t) =>
            {
                // Whatever an earlier, interrupted run left is rebuilt from the lines themselves.
                var table = LogStore.SqliteSearchTable(orgId);
                await c.ExecuteAsync($"DROP TABLE IF EXISTS {table}", transaction: t);
                long indexed = 0;
                if (await c.ExecuteScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM tasks t JOIN task_logs l ON l.task_id = t.id WHERE t.org_id = @org)", new { org }, t))
                {
                    await c.ExecuteAsync(LogStore.SqliteCreateSearchTable(orgId), transaction: t);

                    // The org's lines through its tasks (both indexed), in id order, which FTS5 appends fastest.
                    indexed = await c.ExecuteAsync(
                        $"INSERT INTO {table} (rowid, text) SELECT s.id, s.text FROM log_search_text s " +
                        "WHERE s.id IN (SELECT l.id FROM tasks t JOIN task_logs l ON l.task_id = t.id WHERE t.org_id = @org AND l.org_id = @org) ORDER BY s.id",
                        new { org }, t);

                    // Listed as the org's first table (migration 0027); the log store starts the next one once it is full.
                    await c.ExecuteAsync(
                        "INSERT OR REPLACE INTO log_search_tables (org_id, part, first_id, lines) VALUES (@org, 0, 0, @indexed)",
                        new { org, indexed }, t);
                }

                await c.ExecuteAsync("DELETE FROM log_search_backfill WHERE org_id = @org", new { org }, t);
                return indexed;
            }, cancellationToken);
            total += lines;
            Log.OrgDone(logger, i + 1, orgs.Count, orgId, lines);
        }

        Log.Finished(logger, orgs.Count, total);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Search index: moving {Count} orgs from the shared full-text table to one table per org")]
        public static partial void Started(ILogger logger, int count);

        [LoggerMessage(2, LogLevel.Information, "Search index: org {Done} of {Count} ({OrgId}): {Lines} lines indexed")]
        public static partial void OrgDone(ILogger logger, int done, int count, Guid orgId, long lines);

        [LoggerMessage(3, LogLevel.Information, "Search index: {Count} orgs moved, {Lines} lines indexed in all")]
        public static partial void Finished(ILogger logger, int count, long lines);

        [LoggerMessage(4, LogLevel.Warning, "This SQLite database has {Count} full-text search tables (one per org, and one more per SqliteSearchTableLines lines of an org); each new connection and each new table now costs noticeable schema loading. Consider PostgreSQL (see docs/operations.md, Storage)")]
        public static partial void ManyTables(ILogger logger, long count);

        [LoggerMessage(5, LogLevel.Information, "Search index: {Count} full-text tables set to merge their segments {Automerge} at a time")]
        public static partial void AutomergeSet(ILogger logger, int count, int automerge);
    }
}
