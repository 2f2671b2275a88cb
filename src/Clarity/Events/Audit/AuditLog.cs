using System.Text;
using Clarity.Storage;
using Dapper;
using Npgsql;
using NpgsqlTypes;

namespace Clarity.Events.Audit;

/// <summary>An audit entry as written: the row of <c>audit_entries</c> before it is chained.</summary>
public sealed class AuditRow
{
    public long Id { get; set; }

    public Guid ChainId { get; set; }

    public long? Seq { get; set; }

    public long? Position { get; set; }

    public long At { get; set; }

    public string ActorKind { get; set; } = "";

    public Guid? ActorId { get; set; }

    public string Action { get; set; } = "";

    public string? TargetType { get; set; }

    public string? TargetId { get; set; }

    public string? Entry { get; set; }

    public byte[] Digest { get; set; } = [];

    public byte[]? Hash { get; set; }

    public long? PrunedAt { get; set; }
}

/// <summary>
/// The audit log's write side (<c>audit_entries</c>, <c>audit_state</c>): changes append their entries inside their
/// transaction, just before it commits (<see cref="Changes"/>). SQLite's single writer chains each entry as it inserts it;
/// on PostgreSQL entries are inserted unchained, and the leader's <see cref="AuditChainer"/> chains committed entries
/// (<see cref="ChainAsync"/>), so an org's unrelated writes never wait for each other.
/// </summary>
public sealed class AuditLog(Database db, AuditEntryJson json)
{
    /// <summary>The channel other nodes NOTIFY, after their commits and coalesced, to wake the leader's chainer.</summary>
    public const string AppendedChannel = "clarity_audit_appended";

    /// <summary>The channel the chainer NOTIFYs (at commit) with the newest position: entries were chained.</summary>
    public const string ChainedChannel = "clarity_audit";

    public Database Database => db;

    /// <summary>
    /// SQLite: writes the change's entries in its transaction, each chained as it is inserted. Returns the newest position
    /// chained. (PostgreSQL inserts entries unchained, in the change's last batch: <see cref="PostgresInsert"/>.)
    /// </summary>
    public async Task<long> AppendChainedAsync(Change change, IReadOnlyList<AuditRecord> records)
    {
        var rows = RowsOf(change, records);
        // SQLite: the single writer runs one unit of work at a time, so the chain's head read here is the head this
        // entry follows; a unit of work that rolls back (its savepoint) takes its entries with it.
        long position = 0;
        foreach (var row in rows)
        {
            var head = await change.Connection.QueryFirstOrDefaultAsync<ChainHead>(
                "SELECT seq, hash FROM audit_entries WHERE chain_id = @ChainId AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1", row, change.Transaction);
            position = await change.Connection.ExecuteScalarAsync<long>("SELECT COALESCE(MAX(position), 0) + 1 FROM audit_entries", transaction: change.Transaction);
            row.Seq = (head?.Seq ?? 0) + 1;
            row.Hash = AuditChain.Hash(head is null ? AuditChain.Genesis : head.Hash, row.Seq.Value, row.Digest);
            row.Position = position;
            row.Id = await change.Connection.ExecuteScalarAsync<long>(
                "INSERT INTO audit_entries (chain_id, seq, position, at, actor_kind, actor_id, action, target_type, target_id, entry, digest, hash) " +
                "VALUES (@ChainId, @Seq, @Position, @At, @ActorKind, @ActorId, @Action, @TargetType, @TargetId, @Entry, @Digest, @Hash) RETURNING id",
                row, change.Transaction);
        }

        return position;
    }

    /// <summary>The change's entries as rows to insert: serialised, with their digests.</summary>
    internal List<AuditRow> RowsOf(Change change, IReadOnlyList<AuditRecord> records)
    {
        var rows = new List<AuditRow>(records.Count);
        foreach (var record in records)
        {
            var actor = record.Actor ?? change.Actor;
            var bytes = json.Write(record, actor, change.Now, change.CorrelationId, change.Client);
            rows.Add(new AuditRow
            {
                ChainId = record.OrgId ?? AuditChain.InstanceChain,
                At = change.Now,
                ActorKind = actor.KindName,
                ActorId = actor.Id,
                Action = record.Action,
                TargetType = record.Target?.Type,
                TargetId = record.Target?.Id,
                Entry = Encoding.UTF8.GetString(bytes),
                Digest = AuditChain.Digest(bytes),
            });
        }

        return rows;
    }

