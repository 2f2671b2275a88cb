using Clarity.Features.Audit;
using Xunit;

namespace Clarity.Tests.Features.Audit;

/// <summary>C2SP signed notes, checked against the published vector of golang.org/x/mod/sumdb/note (note_test.go).</summary>
public sealed class SignedNoteTests
{
    private const string GoVerifierKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    private const string GoSignerKey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    private const string GoText = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    private const string GoNote = GoText + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    [Fact]
    public void Sign_WithGoReferenceKey_ReproducesGoReferenceNoteByteForByte()
    {
        using var signer = NoteSigner.Parse(GoSignerKey);

        Assert.Equal(GoVerifierKey, signer.Verifier.ToString());
        Assert.Equal(GoSignerKey, signer.Export());
        Assert.Equal(GoNote, SignedNote.Sign(GoText, signer));
    }

    [Fact]
    public void Open_GoReferenceNote_VerifiesWithGoVerifierKey()
    {
        var verifier = NoteVerifier.Parse(GoVerifierKey);

        Assert.Equal("PeterNeumann", verifier.Name);
        Assert.Equal(0xc74f20a3u, verifier.KeyHash);
        Assert.Equal(GoText, SignedNote.Open(GoNote, verifier));
    }

    [Fact]
    public void Open_WhenTextChanged_FailsWithBadSignature()
    {
        var verifier = NoteVerifier.Parse(GoVerifierKey);
        var ex = Assert.Throws<SignedNoteException>(() => SignedNote.Open(GoNote.Replace("cryptography", "cryptographY", StringComparison.Ordinal), verifier));
        Assert.Contains("does not verify", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_WithAnotherKey_FailsBecauseTheNoteHasNoSignatureByIt()
    {
        using var other = NoteSigner.Generate("PeterNeumann");
        var ex = Assert.Throws<SignedNoteException>(() => SignedNote.Open(GoNote, other.Verifier));
        Assert.Contains("no signature by the key", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")] // wrong hash
    [InlineData("PeterNeumanm+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")] // wrong name
    [InlineData("PeterNeumann+c74f20a3+AhpC2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")] // wrong type
    [InlineData("PeterNeumann+c74f20a3")]
    [InlineData("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")] // upper-case hash
    [InlineData("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")]
    [InlineData("not a key")]
    public void ParseVerifier_WhenMangled_Fails(string key) =>
        Assert.Throws<SignedNoteException>(() => NoteVerifier.Parse(key));

    [Fact]
    public void Checkpoint_SignedAndOpened_RoundTripsOriginSizeHashTimeAndOrg()
    {
        using var signer = NoteSigner.Generate("clarity-test");
        var hash = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var chain = Guid.CreateVersion7();
        var cp = new AuditCheckpoint(chain, 1234, hash, new DateTimeOffset(2026, 11, 29, 4, 30, 0, 123, TimeSpan.Zero), "acme");

        var note = cp.Sign(signer);
        var lines = note.Split('\n');
        Assert.Equal($"clarity.audit/{chain:D}", lines[0]);
        Assert.Equal("1234", lines[1]);
        Assert.Equal(Convert.ToBase64String(hash), lines[2]);
        Assert.Equal("time 2026-11-29T04:30:00.123Z", lines[3]);

        var back = AuditCheckpoint.Open(note, NoteVerifier.Parse(signer.Verifier.ToString()));
        Assert.Equal(chain, back.ChainId);
        Assert.Equal(1234, back.Size);
        Assert.Equal(hash, back.Hash);
        Assert.Equal(cp.Time, back.Time);
        Assert.Equal("acme", back.OrgSlug);
    }

    [Fact]
    public void Checkpoint_WhenSizeEdited_FailsSignatureCheck()
    {
        using var signer = NoteSigner.Generate("clarity-test");
        var note = new AuditCheckpoint(Guid.CreateVersion7(), 10, new byte[32], DateTimeOffset.UnixEpoch, null).Sign(signer);
        var edited = note.Replace("\n10\n", "\n11\n", StringComparison.Ordinal);
        Assert.Throws<SignedNoteException>(() => AuditCheckpoint.Open(edited, signer.Verifier));
    }
}
