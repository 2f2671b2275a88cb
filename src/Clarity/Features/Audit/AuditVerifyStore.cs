using System.Data.Common;
using System.Runtime.CompilerServices;
using Clarity.Events.Audit;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Audit;

/// <summary>A chain's head as stored: its last chained seq and hash.</summary>
public sealed record ChainHead(Guid ChainId, long Seq, byte[] Hash);

/// <summary>What the dashboard shows of a chain: how far the last verification got, and the last checkpoint.</summary>
public sealed record ChainState(Guid ChainId, long? VerifiedSeq, DateTimeOffset? VerifiedAt, string? VerifiedDamage, long? CheckpointSeq, DateTimeOffset? CheckpointAt, byte[]? CheckpointHash);

/// <summary>
/// Verification's reads of <c>audit_entries</c> (in sequence order, streamed) and its own state: <c>audit_chain_state</c>
/// (last verification and last checkpoint per chain) and <c>audit_consumers</c> (durable cursors of forwarders).
/// </summary>
public sealed class AuditVerifyStore(Database db)
{
    public Database Database => db;

    /// <summary>The chain's chained rows in seq order, streamed (one statement: one snapshot).</summary>
    public async IAsyncEnumerable<AuditChainRow> ReadChainAsync(Guid chainId, long afterSeq, [EnumeratorCancellation] CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        await foreach (var row in ReadChainAsync(c, null, chainId, afterSeq, ct))
        {
            yield return row;
        }
    }

    /// <summary>The same read on a connection (and transaction) of the caller's.</summary>
    public static async IAsyncEnumerable<AuditChainRow> ReadChainAsync(
        DbConnection c, DbTransaction? t, Guid chainId, long afterSeq, [EnumeratorCancellation] CancellationToken ct)
    {
        var rows = c.QueryUnbufferedAsync<AuditRow>(
            "SELECT seq, at, actor_kind AS ActorKind, actor_id AS ActorId, action, target_type AS TargetType, target_id AS TargetId, entry, digest, hash " +
            "FROM audit_entries WHERE chain_id = @chainId AND seq > @afterSeq ORDER BY seq",
            new { chainId, afterSeq }, t);
        await foreach (var r in rows.WithCancellation(ct))
        {
            // Chained rows only (seq > afterSeq), so seq is set.
            yield return new AuditChainRow(r.Seq!.Value, r.At, r.ActorKind, r.ActorId, r.Action, r.TargetType, r.TargetId, r.Entry, r.Digest, r.Hash);
        }
    }

