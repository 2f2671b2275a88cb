using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Identity;

namespace Clarity.Features.Identity;

/// <summary>API key secrets: <c>clk_</c> + a visible 8-character id + <c>_</c> + 32 random bytes. Only the SHA-256 is stored.</summary>
public static class ApiKeySecret
{
    public const string Scheme = "clk_";

    public static (string Secret, string Prefix) Generate()
    {
        var visible = Base32(RandomNumberGenerator.GetBytes(5));
        var secret = Base64Url(RandomNumberGenerator.GetBytes(32));
        var prefix = Scheme + visible;
        return (prefix + "_" + secret, prefix);
    }

    public static bool LooksLikeKey(string token) => token.StartsWith(Scheme, StringComparison.Ordinal);

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    public static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string Base32(byte[] bytes)
    {
        const string alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
        var sb = new StringBuilder();
        var buffer = 0;
        var bits = 0;
        foreach (var b in bytes)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                sb.Append(alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
        }

        return sb.ToString();
    }
}

/// <summary>PBKDF2-HMAC-SHA512 password hashes (ASP.NET Core Identity's V3 format) at a configurable iteration count.</summary>
public sealed class PasswordHashing(int iterations)
{
    // A real hash to verify against when an email is unknown, so that both paths cost the same.
    private readonly Lazy<string> _dummyHash = new(() => new PasswordHashing(iterations).Hash(Guid.NewGuid().ToString()));

    private readonly PasswordHasher<object> _hasher = new(Microsoft.Extensions.Options.Options.Create(new PasswordHasherOptions
    {
        CompatibilityMode = PasswordHasherCompatibilityMode.IdentityV3,
        IterationCount = iterations,
    }));

    private static readonly object s_user = new();

    public string Hash(string password) => _hasher.HashPassword(s_user, password);

    /// <summary>Verifies a password; <c>rehash</c> is true when the stored hash uses weaker parameters than today's.</summary>
    public (bool Ok, bool Rehash) Verify(string hash, string password)
    {
        var result = _hasher.VerifyHashedPassword(s_user, hash, password);
        return (result != PasswordVerificationResult.Failed, result == PasswordVerificationResult.SuccessRehashNeeded);
    }

    /// <summary>Spends the work of one verification without a real hash: for unknown emails, so timing does not tell them apart.</summary>
    public void VerifyDummy(string password) => Verify(_dummyHash.Value, password);
}
