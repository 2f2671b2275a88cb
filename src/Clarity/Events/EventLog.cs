using System.Data.Common;
using System.Text.Json;
using Clarity.Hosting;
using Clarity.Storage;
using Dapper;
using Npgsql;
using NpgsqlTypes;

namespace Clarity.Events;

/// <summary>
/// One outbox row: an event as stored. <see cref="Seq"/> is its place in the agreed order (0 until sequenced);
/// <see cref="Payload"/> is the event's JSON snapshot (a <c>logs</c> event's lines are not stored; they are read from the log).
/// </summary>
public sealed class EventRow
{
    /// <summary>The row's own id (insertion order on this database; not the agreed order on PostgreSQL).</summary>
    public long RowId { get; set; }

    /// <summary>The agreed order: what stream clients see as the event id and resume from.</summary>
    public long Seq { get; set; }

    public Guid OrgId { get; set; }

    public string Topic { get; set; } = "";

    public string Kind { get; set; } = "";

    public string? Subject { get; set; }

    public string Payload { get; set; } = "";

    public string? ActorKind { get; set; }

    public Guid? ActorId { get; set; }

    public string? CorrelationId { get; set; }

    public long CreatedAt { get; set; }

    /// <summary>The stream's name for the row's order: its seq.</summary>
    public long Id => Seq;

    public static EventRow From(ClarityEvent evt, long now) => new()
    {
        OrgId = evt.OrgId,
        Topic = EventCatalog.TopicOf(evt),
        Kind = EventCatalog.KindOf(evt),
        Subject = evt.Subject,
        Payload = JsonSerializer.Serialize(evt, evt.GetType(), JsonDefaults.Options),
        ActorKind = evt.Actor.KindName,
        ActorId = evt.Actor.Id,
        CorrelationId = evt.CorrelationId,
        CreatedAt = now,
    };

    /// <summary>The typed event, or null for a kind this version does not know (a newer node's, or a retired one).</summary>
    public ClarityEvent? ToEvent()
    {
        if (EventCatalog.TypeOf(Kind) is not { } type)
        {
            return null;
        }

        var evt = (ClarityEvent?)JsonSerializer.Deserialize(Payload, type, JsonDefaults.Options);
        return evt is null ? null : evt with
        {
            OrgId = OrgId,
            CorrelationId = CorrelationId,
            Actor = new Actor(Actor.ParseKind(ActorKind), ActorId),
        };
    }
}

/// <summary>Where the outbox stands: the newest seq assigned, and the highest seq retention has deleted.</summary>
public readonly record struct EventPosition(long NewestId, long PrunedThrough);

/// <summary>
/// The outbox (<c>events</c>, <c>event_state</c>). Changes append their events inside their transaction; readers read
/// sequenced rows in seq order. SQLite's single writer commits in id order, so its appends set seq = id; on
/// PostgreSQL the leader's sequencer (<see cref="SequenceAsync"/>) numbers committed rows.
/// </summary>
public sealed class EventLog(Database db)
{
    /// <summary>The channel other nodes NOTIFY, after their commits and coalesced, to wake the leader's sequencer.</summary>
    public const string AppendedChannel = "clarity_outbox";

    /// <summary>The channel the sequencer NOTIFYs (at commit) with the newest seq, to wake every node's feed.</summary>
    public const string SequencedChannel = "clarity_events";

    private const string Columns =
        "id AS RowId, seq AS Seq, org_id AS OrgId, topic AS Topic, kind AS Kind, subject AS Subject, payload AS Payload, " +
        "actor_kind AS ActorKind, actor_id AS ActorId, correlation_id AS CorrelationId, created_at AS CreatedAt";

    public Database Database => db;

    /// <summary>The newest sequenced rows as this node's feed delivered them, for the consumers on this node to read from memory.</summary>
    public FeedTail Tail { get; } = new();

