using System.Security.Cryptography;
using System.Text;
using Clarity.Features.Audit;
using Xunit;

namespace Clarity.Tests.Features.Audit;

/// <summary>The pure verifier over rows, one damage kind at a time.</summary>
public sealed class ChainVerifierTests
{
    private static readonly Guid s_chain = Guid.CreateVersion7();

    internal static List<AuditChainRow> Chain(int n)
    {
        var rows = new List<AuditChainRow>();
        var prev = ChainVerifier.ZeroHash;
        for (var seq = 1; seq <= n; seq++)
        {
            var at = 1_700_000_000_000 + seq;
            var entry = $$"""{"v":1,"org":"{{s_chain}}","at":"{{DateTimeOffset.FromUnixTimeMilliseconds(at):yyyy-MM-dd'T'HH:mm:ss.fff'Z'}}","actor":{"kind":"system","id":null,"label":"test"},"action":"task.created","target":{"type":"task","id":"t{{seq}}","label":null},"before":null,"after":{"n":{{seq}}},"outcome":"success","correlationId":null,"ip":null,"userAgent":null}""";
            var digest = SHA256.HashData(Encoding.UTF8.GetBytes(entry));
            var hash = ChainVerifier.LinkHash(prev, seq, digest);
            rows.Add(new AuditChainRow(seq, at, "system", null, "task.created", "task", $"t{seq}", entry, digest, hash));
            prev = hash;
        }

        return rows;
    }

    private static ChainVerdict Verify(IEnumerable<AuditChainRow> rows, AuditCheckpoint? cp = null)
    {
        var v = new ChainVerifier(s_chain, cp);
        foreach (var r in rows.OrderBy(r => r.Seq))
        {
            v.Add(r);
        }

        return v.Finish();
    }

    private static AuditCheckpoint Checkpoint(List<AuditChainRow> rows, int size) =>
        new(s_chain, size, size == 0 ? ChainVerifier.ZeroHash : rows[size - 1].Hash!, DateTimeOffset.UnixEpoch, null);

    private static List<AuditChainRow> Renumber(IEnumerable<AuditChainRow> rows) =>
        rows.Select((r, i) => r with { Seq = i + 1 }).ToList();

    [Fact]
    public void Verify_IntactChain_IsIntactUpToItsLastSeq()
    {
        var rows = Chain(50);
        var verdict = Verify(rows, Checkpoint(rows, 40));
        Assert.True(verdict.Intact);
        Assert.Equal(50, verdict.VerifiedSeq);
        Assert.Equal(rows[^1].Hash, verdict.Head);
    }

    [Fact]
    public void Verify_EntryByteFlipped_IsChangedAtThatSeq()
    {
        var rows = Chain(20);
        rows[6] = rows[6] with { Entry = rows[6].Entry!.Replace("\"n\":7", "\"n\":8", StringComparison.Ordinal) };
        var v = Verify(rows);
        Assert.Equal((ChainDamage.Changed, 7L), (v.Damage!.Value, v.FirstBadSeq!.Value));
        Assert.Equal(6, v.VerifiedSeq);
    }

    [Fact]
    public void Verify_FilterColumnEdited_IsChanged()
    {
        var rows = Chain(10);
        rows[3] = rows[3] with { Action = "task.cancelled" };
        var v = Verify(rows);
        Assert.Equal((ChainDamage.Changed, 4L), (v.Damage!.Value, v.FirstBadSeq!.Value));
        Assert.Contains("action", v.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_HashFlipped_IsChanged()
    {
        var rows = Chain(10);
        var hash = (byte[])rows[4].Hash!.Clone();
        hash[3] ^= 0x40;
        rows[4] = rows[4] with { Hash = hash };
        var v = Verify(rows);
        Assert.Equal((ChainDamage.Changed, 5L), (v.Damage!.Value, v.FirstBadSeq!.Value));
    }

    [Fact]
    public void Verify_RowDeletedLeavingGap_IsMissing()
    {
        var rows = Chain(10);
        rows.RemoveAt(4);
        var v = Verify(rows);
        Assert.Equal((ChainDamage.Missing, 5L), (v.Damage!.Value, v.FirstBadSeq!.Value));
    }

    [Fact]
    public void Verify_RowDeletedAndLaterRenumbered_IsMissing()
    {
        var rows = Chain(10);
        rows.RemoveAt(4);
        var v = Verify(Renumber(rows));
        Assert.Equal((ChainDamage.Missing, 5L), (v.Damage!.Value, v.FirstBadSeq!.Value));
    }

    [Fact]
    public void Verify_RowInsertedAndLaterRenumbered_IsInserted()
    {
        var rows = Chain(10);
        var foreign = Chain(12)[11];
        rows.Insert(4, foreign);
        var v = Verify(Renumber(rows));
        Assert.Equal((ChainDamage.Inserted, 5L), (v.Damage!.Value, v.FirstBadSeq!.Value));
    }

    [Theory]
    [InlineData(3, 4)]
    [InlineData(3, 8)]
    public void Verify_TwoRowsSwapped_IsReorderedAtTheFirst(int a, int b)
    {
        var rows = Chain(10);
        (rows[a - 1], rows[b - 1]) = (rows[b - 1] with { Seq = a }, rows[a - 1] with { Seq = b });
        var v = Verify(rows);
        Assert.Equal((ChainDamage.Reordered, (long)a), (v.Damage!.Value, v.FirstBadSeq!.Value));
    }

    [Fact]
    public void Verify_Truncated_IsUnseenWithoutCheckpoint_AndTruncatedAgainstOne()
    {
        var rows = Chain(10);
        var cp = Checkpoint(rows, 10);
        var cut = rows.Take(7).ToList();

        Assert.True(Verify(cut).Intact);
        var v = Verify(cut, cp);
        Assert.Equal((ChainDamage.Truncated, 8L), (v.Damage!.Value, v.FirstBadSeq!.Value));
    }

    [Fact]
    public void Verify_TailRecomputed_IsUnseenWithoutCheckpoint_AndRecomputedAgainstOne()
    {
        var rows = Chain(10);
        var cp = Checkpoint(rows, 9);
        var forged = Chain(10).Select(r => r).ToList(); // a different chain: other ids, other hashes
        var rewritten = rows.Take(4).Concat(Recompute(rows[3].Hash!, forged.Skip(4))).ToList();

        Assert.True(Verify(rewritten).Intact);
        var v = Verify(rewritten, cp);
        Assert.Equal(ChainDamage.Recomputed, v.Damage);
        Assert.Equal(9L, v.FirstBadSeq);
    }

    [Fact]
    public void Verify_PrunedEntry_StillVerifiesFromItsDigest()
    {
        var rows = Chain(10);
        rows[2] = rows[2] with { Entry = null };
        Assert.True(Verify(rows, Checkpoint(rows, 10)).Intact);
    }

    internal static IEnumerable<AuditChainRow> Recompute(byte[] prev, IEnumerable<AuditChainRow> rows)
    {
        foreach (var r in rows)
        {
            var entry = r.Entry!.Replace("\"n\":", "\"n\":1", StringComparison.Ordinal);
            var digest = SHA256.HashData(Encoding.UTF8.GetBytes(entry));
            var hash = ChainVerifier.LinkHash(prev, r.Seq, digest);
            yield return r with { Entry = entry, Digest = digest, Hash = hash };
            prev = hash;
        }
    }
}
