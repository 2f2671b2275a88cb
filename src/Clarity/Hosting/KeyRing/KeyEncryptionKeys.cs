using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Clarity.Hosting.KeyRing;

/// <summary>
/// The key-encryption keys (KEKs) that protect the Data Protection key ring at rest: the current one, which encrypts
/// new keys, and any previous ones, which only decrypt. Each is 32 random bytes, known by its id: the first 8 bytes of
/// its SHA-256, in hex, which names it in error messages and in the stored XML without revealing it.
/// </summary>
/// <remarks>
/// The current KEK comes from Clarity:KeyRing:Key, Clarity:KeyRing:KeyFile, or <c>keyring.key</c> in the data folder.
/// <see cref="KeyRingCheck"/> loads it at start-up, before anything is encrypted; only there, and only while the key
/// ring is still empty, is a missing default file created.
/// </remarks>
public sealed class KeyEncryptionKeys
{
    public const string DefaultFileName = "keyring.key";
    private const int KeySize = 32;

    private readonly KeyRingOptions _options;
    private readonly string _dataDirectory;
    private readonly Lock _lock = new();
    private Kek? _current;
    private Dictionary<string, Kek> _all = new(StringComparer.Ordinal);

    public KeyEncryptionKeys(IOptions<ClarityOptions> options)
    {
        _options = options.Value.KeyRing;
        _dataDirectory = Path.GetFullPath(options.Value.DataDirectory);
    }

    /// <summary>The file the current KEK is read from (none when it comes from Clarity:KeyRing:Key).</summary>
    public string? FilePath => !string.IsNullOrWhiteSpace(_options.Key) ? null
        : !string.IsNullOrWhiteSpace(_options.KeyFile) ? Path.GetFullPath(_options.KeyFile)
        : Path.Combine(_dataDirectory, DefaultFileName);

    /// <summary>The setting that names the current KEK, for messages that tell an operator what to fix.</summary>
    public string Setting => !string.IsNullOrWhiteSpace(_options.Key)
        ? "Clarity:KeyRing:Key (CLARITY_KEYRING__KEY)"
        : "Clarity:KeyRing:KeyFile (CLARITY_KEYRING__KEYFILE)";

    /// <summary>The current KEK's id, once loaded.</summary>
    public string? CurrentId => _current?.Id;

    public static bool TryParse(string base64, out byte[] key)
    {
        key = [];
        var buffer = new byte[KeySize + 3];
        if (!Convert.TryFromBase64String(base64.Trim(), buffer, out var written) || written != KeySize)
        {
            return false;
        }

        key = buffer[..KeySize];
        return true;
    }

    public static string IdOf(ReadOnlySpan<byte> key) => Convert.ToHexStringLower(SHA256.HashData(key)[..8]);

    /// <summary>
    /// Loads the configured KEKs. Returns false when the current one would come from the default file and that file
    /// does not exist yet (a first start); throws <see cref="KeyRingException"/> when a configured key cannot be read.
    /// </summary>
    internal bool TryLoad()
    {
        byte[] current;
        if (!string.IsNullOrWhiteSpace(_options.Key))
        {
            TryParse(_options.Key, out current);
        }
        else
        {
            var path = FilePath!;
            if (!File.Exists(path))
            {
                if (!string.IsNullOrWhiteSpace(_options.KeyFile))
                {
                    throw new KeyRingException($"the key-encryption key file '{path}' does not exist; fix {Setting}.");
                }

                return false;
            }

            if (!TryParse(File.ReadAllText(path), out current))
            {
                throw new KeyRingException($"the key-encryption key file '{path}' does not hold 32 bytes in base64; fix {Setting} or restore the file from backup.");
            }
        }

        Install(current);
        return true;
    }

    /// <summary>Creates the default KEK file (mode 0600) with a new random key and loads it. Only for an empty key ring.</summary>
    internal void CreateDefaultFile()
    {
        var path = FilePath!;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var key = RandomNumberGenerator.GetBytes(KeySize);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            using var file = new FileStream(path, options);
            file.Write(Encoding.ASCII.GetBytes(Convert.ToBase64String(key) + "\n"));
            file.Flush(flushToDisk: true);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another process sharing this data folder created it first: use that one.
            if (!TryLoad())
            {
                throw;
            }

            return;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new KeyRingException($"cannot create the key-encryption key file '{path}' ({ex.Message}): make the data folder writable, or set Clarity:KeyRing:Key or Clarity:KeyRing:KeyFile.");
        }

        Install(key);
    }

    private void Install(byte[] current)
    {
        var all = new Dictionary<string, Kek>(StringComparer.Ordinal);
        foreach (var previous in _options.PreviousKeys)
        {
            if (TryParse(previous, out var key))
            {
                all[IdOf(key)] = new Kek(IdOf(key), key);
            }
        }

        var kek = new Kek(IdOf(current), current);
        all[kek.Id] = kek;
        lock (_lock)
        {
            _all = all;
            _current = kek;
        }
    }

    /// <summary>Encrypts with the current KEK (AES-256-GCM); the id and nonce are returned to be stored beside the ciphertext.</summary>
    internal (string KekId, byte[] Nonce, byte[] Ciphertext, byte[] Tag) Encrypt(byte[] plaintext)
    {
        var kek = _current ?? throw new InvalidOperationException("The key-encryption key is not loaded: KeyRingCheck runs at start-up, before anything is protected.");
        var nonce = RandomNumberGenerator.GetBytes(AesGcm.NonceByteSizes.MaxSize);
        var ciphertext = new byte[plaintext.Length];
        var tag = new byte[AesGcm.TagByteSizes.MaxSize];
        using var aes = new AesGcm(kek.Key, tag.Length);
        aes.Encrypt(nonce, plaintext, ciphertext, tag, AssociatedData(kek.Id));
        return (kek.Id, nonce, ciphertext, tag);
    }

    /// <summary>Decrypts with the KEK named by <paramref name="kekId"/>; throws <see cref="CryptographicException"/> when it is not configured or the data does not authenticate.</summary>
    internal byte[] Decrypt(string kekId, byte[] nonce, byte[] ciphertext, byte[] tag)
    {
        Dictionary<string, Kek> all;
        lock (_lock)
        {
            all = _all;
        }

        if (!all.TryGetValue(kekId, out var kek))
        {
            throw new CryptographicException($"The key ring entry was encrypted with key-encryption key {kekId}, which is not configured.");
        }

        var plaintext = new byte[ciphertext.Length];
        using var aes = new AesGcm(kek.Key, tag.Length);
        aes.Decrypt(nonce, ciphertext, tag, plaintext, AssociatedData(kek.Id));
        return plaintext;
    }

    internal bool Knows(string kekId)
    {
        lock (_lock)
        {
            return _all.ContainsKey(kekId);
        }
    }

    private static byte[] AssociatedData(string kekId) => Encoding.ASCII.GetBytes("Clarity.KeyRing.v1/" + kekId);

    private sealed record Kek(string Id, byte[] Key);
}

/// <summary>The key ring cannot be read or protected: start-up stops with this one-line message.</summary>
public sealed class KeyRingException(string message) : Exception(message);
