using System.Globalization;
using System.Text;

namespace Clarity.Features.Audit;

/// <summary>
/// A signed head of one audit chain, as a C2SP tlog-checkpoint body inside a signed note:
/// <code>
/// clarity.audit/&lt;chain id&gt;      origin: the chain (the org's id; all zeros for the instance's own chain)
/// 1234                            size: the last sequence number
/// base64(hash)                    the chain hash at that sequence number (32 zero bytes when the size is 0)
/// time 2026-11-29T04:30:00.000Z   extension lines: when it was taken
/// org acme                        and the org's slug, for people (absent for the instance chain)
/// </code>
/// </summary>
public sealed record AuditCheckpoint(Guid ChainId, long Size, byte[] Hash, DateTimeOffset Time, string? OrgSlug)
{
    public const string OriginPrefix = "clarity.audit/";

    public string Origin => OriginPrefix + ChainId.ToString("D");

    public string Body()
    {
        var text = new StringBuilder()
            .Append(Origin).Append('\n')
            .Append(Size.ToString(CultureInfo.InvariantCulture)).Append('\n')
            .Append(Convert.ToBase64String(Hash)).Append('\n')
            .Append("time ").Append(Time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)).Append('\n');
        if (!string.IsNullOrEmpty(OrgSlug))
        {
            text.Append("org ").Append(OrgSlug).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>The signed note: the body and one Ed25519 signature line.</summary>
    public string Sign(NoteSigner signer) => SignedNote.Sign(Body(), signer);

    /// <summary>Checks the signature with <paramref name="verifier"/> and reads the body; throws <see cref="SignedNoteException"/> on any fault.</summary>
    public static AuditCheckpoint Open(string note, NoteVerifier verifier) => ParseBody(SignedNote.Open(note, verifier));

    public static AuditCheckpoint ParseBody(string text)
    {
        var lines = text.TrimEnd('\n').Split('\n');
        if (lines.Length < 3 || !lines[0].StartsWith(OriginPrefix, StringComparison.Ordinal)
            || !Guid.TryParseExact(lines[0][OriginPrefix.Length..], "D", out var chainId))
        {
            throw new SignedNoteException($"Not a Clarity audit checkpoint (its first line must be {OriginPrefix}<chain id>).");
        }

        if (!long.TryParse(lines[1], NumberStyles.None, CultureInfo.InvariantCulture, out var size))
        {
            throw new SignedNoteException("The checkpoint's size (second line) is not a non-negative integer.");
        }

        var hash = NoteVerifier.DecodeBase64(lines[2], "checkpoint hash");
        if (hash.Length != 32)
        {
            throw new SignedNoteException("The checkpoint's hash is not 32 bytes.");
        }

        var time = DateTimeOffset.MinValue;
        string? slug = null;
        foreach (var line in lines.Skip(3))
        {
            if (line.StartsWith("time ", StringComparison.Ordinal)
                && DateTimeOffset.TryParse(line[5..], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t))
            {
                time = t.ToUniversalTime();
            }
            else if (line.StartsWith("org ", StringComparison.Ordinal))
            {
                slug = line[4..];
            }
        }

        return new AuditCheckpoint(chainId, size, hash, time, slug);
    }
}
