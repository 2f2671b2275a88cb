using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;

namespace Clarity.Features.Notifications.WebPush;

/// <summary>
/// Web push to people's phones and browsers (Clarity:WebPush; CLARITY_WEBPUSH__PUBLICKEY and so on). Without keys, the
/// server generates a VAPID key pair once and keeps it in the database, encrypted with the Data Protection key ring, so
/// every node signs with the same pair.
/// </summary>
public sealed class WebPushOptions : IValidatableObject
{
    /// <summary>The VAPID public key: an uncompressed P-256 point (65 bytes), base64url. Set together with <see cref="PrivateKey"/>, or neither.</summary>
    public string? PublicKey { get; set; }

    /// <summary>The VAPID private key: the P-256 scalar (32 bytes), base64url. Never logged.</summary>
    public string? PrivateKey { get; set; }

    /// <summary>
    /// The contact push services may use (<c>sub</c> of the VAPID token): <c>mailto:ops@example.com</c> or an https URL.
    /// Empty: <c>Clarity:PublicUrl</c> when it is https, else none (some push services, Apple's among them, then refuse messages).
    /// </summary>
    public string? Subject { get; set; }

    /// <summary>
    /// Accept subscriptions whose push service is on a loopback address (127.0.0.0/8, ::1), over http too. For tests and
    /// development only: real push services are public https URLs. Off by default.
    /// </summary>
    public bool AllowLoopbackEndpoints { get; set; }

    /// <summary>Most push subscriptions (devices) one user may have. Default 20.</summary>
    [Range(1, 1000)]
    public int MaxSubscriptionsPerUser { get; set; } = 20;

    /// <summary>How long one request to a push service may take, in seconds. Default 15.</summary>
    [Range(1, 300)]
    public int TimeoutSeconds { get; set; } = 15;

    /// <summary>How long a push service keeps a message for an offline device when the event has no deadline of its own, in seconds. Default 86400 (a day).</summary>
    [Range(0, 2_419_200)]
    public int DefaultTimeToLiveSeconds { get; set; } = 86_400;

    /// <summary>A subscription is dropped after this many failed sends in a row that were not 404/410 (those drop it at once). Default 10.</summary>
    [Range(1, 10_000)]
    public int DropAfterFailures { get; set; } = 10;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var hasPublic = !string.IsNullOrWhiteSpace(PublicKey);
        var hasPrivate = !string.IsNullOrWhiteSpace(PrivateKey);
        if (hasPublic != hasPrivate)
        {
            yield return new ValidationResult("set both PublicKey and PrivateKey, or neither (then a key pair is generated and kept in the database).", [hasPublic ? nameof(PrivateKey) : nameof(PublicKey)]);
        }
        else if (hasPublic && VapidKeyPair.Check(PublicKey!, PrivateKey!) is { } problem)
        {
            // The message names what is wrong, never the key itself.
            yield return new ValidationResult(problem, [nameof(PrivateKey)]);
        }

        if (!string.IsNullOrWhiteSpace(Subject) && VapidKeyPair.CheckSubject(Subject) is { } subject)
        {
            yield return new ValidationResult(subject, [nameof(Subject)]);
        }
    }
}

/// <summary>A VAPID key pair (P-256), base64url encoded as push services and browsers expect.</summary>
public sealed record VapidKeyPair(string PublicKey, string PrivateKey)
{
    /// <summary>A new random key pair.</summary>
    public static VapidKeyPair Generate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var p = key.ExportParameters(includePrivateParameters: true);
        return new VapidKeyPair(System.Buffers.Text.Base64Url.EncodeToString([0x04, .. p.Q.X!, .. p.Q.Y!]), System.Buffers.Text.Base64Url.EncodeToString(p.D!));
    }

    /// <summary>What is wrong with a configured pair (lengths, a point off the curve, a private key that does not match), or null.</summary>
    public static string? Check(string publicKey, string privateKey)
    {
        byte[] pub, priv;
        try
        {
            pub = System.Buffers.Text.Base64Url.DecodeFromChars(publicKey.Trim().TrimEnd('='));
            priv = System.Buffers.Text.Base64Url.DecodeFromChars(privateKey.Trim().TrimEnd('='));
        }
        catch (FormatException)
        {
            return "PublicKey and PrivateKey must be base64url (the alphabet A-Z a-z 0-9 - _).";
        }

        if (pub.Length != 65 || pub[0] != 0x04)
        {
            return "PublicKey must be an uncompressed P-256 point: 65 bytes starting with 0x04 (87 base64url characters).";
        }

        if (priv.Length != 32)
        {
            return "PrivateKey must be a P-256 private key of 32 bytes (43 base64url characters).";
        }

        try
        {
            using var key = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = priv });
            var derived = key.ExportParameters(false);
            return derived.Q.X!.AsSpan().SequenceEqual(pub.AsSpan(1, 32)) && derived.Q.Y!.AsSpan().SequenceEqual(pub.AsSpan(33, 32))
                ? null
                : "PrivateKey does not belong to PublicKey.";
        }
        catch (CryptographicException)
        {
            return "PrivateKey is not a valid P-256 private key.";
        }
    }

    /// <summary>What is wrong with a VAPID subject, or null: it must be a mailto: address or an https URL (RFC 8292 §2.1).</summary>
    public static string? CheckSubject(string subject) =>
        subject.StartsWith("mailto:", StringComparison.Ordinal) && subject.Length > "mailto:".Length && !subject.Any(char.IsWhiteSpace)
            || Uri.TryCreate(subject, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttps && Uri.IsWellFormedUriString(subject, UriKind.Absolute)
            ? null
            : "must be a mailto: address (mailto:ops@example.com) or an https URL.";
}