    /// <summary>Writes the rows inside the change's transaction and returns their row ids.</summary>
    public async Task<IReadOnlyList<long>> AppendAsync(Change change, IReadOnlyList<EventRow> rows)
    {
        if (db.Kind == DatabaseKind.Postgres)
        {
            return await AppendPostgresAsync((NpgsqlConnection)change.Connection, (NpgsqlTransaction)change.Transaction, rows);
        }

        // SQLite: the single writer commits in id order, so seq is the id. AUTOINCREMENT ids come from sqlite_sequence
        // and are never reused, so the insert can write the seq it is about to get, and the row is written once.
        var ids = new List<long>(rows.Count);
        foreach (var row in rows)
        {
            var (id, seq) = await change.Connection.QuerySingleAsync<(long, long)>(
                "INSERT INTO events (org_id, topic, kind, subject, payload, actor_kind, actor_id, correlation_id, created_at, seq) " +
                "VALUES (@OrgId, @Topic, @Kind, @Subject, @Payload, @ActorKind, @ActorId, @CorrelationId, @CreatedAt, " +
                "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0) + 1) RETURNING id, seq",
                row, change.Transaction);
            if (seq != id)
            {
                // Not expected; should the table's sequence ever disagree, the id still decides.
                await change.Connection.ExecuteAsync("UPDATE events SET seq = id WHERE id = @id", new { id }, change.Transaction);
            }

            row.RowId = id;
            row.Seq = id;
            ids.Add(id);
        }

        return ids;
    }

