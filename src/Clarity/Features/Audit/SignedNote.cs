using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using NSec.Cryptography;

namespace Clarity.Features.Audit;

/// <summary>A malformed key, note or signature (the message says which rule it breaks).</summary>
public sealed class SignedNoteException(string message) : Exception(message);

/// <summary>
/// A C2SP signed-note verifier key (https://c2sp.org/signed-note) of type Ed25519: the key name, its 4-byte key hash
/// (the first four bytes of SHA-256(name || 0x0A || 0x01 || public key)) and the public key. Its text form is
/// <c>name+hash+base64(0x01 || public key)</c>, the form golang.org/x/mod/sumdb/note and other note tooling read.
/// </summary>
public sealed class NoteVerifier
{
    internal const byte Ed25519Type = 0x01;

    private NoteVerifier(string name, uint keyHash, PublicKey key)
    {
        Name = name;
        KeyHash = keyHash;
        Key = key;
    }

    public string Name { get; }

    public uint KeyHash { get; }

    internal PublicKey Key { get; }

    public byte[] PublicKeyBytes => Key.Export(KeyBlobFormat.RawPublicKey);

    /// <summary>The verifier key string: <c>name+hash+base64(0x01 || public key)</c>.</summary>
    public override string ToString() =>
        $"{Name}+{KeyHash:x8}+{Convert.ToBase64String([Ed25519Type, .. PublicKeyBytes])}";

    public static NoteVerifier FromPublicKey(string name, ReadOnlySpan<byte> publicKey)
    {
        CheckName(name);
        if (publicKey.Length != 32)
        {
            throw new SignedNoteException("An Ed25519 public key has 32 bytes.");
        }

        var key = PublicKey.Import(SignatureAlgorithm.Ed25519, publicKey, KeyBlobFormat.RawPublicKey);
        return new NoteVerifier(name, ComputeKeyHash(name, publicKey), key);
    }

    /// <summary>Reads a verifier key string; throws <see cref="SignedNoteException"/> when it is malformed or its hash does not match.</summary>
    public static NoteVerifier Parse(string text)
    {
        var parts = text.Trim().Split('+', 3);
        if (parts.Length != 3)
        {
            throw new SignedNoteException("A verifier key has the form name+hash+key.");
        }

        var (name, hash, key) = (parts[0], parts[1], parts[2]);
        var keyHash = ParseKeyHash(hash);
        var material = DecodeBase64(key, "verifier key");
        if (material.Length != 33 || material[0] != Ed25519Type)
        {
            throw new SignedNoteException("The verifier key is not an Ed25519 key (type 0x01 and 32 bytes).");
        }

        CheckName(name);
        if (ComputeKeyHash(name, material.AsSpan(1)) != keyHash)
        {
            throw new SignedNoteException("The verifier key's hash does not match its name and key.");
        }

        try
        {
            return FromPublicKey(name, material.AsSpan(1));
        }
        catch (FormatException)
        {
            throw new SignedNoteException("The verifier key is not a valid Ed25519 public key.");
        }
    }

    internal bool Verify(ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature) =>
        SignatureAlgorithm.Ed25519.Verify(Key, message, signature);

    /// <summary>SHA-256(name || 0x0A || 0x01 || public key), first four bytes, big-endian.</summary>
    internal static uint ComputeKeyHash(string name, ReadOnlySpan<byte> publicKey)
    {
        var input = new byte[Encoding.UTF8.GetByteCount(name) + 2 + publicKey.Length];
        var n = Encoding.UTF8.GetBytes(name, input);
        input[n] = (byte)'\n';
        input[n + 1] = Ed25519Type;
        publicKey.CopyTo(input.AsSpan(n + 2));
        return BinaryPrimitives.ReadUInt32BigEndian(SHA256.HashData(input));
    }

    internal static uint ParseKeyHash(string hash)
    {
        if (hash.Length != 8 || !hash.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f'))
        {
            throw new SignedNoteException("A key hash is 8 lower-case hex digits.");
        }

        return Convert.ToUInt32(hash, 16);
    }

    internal static byte[] DecodeBase64(string text, string what)
    {
        try
        {
            return Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            throw new SignedNoteException($"The {what} is not valid base64.");
        }
    }

    /// <summary>A key name is non-empty, has no '+' and no Unicode space or control character.</summary>
    internal static void CheckName(string name)
    {
        if (name.Length == 0 || name.Contains('+', StringComparison.Ordinal) || name.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw new SignedNoteException("A key name must be non-empty, without '+', spaces or control characters.");
        }
    }
}

/// <summary>
/// An Ed25519 note signer. Its text form is golang.org/x/mod/sumdb/note's signer key,
/// <c>PRIVATE+KEY+name+hash+base64(0x01 || seed)</c>, so the same file works with Go's note.NewSigner.
/// </summary>
public sealed class NoteSigner : IDisposable
{
    private const string Prefix = "PRIVATE+KEY+";

    private NoteSigner(string name, Key key)
    {
        Name = name;
        PrivateKey = key;
        Verifier = NoteVerifier.FromPublicKey(name, key.PublicKey.Export(KeyBlobFormat.RawPublicKey));
    }

    public string Name { get; }

    public NoteVerifier Verifier { get; }

    private Key PrivateKey { get; }

    /// <summary>Makes a new random key.</summary>
    public static NoteSigner Generate(string name)
    {
        NoteVerifier.CheckName(name);
        var key = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        return new NoteSigner(name, key);
    }

