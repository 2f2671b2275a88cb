using System.Data.Common;
using System.Globalization;
using System.Runtime.CompilerServices;
using Clarity.Features.Tasks;
using Clarity.Storage;
using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;
using NpgsqlTypes;

namespace Clarity.Features.Logs;

/// <summary>
/// Task log lines. Appending and full-text search differ per backend; reading back is shared SQL. A search only
/// ever touches the searching org's own index entries: on SQLite each org has its own FTS5 table, filled per
/// batch; on PostgreSQL a generated tsvector is indexed together with the org id in one GIN index.
/// </summary>
public abstract class LogStore(Database db)
{
    /// <param name="db">The database.</param>
    /// <param name="sqliteTableLines">
    /// On SQLite, the lines an org's newest full-text table takes before the next one starts
    /// (<see cref="Hosting.ClarityOptions.SqliteSearchTableLines"/>).
    /// </param>
    public static LogStore Create(Database db, int sqliteTableLines) =>
        db is SqliteDatabase sqlite ? new SqliteLogStore(sqlite, sqliteTableLines) : new PostgresLogStore(db);

    /// <summary>
    /// Lines per SQLite full-text table. A prefix query costs FTS5 in proportion to the lines of one table that match
    /// it (docs/benchmarks.md: 17–20 ms p95 at one million lines, 185 ms at ten million); a word query costs little per
    /// table, so a search that reads every table of a ten-million-line org still takes a few milliseconds.
    /// </summary>
    public const int DefaultSqliteTableLines = 1_000_000;

    /// <summary>Characters of log text a chunk of <see cref="ReadChunksAsync"/> aims at (about 1 MiB in memory).</summary>
    public const int ChunkChars = 512 * 1024;

    // The first chunk knows nothing of the line lengths: 32 lines of the longest kind (64 KiB) are 2 MiB of text.
    private const int FirstChunkRows = 32;
    private const int MaxChunkRows = 2000;

    protected Database Db => db;

    public enum AppendStatus
    {
        Appended,
        TaskNotFound,
        TaskFinished,
    }

    /// <summary>Appends lines to an unfinished task, assigning the next sequence numbers in one transaction.</summary>
    /// <summary>Appends lines to an unfinished task inside the change: the task reserves the sequence numbers (Tasks owns the row), then the lines are written.</summary>
    public async Task<(AppendStatus Status, long FirstSeq, long LastSeq)> AppendAsync(Change change, Guid orgId, Guid taskId, IReadOnlyList<LogLine> lines)
    {
        var (c, t) = (change.Connection, change.Transaction);
        if (await TaskStore.ReserveLogSeqAsync(change, orgId, taskId, lines.Count) is not { } last)
        {
            var exists = await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM tasks WHERE org_id = @orgId AND id = @taskId", new { orgId, taskId }, t);
            return (exists == 0 ? AppendStatus.TaskNotFound : AppendStatus.TaskFinished, 0L, 0L);
        }

        var first = last - lines.Count + 1;
        await InsertAsync(c, t, orgId, taskId, first, lines);
        return (AppendStatus.Appended, first, last);
    }

    public async Task<bool> TaskExistsAsync(Guid orgId, Guid taskId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM tasks WHERE org_id = @orgId AND id = @taskId", new { orgId, taskId }) > 0;
    }

    protected abstract Task InsertAsync(DbConnection connection, DbTransaction transaction, Guid orgId, Guid taskId, long firstSeq, IReadOnlyList<LogLine> lines);

    /// <summary>
    /// The first <paramref name="limit"/> lines after <paramref name="afterSeq"/>, read in chunks of about
    /// <see cref="ChunkChars"/> characters of text each, so that a reader that stops early (at a byte budget) has read
    /// little more than it used. Each chunk is read on a connection of its own and returned after that connection has
    /// gone back to the pool: no connection is held while the caller writes a chunk out to a slow client.
    /// </summary>
    public async IAsyncEnumerable<IReadOnlyList<LogEntry>> ReadChunksAsync(Guid orgId, Guid taskId, long afterSeq, int limit, [EnumeratorCancellation] CancellationToken ct)
    {
        var rows = Math.Min(limit, FirstChunkRows);
        while (limit > 0)
        {
            var chunk = await ReadAsync(orgId, taskId, afterSeq, rows, ct);
            if (chunk.Count == 0)
            {
                yield break;
            }

            yield return chunk;
            if (chunk.Count < rows)
            {
                yield break;
            }

            limit -= chunk.Count;
            afterSeq = chunk[^1].Seq;

            // Size the next chunk from this one's lines (64 characters per line stand for the other columns).
            var chars = chunk.Sum(e => (long)e.Text.Length + 64);
            rows = (int)Math.Clamp(ChunkChars * chunk.Count / chars, 16, MaxChunkRows);
            rows = Math.Min(rows, limit);
        }
    }

