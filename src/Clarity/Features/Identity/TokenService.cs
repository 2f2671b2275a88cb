using System.Security.Claims;
using System.Security.Cryptography;
using Clarity.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Clarity.Features.Identity;

/// <summary>
/// Issues and validates the HS256 JWTs used by sign-in (bearer token and session cookie alike). Each token names its
/// server-side session (the <c>sid</c> claim); <see cref="ValidateAsync"/> checks the signature and lifetime only, and
/// <see cref="CredentialResolver"/> then checks that the session is still active.
/// </summary>
public sealed class TokenService(IdentityStore store, IOptions<ClarityOptions> options, TimeProvider clock)
{
    public const string Issuer = "clarity";
    private readonly JsonWebTokenHandler _handler = new() { SetDefaultTimesOnTokenCreation = false };
    private SymmetricSecurityKey? _key;

    public async Task InitializeAsync(CancellationToken ct)
    {
        var secret = await store.GetOrCreateSecretAsync("jwt-signing-key", () => Convert.ToBase64String(RandomNumberGenerator.GetBytes(64)), ct);
        _key = new SymmetricSecurityKey(Convert.FromBase64String(secret)) { KeyId = "clarity-1" };
    }

    private SymmetricSecurityKey Key => _key ?? throw new InvalidOperationException("TokenService was not initialised.");

    /// <summary>How long a sign-in lasts.</summary>
    public TimeSpan Lifetime => TimeSpan.FromSeconds(options.Value.Auth.TokenLifetimeSeconds);

    public string Issue(Guid userId, Guid sessionId, DateTimeOffset expires)
    {
        var now = clock.GetUtcNow();
        return _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Issuer,
            Subject = new ClaimsIdentity([new Claim("sub", userId.ToString()), new Claim("sid", sessionId.ToString()), new Claim("jti", Guid.NewGuid().ToString("N"))]),
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            SigningCredentials = new SigningCredentials(Key, SecurityAlgorithms.HmacSha256),
        });
    }

    /// <summary>The user and session a well-signed, unexpired token names; null when it is malformed, forged, expired or names no session.</summary>
    public async Task<(Guid UserId, Guid SessionId)?> ValidateAsync(string token)
    {
        var result = await _handler.ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = Issuer,
            ValidAudience = Issuer,
            IssuerSigningKey = Key,
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            ClockSkew = TimeSpan.FromSeconds(30),
            LifetimeValidator = (notBefore, expires, _, _) =>
            {
                var now = clock.GetUtcNow().UtcDateTime;
                return expires is { } e && e > now.AddSeconds(-30) && (notBefore is null || notBefore <= now.AddSeconds(30));
            },
        });
        if (!result.IsValid
            || result.ClaimsIdentity.FindFirst("sub")?.Value is not { } sub || !Guid.TryParse(sub, out var id)
            || result.ClaimsIdentity.FindFirst("sid")?.Value is not { } sid || !Guid.TryParse(sid, out var sessionId))
        {
            return null;
        }

        return (id, sessionId);
    }
}
