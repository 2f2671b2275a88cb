using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Clarity.Events.Audit;

namespace Clarity.Features.Audit;

/// <summary>The kinds of damage verification names.</summary>
public enum ChainDamage
{
    /// <summary>An entry's bytes, digest, hash or filter columns no longer match.</summary>
    Changed,

    /// <summary>Entries were deleted from the middle of the chain (a gap, or later entries renumbered down).</summary>
    Missing,

    /// <summary>An entry was put into the chain that was not there (later entries renumbered up).</summary>
    Inserted,

    /// <summary>Entries changed places (their sequence numbers were swapped).</summary>
    Reordered,

    /// <summary>The chain is shorter than a checkpoint says it was (its newest entries were deleted).</summary>
    Truncated,

    /// <summary>The chain is consistent but its hash differs from a checkpoint's: entries were rewritten and every later hash recomputed.</summary>
    Recomputed,
}

/// <summary>One chained row of audit_entries, as verification reads it (in sequence order).</summary>
public sealed record AuditChainRow(
    long Seq,
    long At,
    string ActorKind,
    Guid? ActorId,
    string Action,
    string? TargetType,
    string? TargetId,
    string? Entry,
    byte[] Digest,
    byte[]? Hash);

/// <summary>What verifying one chain found.</summary>
public sealed record ChainVerdict(
    Guid ChainId,
    long Entries,
    long LastSeq,
    byte[] Head,
    long VerifiedSeq,
    ChainDamage? Damage,
    long? FirstBadSeq,
    string? Detail,
    long? CheckpointSize)
{
    public bool Intact => Damage is null;
}

/// <summary>
/// Recomputes one audit chain (see docs/architecture.md and the audit contract): feed it the chain's chained rows in
/// sequence order with <see cref="Add"/>, then call <see cref="Finish"/>. For each row it recomputes the digest from the
/// stored entry bytes (unless pruned), the hash from the previous hash, the sequence number and the digest, and checks
/// the filter columns against the entry. At the first break it keeps a compact copy of the rest of the chain to tell
/// what happened (changed, missing, inserted or reordered). Against a checkpoint it also sees truncation and a
/// recomputed tail; without one it cannot: a chain whose newest entries were deleted, or whose entries from some point
/// on were rewritten with freshly computed hashes, is consistent in itself.
/// </summary>
/// <remarks>
/// A verifier may start after a known-good point (<paramref name="startSeq"/> and its hash, from a checkpoint already
/// checked): it then expects the row after it.
/// </remarks>
public sealed class ChainVerifier(Guid chainId, AuditCheckpoint? checkpoint = null, long startSeq = 0, byte[]? startHash = null)
{
    /// <summary>Rows kept after the first break, to classify it.</summary>
    private const int MaxLookahead = 1_000_000;

    private readonly List<Link> _after = [];
    private byte[] _prev = startHash ?? new byte[32];
    private long _expected = startSeq + 1;
    private long _entries;
    private long _lastSeq;
    private byte[]? _hashAtCheckpoint;
    private (ChainDamage Kind, long Seq, string Detail, byte[] Prev)? _break;
    private AuditChainRow? _breakRow;

    public static byte[] ZeroHash => new byte[32];

    /// <summary>SHA-256(prev_hash || seq as 8-byte big-endian || digest).</summary>
    public static byte[] LinkHash(ReadOnlySpan<byte> prev, long seq, ReadOnlySpan<byte> digest) => AuditChain.Hash(prev, seq, digest);

    public void Add(AuditChainRow row)
    {
        _entries++;
        _lastSeq = row.Seq;
        if (_break is not null)
        {
            if (_after.Count < MaxLookahead)
            {
                _after.Add(new Link(row.Seq, row.Digest, row.Hash));
            }

            return;
        }

        if (row.Seq != _expected)
        {
            Broke(row, ChainDamage.Missing, _expected, row.Seq > _expected
                ? $"sequence numbers jump from {_expected - 1} to {row.Seq}: {row.Seq - _expected} entr{(row.Seq - _expected == 1 ? "y is" : "ies are")} missing"
                : $"sequence number {row.Seq} appears out of order");
            return;
        }

        if (row.Hash is not { Length: 32 } || row.Digest is not { Length: 32 })
        {
            Broke(row, ChainDamage.Changed, row.Seq, "its digest or hash is not 32 bytes");
            return;
        }

        if (row.Entry is not null)
        {
            var bytes = Encoding.UTF8.GetBytes(row.Entry);
            if (!SHA256.HashData(bytes).AsSpan().SequenceEqual(row.Digest))
            {
                Broke(row, ChainDamage.Changed, row.Seq, "its entry's bytes do not match its digest");
                return;
            }

            if (ColumnMismatch(row, bytes) is { } column)
            {
                Broke(row, ChainDamage.Changed, row.Seq, $"its {column} column does not match its entry");
                return;
            }
        }

        var hash = LinkHash(_prev, row.Seq, row.Digest);
        if (!hash.AsSpan().SequenceEqual(row.Hash))
        {
            Broke(row, ChainDamage.Changed, row.Seq, "its hash does not follow from the previous hash and its digest");
            return;
        }

        _prev = hash;
        if (checkpoint is not null && row.Seq == checkpoint.Size)
        {
            _hashAtCheckpoint = hash;
        }

        _expected++;
    }

