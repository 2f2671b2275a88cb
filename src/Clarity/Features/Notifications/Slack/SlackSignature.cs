using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Clarity.Features.Notifications.Slack;

/// <summary>
/// Slack's request signing (https://api.slack.com/authentication/verifying-requests-from-slack): the
/// <c>X-Slack-Signature</c> header is <c>v0=</c> + the hex HMAC-SHA256, keyed with the app's signing secret, of
/// <c>v0:{X-Slack-Request-Timestamp}:{raw body}</c>. A request is genuine when the signature matches (compared in constant
/// time) and its timestamp is within the tolerance of now, so that a captured request cannot be replayed later.
/// </summary>
public static class SlackSignature
{
    public const string SignatureHeader = "X-Slack-Signature";
    public const string TimestampHeader = "X-Slack-Request-Timestamp";
    private const string Version = "v0";

    /// <summary>The header value Slack sends for <paramref name="body"/> at <paramref name="timestamp"/> (Unix seconds).</summary>
    public static string Compute(string signingSecret, string timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes($"{Version}:{timestamp}:");
        var content = new byte[prefix.Length + body.Length];
        prefix.CopyTo(content, 0);
        body.CopyTo(content.AsSpan(prefix.Length));
        return Version + "=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(signingSecret), content));
    }

    /// <summary>Why a request is not genuine, or null when it is.</summary>
    public static string? Verify(string signingSecret, string? timestamp, string? signature, ReadOnlySpan<byte> body, DateTimeOffset now, TimeSpan tolerance)
    {
        if (string.IsNullOrEmpty(timestamp) || string.IsNullOrEmpty(signature))
        {
            return $"The request carries no {TimestampHeader} or {SignatureHeader} header.";
        }

        if (timestamp.Length > 12 || !long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return $"The {TimestampHeader} header is not a Unix time.";
        }

        if (Math.Abs(now.ToUnixTimeSeconds() - seconds) > tolerance.TotalSeconds)
        {
            return "The request's timestamp is too far from now (a stale or replayed request).";
        }

        var expected = Encoding.ASCII.GetBytes(Compute(signingSecret, timestamp, body));
        var given = Encoding.UTF8.GetBytes(signature);
        return CryptographicOperations.FixedTimeEquals(expected, given) ? null : "The request's signature does not match.";
    }
}