    public static NoteSigner FromSeed(string name, ReadOnlySpan<byte> seed)
    {
        NoteVerifier.CheckName(name);
        if (seed.Length != 32)
        {
            throw new SignedNoteException("An Ed25519 private key (seed) has 32 bytes.");
        }

        var key = Key.Import(SignatureAlgorithm.Ed25519, seed, KeyBlobFormat.RawPrivateKey,
            new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        return new NoteSigner(name, key);
    }

    /// <summary>Reads a signer key string (<c>PRIVATE+KEY+name+hash+base64(0x01 || seed)</c>).</summary>
    public static NoteSigner Parse(string text)
    {
        text = text.Trim();
        if (!text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            throw new SignedNoteException("A signer key starts with PRIVATE+KEY+.");
        }

        var parts = text[Prefix.Length..].Split('+', 3);
        if (parts.Length != 3)
        {
            throw new SignedNoteException("A signer key has the form PRIVATE+KEY+name+hash+key.");
        }

        var keyHash = NoteVerifier.ParseKeyHash(parts[1]);
        var material = NoteVerifier.DecodeBase64(parts[2], "signer key");
        if (material.Length != 33 || material[0] != NoteVerifier.Ed25519Type)
        {
            throw new SignedNoteException("The signer key is not an Ed25519 key (type 0x01 and a 32-byte seed).");
        }

        var signer = FromSeed(parts[0], material.AsSpan(1));
        if (signer.Verifier.KeyHash != keyHash)
        {
            signer.Dispose();
            throw new SignedNoteException("The signer key's hash does not match its name and key.");
        }

        return signer;
    }

    /// <summary>The signer key string; keep it secret.</summary>
    public string Export() =>
        $"{Prefix}{Name}+{Verifier.KeyHash:x8}+{Convert.ToBase64String([NoteVerifier.Ed25519Type, .. PrivateKey.Export(KeyBlobFormat.RawPrivateKey)])}";

    internal byte[] Sign(ReadOnlySpan<byte> message) => SignatureAlgorithm.Ed25519.Sign(PrivateKey, message);

    public void Dispose() => PrivateKey.Dispose();
}

/// <summary>
/// C2SP signed notes: a UTF-8 text ending in a newline, a blank line, then one line per signature,
/// <c>— name base64(key hash (4 bytes, big-endian) || signature)</c>. The signature covers the text (with its final newline).
/// </summary>
public static class SignedNote
{
    private const string Dash = "\u2014 ";

    /// <summary>Signs <paramref name="text"/>, which must end in a newline.</summary>
    public static string Sign(string text, NoteSigner signer)
    {
        CheckText(text);
        var bytes = Encoding.UTF8.GetBytes(text);
        var sig = signer.Sign(bytes);
        var blob = new byte[4 + sig.Length];
        BinaryPrimitives.WriteUInt32BigEndian(blob, signer.Verifier.KeyHash);
        sig.CopyTo(blob, 4);
        return $"{text}\n{Dash}{signer.Name} {Convert.ToBase64String(blob)}\n";
    }

    /// <summary>
    /// Checks a signed note against <paramref name="verifier"/> and returns its text. Throws
    /// <see cref="SignedNoteException"/> when the note is malformed, carries no signature by that key, or the signature is bad.
    /// </summary>
    public static string Open(string note, NoteVerifier verifier)
    {
        var split = note.LastIndexOf("\n\n", StringComparison.Ordinal);
        if (split < 0 || !note.EndsWith('\n'))
        {
            throw new SignedNoteException("Not a signed note (no blank line before the signatures, or no final newline).");
        }

        var text = note[..(split + 1)];
        CheckText(text);
        var bytes = Encoding.UTF8.GetBytes(text);
        var seenByKey = false;
        foreach (var line in note[(split + 2)..^1].Split('\n'))
        {
            if (!line.StartsWith(Dash, StringComparison.Ordinal))
            {
                throw new SignedNoteException("A signature line starts with '— ' (an em dash and a space).");
            }

            var fields = line[Dash.Length..].Split(' ');
            if (fields.Length != 2)
            {
                throw new SignedNoteException("A signature line has the form '— name signature'.");
            }

            var blob = NoteVerifier.DecodeBase64(fields[1], "signature");
            if (blob.Length < 5)
            {
                throw new SignedNoteException("A signature is too short.");
            }

            if (fields[0] != verifier.Name || BinaryPrimitives.ReadUInt32BigEndian(blob) != verifier.KeyHash)
            {
                continue; // another party's signature (a witness, say): not ours to check
            }

            seenByKey = true;
            if (!verifier.Verify(bytes, blob.AsSpan(4)))
            {
                throw new SignedNoteException($"The signature by {verifier.Name} does not verify: the note was changed or signed by another key.");
            }
        }

        return seenByKey
            ? text
            : throw new SignedNoteException($"The note carries no signature by the key {verifier.Name}+{verifier.KeyHash:x8}.");
    }

    private static void CheckText(string text)
    {
        if (!text.EndsWith('\n'))
        {
            throw new SignedNoteException("A note's text ends with a newline.");
        }

        if (text.Any(c => char.IsControl(c) && c != '\n'))
        {
            throw new SignedNoteException("A note's text holds no control characters other than newlines.");
        }
    }
}
