using System.Data.Common;
using System.Runtime.CompilerServices;
using System.Text;
using Clarity.Features.Tasks;
using Clarity.Storage;
using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;
using NpgsqlTypes;

namespace Clarity.Features.Logs;

/// <summary>
/// Task log lines. Appending and full-text search differ per backend (FTS5 filled per batch on SQLite,
/// a generated tsvector with a GIN index on PostgreSQL); reading back is shared SQL.
/// </summary>
public abstract class LogStore(Database db)
{
    /// <summary>Marks the start and end of a highlighted match inside a snippet (Unicode private use, never in real text after escaping).</summary>
    public const char MarkStart = '\uE000';
    public const char MarkEnd = '\uE001';

    /// <summary>Stands for '&lt;' inside a PostgreSQL snippet, so that ts_headline keeps tag-like text.</summary>
    public const char LessThan = '\uE002';

    public static LogStore Create(Database db) => db.Kind == DatabaseKind.Sqlite ? new SqliteLogStore(db) : new PostgresLogStore(db);

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
    public abstract Task<IReadOnlyList<SearchRow>> SearchAsync(Guid orgId, IReadOnlyList<string> terms, Guid? taskId, long? beforeId, int limit, CancellationToken ct);

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

    private sealed class SqliteLogStore(Database db) : LogStore(db)
    {
        protected override async Task InsertAsync(DbConnection connection, DbTransaction transaction, Guid orgId, Guid taskId, long firstSeq, IReadOnlyList<LogLine> lines)
        {
            var c = (SqliteConnection)connection;
            await using var insert = c.CreateCommand();
            insert.Transaction = (SqliteTransaction)transaction;
            insert.CommandText = "INSERT INTO task_logs (org_id, task_id, seq, ts, level, stream, text) VALUES ($org, $task, $seq, $ts, $level, $stream, $text)";
            insert.Parameters.AddWithValue("$org", orgId.ToString().ToUpperInvariant());
            insert.Parameters.AddWithValue("$task", taskId.ToString().ToUpperInvariant());
            var seq = insert.Parameters.Add("$seq", SqliteType.Integer);
            var ts = insert.Parameters.Add("$ts", SqliteType.Integer);
            var level = insert.Parameters.Add("$level", SqliteType.Text);
            var stream = insert.Parameters.Add("$stream", SqliteType.Text);
            var text = insert.Parameters.Add("$text", SqliteType.Text);
            insert.Prepare();
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
                    firstId = LastRowId(c, transaction);
                }
            }

            var lastId = lines.Count == 1 ? firstId : LastRowId(c, transaction);

            // Index the whole batch with one statement: far cheaper than a trigger per row.
            await using var index = c.CreateCommand();
            index.Transaction = (SqliteTransaction)transaction;
            index.CommandText = "INSERT INTO task_logs_fts (rowid, text) SELECT id, text FROM task_logs WHERE id BETWEEN $first AND $last";
            index.Parameters.AddWithValue("$first", firstId);
            index.Parameters.AddWithValue("$last", lastId);
            index.ExecuteNonQuery();
        }

        private static long LastRowId(SqliteConnection c, DbTransaction t)
        {
            using var cmd = c.CreateCommand();
            cmd.Transaction = (SqliteTransaction)t;
            cmd.CommandText = "SELECT last_insert_rowid()";
            return (long)cmd.ExecuteScalar()!;
        }

        public override async Task<IReadOnlyList<SearchRow>> SearchAsync(Guid orgId, IReadOnlyList<string> terms, Guid? taskId, long? beforeId, int limit, CancellationToken ct)
        {
            var match = string.Join(' ', terms.Select(term => term.EndsWith('*')
                ? Quote(term[..^1]) + "*"
                : Quote(term)));
            var sql =
                "SELECT l.id AS Id, l.task_id AS TaskId, l.seq AS Seq, l.ts AS Ts, l.level AS Level, l.stream AS Stream, " +
                "snippet(task_logs_fts, 0, char(57344), char(57345), '…', 24) AS Snippet " +
                "FROM task_logs_fts JOIN task_logs l ON l.id = task_logs_fts.rowid " +
                "WHERE task_logs_fts MATCH @match AND l.org_id = @orgId";
            if (taskId is not null)
            {
                sql += " AND l.task_id = @taskId";
            }

            if (beforeId is not null)
            {
                sql += " AND task_logs_fts.rowid < @beforeId";
            }

            sql += " ORDER BY task_logs_fts.rowid DESC LIMIT @limit";
            await using var c = await Db.OpenReadAsync(ct);
            return (await c.QueryAsync<SearchRow>(sql, new { match, orgId, taskId, beforeId, limit })).AsList();
        }

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

        public override async Task<IReadOnlyList<SearchRow>> SearchAsync(Guid orgId, IReadOnlyList<string> terms, Guid? taskId, long? beforeId, int limit, CancellationToken ct)
        {
            // Each word becomes a lexeme ANDed with the others; 'word*' becomes a prefix match (word:*).
            var query = string.Join(" & ", terms.Select(term => term.EndsWith('*')
                ? Lexeme(term[..^1]) + ":*"
                : Lexeme(term)));
            var sql =
                "SELECT l.id AS Id, l.task_id AS TaskId, l.seq AS Seq, l.ts AS Ts, l.level AS Level, l.stream AS Stream, " +
                // ts_headline's parser drops anything that looks like an HTML tag, so '<' goes in as a marker and comes back
                // out as "&lt;" (SnippetHtml). MaxFragments stays 0: fragment mode shrinks a long line's snippet to the bare match.
                "ts_headline('simple', replace(l.text, '<', chr(57346)), q.query, format('StartSel=%s, StopSel=%s, MaxWords=24, MinWords=8', chr(57344), chr(57345))) AS Snippet " +
                "FROM task_logs l, (SELECT to_tsquery('simple', @query) AS query) q " +
                "WHERE l.text_tsv @@ q.query AND l.org_id = @orgId";
            if (taskId is not null)
            {
                sql += " AND l.task_id = @taskId";
            }

            if (beforeId is not null)
            {
                sql += " AND l.id < @beforeId";
            }

            sql += " ORDER BY l.id DESC LIMIT @limit";
            await using var c = await Db.OpenReadAsync(ct);
            return (await c.QueryAsync<SearchRow>(sql, new { query, orgId, taskId, beforeId, limit })).AsList();
        }

        // A quoted lexeme: to_tsquery then normalises it exactly as to_tsvector('simple') did the text.
        private static string Lexeme(string term) => "'" + term.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "''", StringComparison.Ordinal) + "'";
    }
}

public static class SnippetHtml
{
    /// <summary>HTML-escapes a snippet and turns the match markers into &lt;mark&gt; elements.</summary>
    public static string Render(string snippet)
    {
        var sb = new StringBuilder(snippet.Length + 32);
        foreach (var ch in snippet)
        {
            sb.Append(ch switch
            {
                LogStore.MarkStart => "<mark>",
                LogStore.MarkEnd => "</mark>",
                LogStore.LessThan => "&lt;",
                '<' => "&lt;",
                '>' => "&gt;",
                '&' => "&amp;",
                '"' => "&quot;",
                _ => ch.ToString(),
            });
        }

        return sb.ToString();
    }
}
