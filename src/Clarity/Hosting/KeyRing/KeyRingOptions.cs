using System.ComponentModel.DataAnnotations;

namespace Clarity.Hosting.KeyRing;

/// <summary>
/// The Data Protection key ring (Clarity:KeyRing): its keys live in the database, and their secret parts are encrypted
/// with a key-encryption key (KEK) kept outside it. See docs/operations.md, "Secrets at rest".
/// </summary>
public sealed class KeyRingOptions
{
    /// <summary>The shortest key lifetime Data Protection accepts.</summary>
    public static readonly TimeSpan MinKeyLifetime = TimeSpan.FromDays(7);

    /// <summary>
    /// The key-encryption key itself: 32 random bytes in base64 (<c>openssl rand -base64 32</c>), e.g. from
    /// CLARITY_KEYRING__KEY. Takes the place of <see cref="KeyFile"/>; set at most one of the two.
    /// </summary>
    public string? Key { get; set; }

    /// <summary>
    /// A file holding the key-encryption key (one line of base64). Empty (the default) means <c>keyring.key</c> in the
    /// data folder, created with mode 0600 on the first start. Every node of a deployment needs the same key.
    /// </summary>
    public string? KeyFile { get; set; }

    /// <summary>
    /// Earlier key-encryption keys (base64), kept only to decrypt the keys they protected after the KEK was replaced.
    /// New keys are always encrypted with the current one.
    /// </summary>
    public List<string> PreviousKeys { get; set; } = [];

    /// <summary>
    /// How long a Data Protection key is used for new payloads before the next one takes over (rolled over
    /// automatically; older keys keep decrypting what they protected). Default 90 days; at least 7.
    /// </summary>
    [Range(typeof(TimeSpan), "7.00:00:00", "3650.00:00:00", ErrorMessage = "KeyLifetime must be between 7 and 3650 days.")]
    public TimeSpan KeyLifetime { get; set; } = TimeSpan.FromDays(90);

    internal void Validate(List<string> failures)
    {
        if (!string.IsNullOrWhiteSpace(Key) && !string.IsNullOrWhiteSpace(KeyFile))
        {
            failures.Add("Clarity:KeyRing: set Key or KeyFile, not both.");
        }

        if (!string.IsNullOrWhiteSpace(Key) && !KeyEncryptionKeys.TryParse(Key, out _))
        {
            failures.Add("Clarity:KeyRing:Key: must be 32 bytes in base64 (for example the output of 'openssl rand -base64 32').");
        }

        for (var i = 0; i < PreviousKeys.Count; i++)
        {
            if (!KeyEncryptionKeys.TryParse(PreviousKeys[i], out _))
            {
                failures.Add($"Clarity:KeyRing:PreviousKeys:{i}: must be 32 bytes in base64.");
            }
        }

        if (!string.IsNullOrWhiteSpace(KeyFile) && !File.Exists(KeyFile))
        {
            failures.Add($"Clarity:KeyRing:KeyFile: '{KeyFile}' does not exist. Point it at the key-encryption key every node shares (see docs/operations.md, \"Secrets at rest\").");
        }
    }
}