    /// <summary>
    /// PostgreSQL: the one statement that inserts the rows unchained, for the change's last batch (with its outbox rows,
    /// and its COMMIT when it has no events; see <see cref="Changes"/>).
    /// </summary>
    internal static NpgsqlBatchCommand PostgresInsert(IReadOnlyList<AuditRow> rows)
    {
        var command = new NpgsqlBatchCommand(
            "INSERT INTO audit_entries (chain_id, at, actor_kind, actor_id, action, target_type, target_id, entry, digest) " +
            "SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bytea[])");
        command.Parameters.Add(new() { Value = rows.Select(r => r.ChainId).ToArray() });
        command.Parameters.Add(new() { Value = rows.Select(r => r.At).ToArray() });
        command.Parameters.Add(new() { Value = rows.Select(r => r.ActorKind).ToArray() });
        command.Parameters.Add(new() { Value = rows.Select(r => r.ActorId).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Uuid });
        command.Parameters.Add(new() { Value = rows.Select(r => r.Action).ToArray() });
        command.Parameters.Add(new() { Value = rows.Select(r => r.TargetType).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        command.Parameters.Add(new() { Value = rows.Select(r => r.TargetId).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        command.Parameters.Add(new() { Value = rows.Select(r => r.Entry).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        command.Parameters.Add(new() { Value = rows.Select(r => r.Digest).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });

        // No NOTIFY here (PostgreSQL serialises the commits of notifying transactions): the chainer is woken after the
        // commit (AuditChainer.Appended), and polls every second regardless.
        return command;
    }

    private sealed class ChainHead
    {
        public long Seq { get; set; }

        public byte[] Hash { get; set; } = [];
    }

    /// <summary>Wakes the leader's chainer from another node (PostgreSQL), outside any change's transaction.</summary>
    public async Task AnnounceAppendedAsync(CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        await c.ExecuteAsync(new CommandDefinition($"SELECT pg_notify('{AppendedChannel}', '')", cancellationToken: ct));
    }

    /// <summary>
    /// PostgreSQL, on the leader: chains committed entries that have none yet, in id order, in one transaction that takes
    /// audit_state's row lock (so passes never interleave, even if two nodes briefly both think they lead). Each entry
    /// gets its chain's next seq and hash and the next global position; the newest position is NOTIFYed at commit.
    /// Returns how many entries it chained.
    /// </summary>
    public Task<int> ChainAsync(int max, CancellationToken ct) =>
        db.WriteAsync(async (c, t) =>
        {
            var last = await c.QuerySingleAsync<long>("SELECT last_position FROM audit_state FOR UPDATE", transaction: t);
            var pending = (await c.QueryAsync<(long Id, Guid ChainId, byte[] Digest)>(
                "SELECT id, chain_id, digest FROM audit_entries WHERE seq IS NULL ORDER BY id LIMIT @max", new { max }, t)).AsList();
            if (pending.Count == 0)
            {
                return 0;
            }

            var chains = pending.Select(p => p.ChainId).Distinct().ToArray();
            var heads = (await c.QueryAsync<(Guid ChainId, long Seq, byte[] Hash)>(
                    "SELECT x.chain_id, h.seq, h.hash FROM unnest(@chains::uuid[]) AS x(chain_id) CROSS JOIN LATERAL " +
                    "(SELECT seq, hash FROM audit_entries a WHERE a.chain_id = x.chain_id AND a.seq IS NOT NULL ORDER BY a.seq DESC LIMIT 1) h",
                    new { chains }, t))
                .ToDictionary(h => h.ChainId, h => (h.Seq, h.Hash));

            var ids = new long[pending.Count];
            var seqs = new long[pending.Count];
            var hashes = new byte[pending.Count][];
            var positions = new long[pending.Count];
            for (var i = 0; i < pending.Count; i++)
            {
                var (id, chain, digest) = pending[i];
                var (seq, previous) = heads.TryGetValue(chain, out var head) ? head : (0L, AuditChain.Genesis.ToArray());
                seq++;
                var hash = AuditChain.Hash(previous, seq, digest);
                heads[chain] = (seq, hash);
                ids[i] = id;
                seqs[i] = seq;
                hashes[i] = hash;
                positions[i] = last + i + 1;
            }

            await using (var update = new NpgsqlCommand(
                "UPDATE audit_entries a SET seq = u.seq, hash = u.hash, position = u.position " +
                "FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bigint[]) AS u(id, seq, hash, position) WHERE a.id = u.id",
                (NpgsqlConnection)c, (NpgsqlTransaction)t))
            {
                update.Parameters.Add(new() { Value = ids });
                update.Parameters.Add(new() { Value = seqs });
                update.Parameters.Add(new() { Value = hashes, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
                update.Parameters.Add(new() { Value = positions });
                await update.ExecuteNonQueryAsync(ct);
            }

            var newest = last + pending.Count;
            await c.ExecuteAsync("UPDATE audit_state SET last_position = @newest", new { newest }, t);
            await c.ExecuteAsync($"SELECT pg_notify('{ChainedChannel}', @payload)",
                new { payload = newest.ToString(System.Globalization.CultureInfo.InvariantCulture) }, t);
            return pending.Count;
        }, ct);

    /// <summary>How many entries wait to be chained (PostgreSQL: the chainer's backlog; SQLite: always 0).</summary>
    public async Task<long> UnchainedAsync(CancellationToken ct)
    {
        if (db.Kind != DatabaseKind.Postgres)
        {
            return 0;
        }

        await using var c = await db.OpenReadAsync(ct);
        return await c.ExecuteScalarAsync<long>(new CommandDefinition("SELECT COUNT(*) FROM audit_entries WHERE seq IS NULL", cancellationToken: ct));
    }

    /// <summary>The newest position chained so far.</summary>
    public async Task<long> NewestPositionAsync(CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.ExecuteScalarAsync<long?>(new CommandDefinition("SELECT MAX(position) FROM audit_entries", cancellationToken: ct)) ?? 0;
    }

    /// <summary>
    /// The oldest entry that still has its payload, by time, from one end of <c>audit_entries_at</c>. Not a
    /// <c>MIN(id) … WHERE at &lt; @cutoff</c>: that is planned as a walk of the primary key that filters on the time
    /// (SQLite always, PostgreSQL with a generic plan), through every tombstone and every entry newer than the cutoff.
    /// </summary>
    internal const string OldestWholeEntrySql = "SELECT MIN(at) FROM audit_entries WHERE entry IS NOT NULL";

    /// <summary>
    /// The entries one retention batch prunes: the <c>@max</c> oldest chained ones before <c>@cutoff</c>, read along
    /// <c>audit_entries_at</c> (in id order it would be a walk of the primary key through every tombstone first).
    /// </summary>
    internal const string PrunedEntriesSql =
        "SELECT id FROM audit_entries WHERE at < @cutoff AND entry IS NOT NULL AND seq IS NOT NULL ORDER BY at LIMIT @max";

    private const string PruneSql = "UPDATE audit_entries SET entry = NULL, pruned_at = @now WHERE id IN (" + PrunedEntriesSql + ")";

    /// <summary>
    /// Retention: removes the payload of chained entries written before <paramref name="cutoff"/> (epoch ms), at most
    /// <paramref name="max"/> of them, oldest first, keeping digest and hash (a tombstone). Returns how many it pruned.
    /// </summary>
    public async Task<int> PruneAsync(long cutoff, long now, int max, CancellationToken ct)
    {
        await using (var read = await db.OpenReadAsync(ct))
        {
            if (await read.ExecuteScalarAsync<long?>(new CommandDefinition(OldestWholeEntrySql, cancellationToken: ct)) is not { } oldest || oldest >= cutoff)
            {
                return 0;
            }
        }

        return await db.WriteBackgroundAsync((c, t) => c.ExecuteAsync(PruneSql, new { cutoff, now, max }, t), ct);
    }
}