    public async Task<IReadOnlyList<LogEntry>> ReadAsync(Guid orgId, Guid taskId, long afterSeq, int limit, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var rows = await c.QueryAsync<LogRow>(
            "SELECT seq AS Seq, ts AS Ts, level AS Level, stream AS Stream, text AS Text FROM task_logs " +
            "WHERE task_id = @taskId AND org_id = @orgId AND seq > @afterSeq ORDER BY seq LIMIT @limit",
            new { orgId, taskId, afterSeq, limit });
        return rows.Select(r => new LogEntry(r.Seq, DbTime.FromDb(r.Ts), r.Level, r.Stream, r.Text)).ToList();
    }

    /// <summary>Full-text search across an org's logs, newest first. <paramref name="terms"/> are plain words; a trailing * on a word matches by prefix.</summary>
    public async Task<IReadOnlyList<SearchRow>> SearchAsync(Guid orgId, IReadOnlyList<string> terms, Guid? taskId, long? beforeId, int limit, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var rows = new List<SearchRow>();
        while (true)
        {
            await using var statement = await SearchStatementAsync(c, orgId, terms, taskId, beforeId, limit - rows.Count, ct);
            if (statement is null)
            {
                return rows;
            }

            await using (var reader = await statement.Command.ExecuteReaderAsync(ct))
            {
                rows.AddRange(reader.Parse<SearchRow>());
            }

            if (rows.Count >= limit || statement.ThenBefore is not { } older)
            {
                return rows;
            }

            beforeId = older;
        }
    }

    /// <summary>
    /// The statement a search runs next on <paramref name="connection"/>, or null when nothing can match. When it
    /// does not cover every line older than <paramref name="beforeId"/> (SQLite: an org with more full-text tables
    /// than one statement reads), <see cref="SearchStatement.ThenBefore"/> is where the next one starts if this one
    /// does not fill the page. Separate so that tests can measure the work a statement does (SQLite's VM steps,
    /// PostgreSQL's buffers).
    /// </summary>
    internal abstract Task<SearchStatement?> SearchStatementAsync(DbConnection connection, Guid orgId, IReadOnlyList<string> terms, Guid? taskId, long? beforeId, int limit, CancellationToken ct);

