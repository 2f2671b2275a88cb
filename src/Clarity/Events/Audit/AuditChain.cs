using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Clarity.Events.Audit;

/// <summary>
/// The audit hash chain (docs/architecture.md, "The audit log"): an entry's digest is SHA-256 over its stored UTF-8
/// bytes; its hash is SHA-256 over the previous entry's hash (32 zero bytes for seq 1), its seq as 8 bytes big-endian,
/// and its digest. A pruned entry keeps digest and hash, so the chain verifies across it.
/// </summary>
public static class AuditChain
{
    public const int HashSize = 32;

    /// <summary>The instance's own chain: entries that belong to no org (setup, sign-in, sign-out).</summary>
    public static readonly Guid InstanceChain = Guid.Empty;

    /// <summary>What comes before seq 1.</summary>
    public static ReadOnlySpan<byte> Genesis => new byte[HashSize];

    public static byte[] Digest(ReadOnlySpan<byte> entry) => SHA256.HashData(entry);

    public static byte[] Hash(ReadOnlySpan<byte> previous, long seq, ReadOnlySpan<byte> digest)
    {
        if (previous.Length != HashSize || digest.Length != HashSize)
        {
            throw new ArgumentException("The previous hash and the digest are 32 bytes each.");
        }

        Span<byte> input = stackalloc byte[HashSize + 8 + HashSize];
        previous.CopyTo(input);
        BinaryPrimitives.WriteInt64BigEndian(input[HashSize..], seq);
        digest.CopyTo(input[(HashSize + 8)..]);
        return SHA256.HashData(input);
    }
}