    /// <summary>Every chain that has entries.</summary>
    public async Task<IReadOnlyList<Guid>> ChainsAsync(CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<Guid>(new CommandDefinition("SELECT DISTINCT chain_id FROM audit_entries ORDER BY chain_id", cancellationToken: ct))).AsList();
    }

    public async Task<ChainHead> HeadAsync(Guid chainId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var head = await c.QueryFirstOrDefaultAsync<HeadRow>(new CommandDefinition(
            "SELECT seq, hash FROM audit_entries WHERE chain_id = @chainId AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1", new { chainId }, cancellationToken: ct));
        return head is null ? new ChainHead(chainId, 0, AuditChain.Genesis.ToArray()) : new ChainHead(chainId, head.Seq, head.Hash);
    }

    /// <summary>An org by slug or id: (id, slug), or null.</summary>
    public async Task<(Guid Id, string Slug)?> FindOrgAsync(string slugOrId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var org = Guid.TryParse(slugOrId, out var id)
            ? await c.QueryFirstOrDefaultAsync<OrgRow>(new CommandDefinition("SELECT id, slug FROM orgs WHERE id = @id", new { id }, cancellationToken: ct))
            : await c.QueryFirstOrDefaultAsync<OrgRow>(new CommandDefinition("SELECT id, slug FROM orgs WHERE slug = @slugOrId", new { slugOrId }, cancellationToken: ct));
        return org is null ? null : (org.Id, org.Slug);
    }

    public async Task<IReadOnlyDictionary<Guid, string>> OrgSlugsAsync(CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<OrgRow>(new CommandDefinition("SELECT id, slug FROM orgs", cancellationToken: ct))).ToDictionary(o => o.Id, o => o.Slug);
    }

    public async Task<ChainState> StateAsync(Guid chainId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var row = await c.QueryFirstOrDefaultAsync<StateRow>(new CommandDefinition(
            "SELECT verified_seq AS VerifiedSeq, verified_at AS VerifiedAt, verified_damage AS VerifiedDamage, checkpoint_seq AS CheckpointSeq, checkpoint_at AS CheckpointAt, checkpoint_hash AS CheckpointHash " +
            "FROM audit_chain_state WHERE chain_id = @chainId", new { chainId }, cancellationToken: ct));
        return row is null
            ? new ChainState(chainId, null, null, null, null, null, null)
            : new ChainState(chainId, row.VerifiedSeq, DbTime.FromDb(row.VerifiedAt), row.VerifiedDamage, row.CheckpointSeq, DbTime.FromDb(row.CheckpointAt), row.CheckpointHash);
    }

    public Task RecordVerifiedAsync(Guid chainId, long seq, string? damage, long at, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync(
            "INSERT INTO audit_chain_state (chain_id, verified_seq, verified_at, verified_damage) VALUES (@chainId, @seq, @at, @damage) " +
            "ON CONFLICT (chain_id) DO UPDATE SET verified_seq = excluded.verified_seq, verified_at = excluded.verified_at, verified_damage = excluded.verified_damage",
            new { chainId, seq, at, damage }, t), ct);

    public Task RecordCheckpointAsync(Guid chainId, long seq, byte[] hash, long at, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync(
            "INSERT INTO audit_chain_state (chain_id, checkpoint_seq, checkpoint_hash, checkpoint_at) VALUES (@chainId, @seq, @hash, @at) " +
            "ON CONFLICT (chain_id) DO UPDATE SET checkpoint_seq = excluded.checkpoint_seq, checkpoint_hash = excluded.checkpoint_hash, checkpoint_at = excluded.checkpoint_at",
            new { chainId, seq, hash, at }, t), ct);

    /// <summary>A forwarder's cursor: the last position it delivered (0 before the first).</summary>
    public async Task<long> CursorAsync(string consumer, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.ExecuteScalarAsync<long?>(new CommandDefinition(
            "SELECT position FROM audit_consumers WHERE name = @consumer", new { consumer }, cancellationToken: ct)) ?? 0;
    }

    public Task SaveCursorAsync(string consumer, long position, long at, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync(
            "INSERT INTO audit_consumers (name, position, updated_at) VALUES (@consumer, @position, @at) " +
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
            new { consumer, position, at }, t), ct);

    /// <summary>Chained entries after <paramref name="position"/>, in position order (the forwarders' read).</summary>
    public async Task<IReadOnlyList<ForwardRow>> AfterPositionAsync(long position, int max, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<ForwardRow>(new CommandDefinition(
            "SELECT position, chain_id AS ChainId, seq, at, action, entry, hash FROM audit_entries " +
            "WHERE position > @position ORDER BY position LIMIT @max", new { position, max }, cancellationToken: ct))).AsList();
    }

    private sealed class HeadRow
    {
        public long Seq { get; set; }

        public byte[] Hash { get; set; } = [];
    }

    private sealed class OrgRow
    {
        public Guid Id { get; set; }

        public string Slug { get; set; } = "";
    }

    private sealed class StateRow
    {
        public long? VerifiedSeq { get; set; }

        public long? VerifiedAt { get; set; }

        public string? VerifiedDamage { get; set; }

        public long? CheckpointSeq { get; set; }

        public long? CheckpointAt { get; set; }

        public byte[]? CheckpointHash { get; set; }
    }
}

/// <summary>A chained entry as the forwarders read it.</summary>
public sealed class ForwardRow
{
    public long Position { get; set; }

    public Guid ChainId { get; set; }

    public long Seq { get; set; }

    public long At { get; set; }

    public string Action { get; set; } = "";

    public string? Entry { get; set; }

    public byte[] Hash { get; set; } = [];
}