    private static async Task<IReadOnlyList<long>> AppendPostgresAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<EventRow> rows)
    {
        await using var batch = new NpgsqlBatch(connection, transaction);
        batch.BatchCommands.Add(PostgresInsert(rows));
        await using var reader = await batch.ExecuteReaderAsync();
        return await ReadPostgresIdsAsync(reader, rows);
    }

    /// <summary>
    /// PostgreSQL: the one statement that inserts the rows (seq NULL, for the sequencer) and returns their ids in row
    /// order, for the change's last batch (with its audit entries; see <see cref="Changes"/>). Read its result with
    /// <see cref="ReadPostgresIdsAsync"/>.
    /// </summary>
    internal static NpgsqlBatchCommand PostgresInsert(IReadOnlyList<EventRow> rows)
    {
        var insert = new NpgsqlBatchCommand(
            "INSERT INTO events (org_id, topic, kind, subject, payload, actor_kind, actor_id, correlation_id, created_at) " +
            "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::uuid[], $8::text[], $9::bigint[]) RETURNING id");
        insert.Parameters.Add(new() { Value = rows.Select(r => r.OrgId).ToArray() });
        insert.Parameters.Add(new() { Value = rows.Select(r => r.Topic).ToArray() });
        insert.Parameters.Add(new() { Value = rows.Select(r => r.Kind).ToArray() });
        insert.Parameters.Add(new() { Value = rows.Select(r => r.Subject).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        insert.Parameters.Add(new() { Value = rows.Select(r => r.Payload).ToArray() });
        insert.Parameters.Add(new() { Value = rows.Select(r => r.ActorKind).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        insert.Parameters.Add(new() { Value = rows.Select(r => r.ActorId).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Uuid });
        insert.Parameters.Add(new() { Value = rows.Select(r => r.CorrelationId).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        insert.Parameters.Add(new() { Value = rows.Select(r => r.CreatedAt).ToArray() });

        // No NOTIFY here: PostgreSQL serialises the commits of every transaction that notifies. The sequencer is woken
        // after the commit instead (EventSequencer.Appended), and polls every second regardless.
        return insert;
    }

    /// <summary>Reads the ids <see cref="PostgresInsert"/> returned (the reader's current result) into the rows, in order.</summary>
    internal static async Task<IReadOnlyList<long>> ReadPostgresIdsAsync(NpgsqlDataReader reader, IReadOnlyList<EventRow> rows)
    {
        var ids = new List<long>(rows.Count);
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetInt64(0));
        }

        for (var i = 0; i < rows.Count; i++)
        {
            rows[i].RowId = ids[i];
        }

        return ids;
    }

    /// <summary>Wakes the leader's sequencer from another node (PostgreSQL), outside any change's transaction.</summary>
    public async Task AnnounceAppendedAsync(CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        await c.ExecuteAsync(new CommandDefinition($"SELECT pg_notify('{AppendedChannel}', '')", cancellationToken: ct));
    }

    /// <summary>
    /// PostgreSQL, on the leader: numbers committed rows that have no seq yet, oldest row first, in one transaction that
    /// takes event_state's row lock (so passes never interleave, even if two nodes briefly both think they lead), and
    /// NOTIFYs the newest seq at commit. A range of seq thus becomes visible at once, after every lower one, and every
    /// node reads the same order. Returns how many rows it numbered.
    /// </summary>
    public Task<int> SequenceAsync(int max, CancellationToken ct) =>
        db.WriteAsync(async (c, t) =>
        {
            var last = await c.QuerySingleAsync<long>("SELECT last_seq FROM event_state FOR UPDATE", transaction: t);
            var numbered = await c.QueryAsync<long>(
                "UPDATE events e SET seq = @last + n.rn FROM " +
                "(SELECT id, row_number() OVER (ORDER BY id) AS rn FROM (SELECT id FROM events WHERE seq IS NULL ORDER BY id LIMIT @max) x) n " +
                "WHERE e.id = n.id RETURNING e.seq",
                new { last, max }, t);
            var newest = numbered.DefaultIfEmpty(last).Max();
            if (newest == last)
            {
                return 0;
            }

            await c.ExecuteAsync("UPDATE event_state SET last_seq = @newest", new { newest }, t);
            await c.ExecuteAsync($"SELECT pg_notify('{SequencedChannel}', @payload)", new { payload = newest.ToString(System.Globalization.CultureInfo.InvariantCulture) }, t);
            return (int)(newest - last);
        }, ct);

    /// <summary>Sequenced rows after <paramref name="afterSeq"/> in seq order: of one org and some topics (replay), or of everything (a node's feed).</summary>
    public async Task<IReadOnlyList<EventRow>> ReadAfterAsync(long afterSeq, Guid? orgId, IReadOnlyList<string>? topics, int limit, CancellationToken ct)
    {
        var where = "seq > @afterSeq";
        if (orgId is not null)
        {
            where += " AND org_id = @orgId";
        }

        if (topics is not null)
        {
            where += " AND " + db.Dialect.InList("topic", "@topics");
        }

        await using var c = await db.OpenReadAsync(ct);
        var rows = await c.QueryAsync<EventRow>(new CommandDefinition(
            $"SELECT {Columns} FROM events WHERE {where} ORDER BY seq LIMIT @limit",
            new { afterSeq, orgId, topics = topics?.ToArray(), limit }, cancellationToken: ct));
        return rows.AsList();
    }

    /// <summary>The sequenced rows with these seqs, in seq order.</summary>
    public async Task<IReadOnlyList<EventRow>> ReadBySeqAsync(IReadOnlyList<long> seqs, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var rows = await c.QueryAsync<EventRow>(new CommandDefinition(
            $"SELECT {Columns} FROM events WHERE {db.Dialect.InList("seq", "@seqs")} ORDER BY seq", new { seqs = seqs.ToArray() }, cancellationToken: ct));
        return rows.AsList();
    }

    public async Task<EventPosition> PositionAsync(CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var (newest, pruned, last) = await c.QuerySingleAsync<(long, long, long)>(new CommandDefinition(
            "SELECT COALESCE((SELECT MAX(seq) FROM events), 0), pruned_through, last_seq FROM event_state", cancellationToken: ct));
        return new EventPosition(Math.Max(Math.Max(newest, last), pruned), pruned);
    }

    /// <summary>
    /// The oldest event's creation time, from one end of <c>events_created</c>. The stream sweep asks it every second, so
    /// it must not be a <c>MIN(seq) … WHERE created_at &lt; @cutoff</c>: both backends plan that (SQLite always,
    /// PostgreSQL once it uses a generic plan) as a walk of the seq index that filters on the time, which reads every
    /// event when none is old enough.
    /// </summary>
    internal const string OldestEventSql = "SELECT MIN(created_at) FROM events";

    /// <summary>
    /// How far one prune goes: the highest seq among the <c>@batch</c> oldest sequenced events created before
    /// <c>@cutoff</c>, and how many those were, read along <c>events_created</c>. A <c>MAX(seq) … WHERE created_at &lt;
    /// @cutoff</c> would walk the seq index down from the newest event through all the retained ones, every second, on
    /// the writer.
    /// </summary>
    internal const string PruneThroughSql =
        "SELECT MAX(seq) AS Through, COUNT(*) AS Events FROM " +
        "(SELECT seq FROM events WHERE created_at < @cutoff AND seq IS NOT NULL ORDER BY created_at LIMIT @batch) AS oldest";

    /// <summary>How many events one prune transaction deletes at most, so the writer is never held long.</summary>
    internal const int PruneBatch = 2000;

    /// <summary>
    /// Deletes every sequenced event up to the newest one created before <paramref name="cutoff"/> (epoch ms), but none
    /// that a durable consumer (<c>consumer_cursors</c>) has still to read, and records that seq as pruned, in
    /// transactions of at most about <see cref="PruneBatch"/> events each. Deleting a prefix of seq keeps "older than
    /// pruned_through" exact; rows not yet sequenced are never deleted. Returns how many it deleted.
    /// </summary>
    public Task<int> PruneAsync(long cutoff, CancellationToken ct) => PruneAsync(cutoff, PruneBatch, ct);

    /// <summary>As <see cref="PruneAsync(long, CancellationToken)"/>, <paramref name="batch"/> events per transaction.</summary>
    internal async Task<int> PruneAsync(long cutoff, int batch, CancellationToken ct)
    {
        // Most ticks have nothing to prune: find that out on a read connection, without taking the writer.
        await using (var read = await db.OpenReadAsync(ct))
        {
            if (await read.ExecuteScalarAsync<long?>(new CommandDefinition(OldestEventSql, cancellationToken: ct)) is not { } oldest || oldest >= cutoff)
            {
                return 0;
            }
        }

        var total = 0;
        while (true)
        {
            var (deleted, more) = await db.WriteBackgroundAsync(async (c, t) =>
            {
                var (through, events) = await c.QuerySingleAsync<(long?, long)>(PruneThroughSql, new { cutoff, batch }, t);
                if (through is not { } seq)
                {
                    return (0, false);
                }

                // Never past a durable consumer (webhooks) that has not consumed them yet.
                var more = events == batch;
                if (await c.ExecuteScalarAsync<long?>("SELECT MIN(seq) FROM consumer_cursors", transaction: t) is { } consumed && consumed < seq)
                {
                    (seq, more) = (consumed, false);
                    if (seq <= 0)
                    {
                        return (0, false);
                    }
                }

                var deleted = await c.ExecuteAsync("DELETE FROM events WHERE seq <= @seq", new { seq }, t);
                await c.ExecuteAsync("UPDATE event_state SET pruned_through = @seq WHERE pruned_through < @seq", new { seq }, t);
                return (deleted, more);
            }, ct);
            total += deleted;
            if (!more || deleted == 0)
            {
                return total;
            }
        }
    }

    /// <summary>How many rows wait for a seq (PostgreSQL: the sequencer's backlog; SQLite: always 0).</summary>
    public async Task<long> UnsequencedAsync(CancellationToken ct)
    {
        if (db.Kind != DatabaseKind.Postgres)
        {
            return 0;
        }

        await using var c = await db.OpenReadAsync(ct);
        return await c.ExecuteScalarAsync<long>(new CommandDefinition("SELECT COUNT(*) FROM events WHERE seq IS NULL", cancellationToken: ct));
    }

    /// <summary>Reads rows inside a transaction (tests and tools).</summary>
    internal static Task<IEnumerable<EventRow>> ReadAllAsync(DbConnection c) =>
        c.QueryAsync<EventRow>($"SELECT {Columns} FROM events ORDER BY id");
}