    internal sealed record SearchStatement(DbCommand Command, long? ThenBefore = null) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Command.DisposeAsync();
    }

    public sealed record SeqRow(long LogSeq);

    public sealed record LogRow(long Seq, long Ts, string Level, string Stream, string Text);

    /// <summary>
    /// A search hit as read. A class with setters, not a positional record: with no rows, SQLite reports the
    /// snippet() column as a BLOB, and Dapper then finds no constructor to match and throws.
    /// </summary>
    public sealed class SearchRow
    {
        public long Id { get; set; }
        public Guid TaskId { get; set; }
        public long Seq { get; set; }
        public long Ts { get; set; }
        public string Level { get; set; } = "";
        public string Stream { get; set; } = "";
        public string Snippet { get; set; } = "";
    }

    /// <summary>
    /// One of the SQLite FTS5 tables that index an org's lines: part 0 (<c>log_search_&lt;org&gt;</c>) exists once the
    /// org has logged a line, and part N (<c>log_search_&lt;org&gt;_N</c>) once part N-1 is full. Table
    /// <c>log_search_tables</c> lists them (migration 0027).
    /// </summary>
    internal static string SqliteSearchTable(Guid orgId, long part = 0) =>
        "log_search_" + orgId.ToString("N") + (part == 0 ? "" : "_" + part.ToString(CultureInfo.InvariantCulture));

    /// <summary>
    /// Creates one of an org's FTS5 tables. External content: the text stays in task_logs, read through the view
    /// log_search_text (which escapes the snippet markers); columnsize=0 because results come newest first, never
    /// ranked by bm25, so the per-row size table would only cost an insert per line. Then
    /// <see cref="SqliteSearchAutomerge"/>.
    /// </summary>
    internal static string SqliteCreateSearchTable(Guid orgId, long part = 0) =>
        $"CREATE VIRTUAL TABLE IF NOT EXISTS {SqliteSearchTable(orgId, part)} USING fts5(text, content = 'log_search_text', content_rowid = 'id', tokenize = 'unicode61', columnsize = 0); " +
        SqliteSetAutomerge(SqliteSearchTable(orgId, part));

    /// <summary>
    /// How many segments of one size an org's FTS5 table gathers before it merges them into one of the next size
    /// (FTS5's <c>automerge</c>; its default is 4). Every commit that indexes lines writes them as a new segment, and
    /// each merge writes every line of its segments again: the fewer merges, the less an appended line costs the one
    /// writer, where the merges were a quarter of its time under ingestion. A search reads more segments in exchange,
    /// at most this many per size (docs/benchmarks.md, run 18).
    /// </summary>
    internal const int SqliteSearchAutomerge = 16;

    internal static string SqliteSetAutomerge(string table) =>
        $"INSERT INTO {table} ({table}, rank) VALUES ('automerge', {SqliteSearchAutomerge})";

    private sealed class SqliteLogStore(SqliteDatabase db, int tableLines) : LogStore(db)
    {
        protected override async Task InsertAsync(DbConnection connection, DbTransaction transaction, Guid orgId, Guid taskId, long firstSeq, IReadOnlyList<LogLine> lines)
        {
            // Commands made through DbConnection.CreateCommand: on the writer's connection they reuse prepared statements
            // (StatementCachingConnection), so an append parses none of these statements again.
            var org = orgId.ToString().ToUpperInvariant();
            await using var insert = connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = "INSERT INTO task_logs (org_id, task_id, seq, ts, level, stream, text) VALUES ($org, $task, $seq, $ts, $level, $stream, $text)";
            insert.Parameters.Add(new SqliteParameter("$org", org));
            insert.Parameters.Add(new SqliteParameter("$task", taskId.ToString().ToUpperInvariant()));
            var seq = new SqliteParameter("$seq", SqliteType.Integer);
            var ts = new SqliteParameter("$ts", SqliteType.Integer);
            var level = new SqliteParameter("$level", SqliteType.Text);
            var stream = new SqliteParameter("$stream", SqliteType.Text);
            var text = new SqliteParameter("$text", SqliteType.Text);
            insert.Parameters.AddRange(new[] { seq, ts, level, stream, text });
            long firstId = 0;
            for (var i = 0; i < lines.Count; i++)
            {
                seq.Value = firstSeq + i;
                ts.Value = lines[i].Ts;
                level.Value = lines[i].Level;
                stream.Value = lines[i].Stream;
                text.Value = lines[i].Text;
                insert.ExecuteNonQuery();
                if (i == 0)
                {
                    firstId = LastRowId(connection, transaction);
                }
            }

            var lastId = lines.Count == 1 ? firstId : LastRowId(connection, transaction);

            // The org's full-text table takes the batch at the end of the group commit, with the lines of the group's other
            // appends to it: one statement, and one FTS5 segment, per table and group (see SearchIndexWork).
            var (part, isNew) = TablePartForBatch(connection, transaction, org, firstId, lines.Count);
            if (isNew)
            {
                await using var create = connection.CreateCommand();
                create.Transaction = transaction;
                create.CommandText = SqliteCreateSearchTable(orgId, part);
                create.ExecuteNonQuery();
            }

            var escape = false;
            foreach (var line in lines)
            {
                escape |= SnippetHtml.NeedsEscape(line.Text);
            }

            db.AtGroupEnd(new SearchIndexWork(SqliteSearchTable(orgId, part), firstId, lastId, escape));
        }

        /// <summary>
        /// Indexes the lines that a group's appends wrote into one of an org's full-text tables, with one statement at the
        /// end of the group. FTS5 writes what it holds in memory out as a segment at every savepoint, and every unit of
        /// work runs in one; indexing each append in its own unit made a segment of each batch, and the segment merges
        /// that followed were most of what an append cost the writer (docs/benchmarks.md, run 18). The lines are read
        /// by id ranges (the appends' own, contiguous ones joined), through the view the table reads its content from,
        /// so the index and the snippets see the same text; when no line holds a snippet marker to escape, the view's
        /// text is the stored text, which is then read directly.
        /// </summary>
        private sealed class SearchIndexWork(string table, long firstId, long lastId, bool escape) : SqliteDatabase.GroupWork
        {
            private readonly List<(long First, long Last)> _ranges = [(firstId, lastId)];
            private bool _escape = escape;

            public override string Key => table;

            public override void Merge(SqliteDatabase.GroupWork later)
            {
                var other = (SearchIndexWork)later;
                _escape |= other._escape;
                foreach (var range in other._ranges)
                {
                    if (range.First == _ranges[^1].Last + 1)
                    {
                        _ranges[^1] = (_ranges[^1].First, range.Last);
                    }
                    else
                    {
                        _ranges.Add(range);
                    }
                }
            }

            public override void Run(SqliteConnection connection, SqliteTransaction transaction)
            {
                using var index = connection.CreateCommand();
                index.Transaction = transaction;
                var source = _escape ? "log_search_text" : "task_logs";
                if (_ranges.Count == 1)
                {
                    index.CommandText = $"INSERT INTO {table} (rowid, text) SELECT id, text FROM {source} WHERE id BETWEEN $first AND $last";
                    index.Parameters.AddWithValue("$first", _ranges[0].First);
                    index.Parameters.AddWithValue("$last", _ranges[0].Last);
                }
                else
                {
                    // Appends of other orgs came in between: the ranges as a JSON array of [first, last] pairs, read in order.
                    index.CommandText =
                        $"INSERT INTO {table} (rowid, text) SELECT s.id, s.text FROM json_each($ranges) r " +
                        $"CROSS JOIN {source} s ON s.id BETWEEN r.value ->> 0 AND r.value ->> 1";
                    index.Parameters.AddWithValue("$ranges", "[" + string.Join(',', _ranges.Select(r => string.Create(CultureInfo.InvariantCulture, $"[{r.First},{r.Last}]"))) + "]");
                }

                index.ExecuteNonQuery();
            }
        }

        /// <summary>
        /// The part of the org's full-text table that takes a batch, counted in <c>log_search_tables</c>: the newest
        /// one while it holds fewer than <c>tableLines</c> lines (a batch may take it a little past that), else a new
        /// one, for the caller to create in this transaction. An org's first batch starts part 0. One statement in the
        /// common case.
        /// </summary>
        private (long Part, bool IsNew) TablePartForBatch(DbConnection c, DbTransaction t, string org, long firstId, int count)
        {
            var grown = Scalar(
                c, t,
                "UPDATE log_search_tables SET lines = lines + $count " +
                "WHERE org_id = $org AND part = (SELECT max(part) FROM log_search_tables WHERE org_id = $org) AND lines < $max RETURNING part",
                ("$org", org), ("$count", count), ("$max", tableLines));
            if (grown is long part)
            {
                return (part, false);
            }

            var started = Scalar(
                c, t,
                "INSERT INTO log_search_tables (org_id, part, first_id, lines) " +
                "SELECT $org, coalesce(max(part) + 1, 0), $first, $count FROM log_search_tables WHERE org_id = $org RETURNING part",
                ("$org", org), ("$first", firstId), ("$count", count));
            return ((long)started!, true);
        }

        private static long LastRowId(DbConnection c, DbTransaction t) => (long)Scalar(c, t, "SELECT last_insert_rowid()")!;

        /// <summary>The first column of the first row, on the writer's connection (a prepared statement it caches).</summary>
        private static object? Scalar(DbConnection c, DbTransaction t, string sql, params (string Name, object Value)[] parameters)
        {
            using var command = c.CreateCommand();
            command.Transaction = t;
            command.CommandText = sql;
            foreach (var (name, value) in parameters)
            {
                command.Parameters.Add(new SqliteParameter(name, value));
            }

            return command.ExecuteScalar();
        }

        /// <summary>
        /// The most full-text tables one search statement reads, well under SQLite's limit of 500 terms in a compound
        /// SELECT: a hundred million lines at the default table size. An org with more is read in several statements.
        /// </summary>
        internal const int TablesPerStatement = 100;

        internal override async Task<SearchStatement?> SearchStatementAsync(DbConnection connection, Guid orgId, IReadOnlyList<string> terms, Guid? taskId, long? beforeId, int limit, CancellationToken ct)
        {
            var c = (SqliteConnection)connection;
            var org = orgId.ToString().ToUpperInvariant();

            // The org's tables, newest first. An org that has never logged a line has none, and nothing to find. A table
            // that starts at or above the cursor holds nothing older than it: leaving it out spares its doclist merge.
            var parts = new List<(long Part, long FirstId)>();
            long? thenBefore = null;
            await using (var list = c.CreateCommand())
            {
                list.CommandText = "SELECT part, first_id FROM log_search_tables WHERE org_id = $org AND first_id < $before ORDER BY part DESC LIMIT $tables";
                list.Parameters.AddWithValue("$org", org);
                list.Parameters.AddWithValue("$before", beforeId ?? long.MaxValue);
                list.Parameters.AddWithValue("$tables", TablesPerStatement + 1);
                await using var reader = await list.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    parts.Add((reader.GetInt64(0), reader.GetInt64(1)));
                }
            }

            if (parts.Count == 0)
            {
                return null;
            }

            if (parts.Count > TablesPerStatement)
            {
                // Older tables remain: the next statement reads them, below the oldest line this one can reach.
                parts.RemoveAt(TablesPerStatement);
                thenBefore = parts[^1].FirstId;
            }

            // One SELECT per table, newest table first, each newest first and limited to the page. UNION ALL runs them
            // in that order and stops at the outer LIMIT: once the newest tables have filled the page, the older ones
            // are never read. (An outer ORDER BY would instead start every table's query before returning a row.)
            var selects = parts.Select(p => Select(SqliteSearchTable(orgId, p.Part), taskId is not null, beforeId is not null)).ToList();
            var command = c.CreateCommand();
            command.CommandText = selects.Count == 1
                ? selects[0]
                : string.Join(" UNION ALL ", selects.Select(select => $"SELECT * FROM ({select})")) + " LIMIT $limit";

            // Quoted words (FTS5 strings), escaped as the indexed text was; 'word*' is a prefix query.
            var match = string.Join(' ', terms.Select(term => term.EndsWith('*')
                ? Quote(SnippetHtml.Escape(term[..^1])) + "*"
                : Quote(SnippetHtml.Escape(term))));
            command.Parameters.AddWithValue("$match", match);
            command.Parameters.AddWithValue("$org", org);
            if (taskId is not null)
            {
                command.Parameters.AddWithValue("$task", taskId.Value.ToString().ToUpperInvariant());
            }

            if (beforeId is not null)
            {
                command.Parameters.AddWithValue("$before", beforeId.Value);
            }

            command.Parameters.AddWithValue("$limit", limit);
            return new SearchStatement(command, thenBefore);
        }

        /// <summary>The newest-first search of one full-text table.</summary>
        private static string Select(string table, bool byTask, bool beforeCursor) =>
            "SELECT l.id AS Id, l.task_id AS TaskId, l.seq AS Seq, l.ts AS Ts, l.level AS Level, l.stream AS Stream, " +
            $"snippet({table}, 0, char(57344), char(57345), '…', 24) AS Snippet " +
            $"FROM {table} JOIN task_logs l ON l.id = {table}.rowid " +
            // The org test is redundant (the table holds only this org's lines) and costs nothing: the row is read anyway.
            $"WHERE {table} MATCH $match AND l.org_id = $org" +
            (byTask ? " AND l.task_id = $task" : "") +
            (beforeCursor ? $" AND {table}.rowid < $before" : "") +
            $" ORDER BY {table}.rowid DESC LIMIT $limit";

        private static string Quote(string term) => "\"" + term.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }

    private sealed class PostgresLogStore(Database db) : LogStore(db)
    {
        protected override async Task InsertAsync(DbConnection connection, DbTransaction transaction, Guid orgId, Guid taskId, long firstSeq, IReadOnlyList<LogLine> lines)
        {
            var seqs = new long[lines.Count];
            var ts = new long[lines.Count];
            var levels = new string[lines.Count];
            var streams = new string[lines.Count];
            var texts = new string[lines.Count];
            for (var i = 0; i < lines.Count; i++)
            {
                seqs[i] = firstSeq + i;
                ts[i] = lines[i].Ts;
                levels[i] = lines[i].Level;
                streams[i] = lines[i].Stream;
                texts[i] = lines[i].Text;
            }

            await using var insert = new NpgsqlCommand(
                "INSERT INTO task_logs (org_id, task_id, seq, ts, level, stream, text) " +
                "SELECT @org, @task, s, t, l, st, x FROM unnest(@seqs, @ts, @levels, @streams, @texts) AS u(s, t, l, st, x)",
                (NpgsqlConnection)connection, (NpgsqlTransaction)transaction);
            insert.Parameters.AddWithValue("org", orgId);
            insert.Parameters.AddWithValue("task", taskId);
            insert.Parameters.AddWithValue("seqs", NpgsqlDbType.Array | NpgsqlDbType.Bigint, seqs);
            insert.Parameters.AddWithValue("ts", NpgsqlDbType.Array | NpgsqlDbType.Bigint, ts);
            insert.Parameters.AddWithValue("levels", NpgsqlDbType.Array | NpgsqlDbType.Text, levels);
            insert.Parameters.AddWithValue("streams", NpgsqlDbType.Array | NpgsqlDbType.Text, streams);
            insert.Parameters.AddWithValue("texts", NpgsqlDbType.Array | NpgsqlDbType.Text, texts);
            await insert.ExecuteNonQueryAsync();
        }

        internal override Task<SearchStatement?> SearchStatementAsync(DbConnection connection, Guid orgId, IReadOnlyList<string> terms, Guid? taskId, long? beforeId, int limit, CancellationToken ct)
        {
            // Each word becomes a lexeme ANDed with the others; 'word*' becomes a prefix match (word:*). The match runs on
            // the text as stored; the headline on the escaped text, so it is given the words escaped the same way.
            string TsQuery(Func<string, string> word) => string.Join(" & ", terms.Select(term => term.EndsWith('*')
                ? Lexeme(word(term[..^1])) + ":*"
                : Lexeme(word(term))));
            var command = new NpgsqlCommand
            {
                Connection = (NpgsqlConnection)connection,
                CommandText =
                    "SELECT l.id AS Id, l.task_id AS TaskId, l.seq AS Seq, l.ts AS Ts, l.level AS Level, l.stream AS Stream, " +
                    // ts_headline's parser drops anything that looks like an HTML tag, so '<' goes in as a marker and comes back
                    // out as "&lt;" (SnippetHtml). MaxFragments stays 0: fragment mode shrinks a long line's snippet to the bare match.
                    $"ts_headline('simple', replace({SnippetHtml.PostgresEscape("l.text")}, '<', chr(57346)), q.headline, " +
                    "format('StartSel=%s, StopSel=%s, MaxWords=24, MinWords=8', chr(57344), chr(57345))) AS Snippet " +
                    "FROM task_logs l, (SELECT to_tsquery('simple', @query) AS query, to_tsquery('simple', @headline) AS headline) q " +
                    "WHERE l.org_id = @org AND l.text_tsv @@ q.query",
            };
            command.Parameters.AddWithValue("query", TsQuery(w => w));
            command.Parameters.AddWithValue("headline", TsQuery(SnippetHtml.Escape));
            command.Parameters.AddWithValue("org", orgId);
            if (taskId is not null)
            {
                command.CommandText += " AND l.task_id = @task";
                command.Parameters.AddWithValue("task", taskId.Value);
            }

            if (beforeId is not null)
            {
                command.CommandText += " AND -l.id > -@before";
                command.Parameters.AddWithValue("before", beforeId.Value);
            }

            // Only this org's index entries are ever read: the GIN index on (org_id, text_tsv) finds the matches, or
            // the btree on (org_id, -id) walks the org's lines newest first. Newest first is written ORDER BY -l.id
            // because only that index gives this order: with ORDER BY l.id DESC the planner may instead walk the
            // primary key newest first through every org's lines, filtering by org, whenever its statistics (which
            // count every org's logs: how common a word is anywhere) make that look cheap.
            command.CommandText += " ORDER BY -l.id LIMIT @limit";
            command.Parameters.AddWithValue("limit", limit);
            return Task.FromResult<SearchStatement?>(new SearchStatement(command));
        }

        // A quoted lexeme: to_tsquery then normalises it exactly as to_tsvector('simple') did the text.
        private static string Lexeme(string term) => "'" + term.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "''", StringComparison.Ordinal) + "'";
    }
}