    public ChainVerdict Finish()
    {
        var verified = _expected - 1;
        if (_break is { } b)
        {
            var (kind, seq, detail) = Classify(b.Kind, b.Seq, b.Detail, b.Prev);
            return new ChainVerdict(chainId, _entries, _lastSeq, _prev, Math.Min(verified, seq - 1), kind, seq, detail, checkpoint?.Size);
        }

        if (checkpoint is not null && checkpoint.Size >= startSeq)
        {
            if (checkpoint.Size > verified)
            {
                return new ChainVerdict(chainId, _entries, _lastSeq, _prev, verified, ChainDamage.Truncated, verified + 1,
                    $"the checkpoint of {checkpoint.Time:u} counts {checkpoint.Size} entries; the chain ends at {verified}", checkpoint.Size);
            }

            var expected = checkpoint.Size == startSeq ? (startHash ?? ZeroHash) : _hashAtCheckpoint!;
            if (!expected.AsSpan().SequenceEqual(checkpoint.Hash))
            {
                return new ChainVerdict(chainId, _entries, _lastSeq, _prev, 0, ChainDamage.Recomputed, checkpoint.Size,
                    $"the chain is consistent, but its hash at {checkpoint.Size} differs from the checkpoint of {checkpoint.Time:u}: entries at or before {checkpoint.Size} were rewritten and the hashes after them recomputed",
                    checkpoint.Size);
            }
        }

        return new ChainVerdict(chainId, _entries, _lastSeq, _prev, verified, null, null, null, checkpoint?.Size);
    }

    private void Broke(AuditChainRow row, ChainDamage kind, long seq, string detail)
    {
        _break = (kind, seq, detail, _prev);
        _breakRow = row;
        _after.Add(new Link(row.Seq, row.Digest, row.Hash));
    }

    /// <summary>Tells a changed entry from one inserted, moved, or left behind by a deletion, from the rows after the break.</summary>
    private (ChainDamage, long, string) Classify(ChainDamage kind, long seq, string detail, byte[] prev)
    {
        var row = _breakRow!;
        if (kind != ChainDamage.Changed || detail != "its hash does not follow from the previous hash and its digest" || _after.Count < 2)
        {
            return (kind, seq, detail);
        }

        var first = _after[0];
        var next = _after[1];

        // Some later row holds what belongs at this sequence number: it was moved, or everything from here was pushed up by an insert.
        for (var i = 1; i < _after.Count; i++)
        {
            var m = _after[i];
            if (m.Hash is null || m.Digest.Length != 32)
            {
                continue;
            }

            var link = LinkHash(prev, seq, m.Digest);
            if (!link.AsSpan().SequenceEqual(m.Hash) && !link.AsSpan().SequenceEqual(first.Hash))
            {
                continue;
            }

            // Swapped with its neighbour, this row's hash follows from the neighbour's at the neighbour's number; an inserted row's does not.
            if (i == 1 && !(first.Hash is not null && LinkHash(next.Hash!, next.Seq, first.Digest).AsSpan().SequenceEqual(first.Hash)))
            {
                return (ChainDamage.Inserted, seq, $"an entry was inserted at {seq}: the entry now at {next.Seq} belongs at {seq}");
            }

            return (ChainDamage.Reordered, seq, $"entries were reordered: the entry now at {m.Seq} belongs at {seq}");
        }

        // This row's own hash still leads on to the next row, but only with a larger sequence number: entries before it were deleted and the rest renumbered down.
        if (first.Hash is not null)
        {
            for (var d = 1; d <= 64; d++)
            {
                if (LinkHash(first.Hash, next.Seq + d, next.Digest).AsSpan().SequenceEqual(next.Hash))
                {
                    return (ChainDamage.Missing, seq, $"{d} entr{(d == 1 ? "y" : "ies")} before {seq} were deleted and the later ones renumbered");
                }
            }
        }

        return (ChainDamage.Changed, seq, row.Entry is null
            ? "its hash does not follow from the previous hash and its digest (a pruned entry's tombstone was altered)"
            : detail);
    }

    /// <summary>The name of the first filter column that disagrees with the entry's JSON, or null.</summary>
    private static string? ColumnMismatch(AuditChainRow row, byte[] entry)
    {
        try
        {
            using var doc = JsonDocument.Parse(entry);
            var root = doc.RootElement;
            if (Text(root, "action") != row.Action)
            {
                return "action";
            }

            if (root.TryGetProperty("at", out var at) && at.ValueKind == JsonValueKind.String
                && DateTimeOffset.TryParse(at.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var when)
                && Math.Abs(when.ToUnixTimeMilliseconds() - row.At) >= 1000)
            {
                return "at";
            }

            if (root.TryGetProperty("actor", out var actor) && actor.ValueKind == JsonValueKind.Object)
            {
                if (Text(actor, "kind") != row.ActorKind)
                {
                    return "actor_kind";
                }

                if (!SameGuid(Text(actor, "id"), row.ActorId))
                {
                    return "actor_id";
                }
            }

            if (root.TryGetProperty("target", out var target) && target.ValueKind == JsonValueKind.Object)
            {
                if (Text(target, "type") != row.TargetType)
                {
                    return "target_type";
                }

                if (Text(target, "id") != row.TargetId)
                {
                    return "target_id";
                }
            }
            else if (row.TargetType is not null || row.TargetId is not null)
            {
                return "target_type";
            }

            return null;
        }
        catch (JsonException)
        {
            return "entry (not JSON)";
        }
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) ? value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Null => null,
            _ => value.GetRawText(),
        } : null;

    private static bool SameGuid(string? text, Guid? value) =>
        text is null ? value is null : Guid.TryParse(text, out var g) ? g == value : value is null;

    private readonly record struct Link(long Seq, byte[] Digest, byte[]? Hash);
}
