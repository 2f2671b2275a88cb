using System.Security.Cryptography;

namespace Clarity.Hosting.KeyRing;

/// <summary>
/// Runs at start-up, after the migrations and before anything is protected: loads the key-encryption key and proves
/// that it decrypts every key of the ring in the database. A node that cannot read the ring stops with one line naming
/// the setting to fix (<see cref="KeyRingException"/>): it must never go on, because Data Protection would then quietly
/// create a new key and every secret protected by the old ones would be orphaned. Only a ring with no keys yet gets a
/// new key-encryption key file in the data folder.
/// </summary>
public sealed partial class KeyRingCheck(DatabaseXmlRepository repository, KeyEncryptionKeys keys, ILogger<KeyRingCheck> logger)
{
    private const string Docs = "see docs/operations.md, \"Secrets at rest\"";

    public async Task EnsureReadableAsync(CancellationToken ct)
    {
        var ring = (await repository.ReadAllAsync(ct)).Where(e => e.Name.LocalName == "key").ToList();
        if (!keys.TryLoad())
        {
            if (ring.Count > 0)
            {
                throw new KeyRingException(
                    $"the key ring in the database is encrypted, and this node has no key-encryption key ({keys.FilePath} does not exist): " +
                    $"restore that file from backup, or set {keys.Setting} to the key the other nodes use ({Docs}).");
            }

            keys.CreateDefaultFile();
            Log.Created(logger, keys.FilePath!, keys.CurrentId!);
        }

        var missing = new SortedSet<string>(StringComparer.Ordinal);
        var damaged = new List<string>();
        foreach (var key in ring)
        {
            var keyId = (string?)key.Attribute("id") ?? "?";
            foreach (var secret in key.Descendants().Where(e => e.Name.LocalName == "encryptedSecret"))
            {
                var encrypted = secret.Elements().FirstOrDefault();
                if (encrypted?.Name != KeyRingXmlEncryptor.Encrypted)
                {
                    damaged.Add($"{keyId} (encrypted by {(string?)secret.Attribute("decryptorType") ?? "an unknown decryptor"})");
                    continue;
                }

                try
                {
                    var (kekId, nonce, ciphertext, tag) = KeyRingXmlDecryptor.Read(encrypted);
                    if (!keys.Knows(kekId))
                    {
                        missing.Add(kekId);
                        continue;
                    }

                    keys.Decrypt(kekId, nonce, ciphertext, tag);
                }
                catch (Exception ex) when (ex is CryptographicException or FormatException)
                {
                    damaged.Add(keyId);
                }
            }
        }

        if (missing.Count > 0)
        {
            throw new KeyRingException(
                $"the key ring in the database is encrypted with key-encryption key {string.Join(", ", missing)}, but this node's key is {keys.CurrentId}: " +
                $"set {keys.Setting} to the key the other nodes use, or list the replaced key under Clarity:KeyRing:PreviousKeys ({Docs}).");
        }

        if (damaged.Count > 0)
        {
            throw new KeyRingException(
                $"key(s) {string.Join(", ", damaged)} of the key ring in the database do not decrypt with key-encryption key {keys.CurrentId}: " +
                $"the data_protection_keys table was changed outside Clarity; restore it from backup, or check {keys.Setting} ({Docs}).");
        }

        Log.Readable(logger, ring.Count, keys.CurrentId!);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Created the key-encryption key {Path} (id {KekId}) for the new key ring: back it up with the database, and give every node the same one")]
        public static partial void Created(ILogger logger, string path, string kekId);

        [LoggerMessage(2, LogLevel.Debug, "Key ring: {Count} key(s), all readable with key-encryption key {KekId}")]
        public static partial void Readable(ILogger logger, int count, string kekId);
    }
}
