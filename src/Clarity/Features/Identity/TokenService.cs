using System.Security.Claims;
using System.Security.Cryptography;
using Clarity.Hosting;
using Clarity.Hosting.KeyRing;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Clarity.Features.Identity;

/// <summary>
/// Issues the HS256 JWTs used by sign-in (bearer token and session cookie alike), and says how to validate them
/// (<see cref="ValidationParameters"/>, which the JwtBearer schemes of <see cref="Hosting.Authentication.ClarityAuthentication"/>
/// use). Each token names its server-side session (the <c>sid</c> claim); those schemes then check that the session is
/// still active.
/// </summary>
public sealed class TokenService(ServerSecrets secrets, IOptions<ClarityOptions> options, TimeProvider clock)
{
    public const string Issuer = "clarity";
    private readonly JsonWebTokenHandler _handler = new() { SetDefaultTimesOnTokenCreation = false };
    private SymmetricSecurityKey? _key;

    public async Task InitializeAsync(CancellationToken ct)
    {
        var secret = await secrets.GetOrCreateAsync("jwt-signing-key", () => Convert.ToBase64String(RandomNumberGenerator.GetBytes(64)), ct);
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

    /// <summary>
    /// How a sign-in token is validated: this server's issuer and audience, HS256 with the server's key (read when a
    /// token is validated, so after <see cref="InitializeAsync"/>), and a lifetime judged by the app's clock with
    /// 30 seconds of skew.
    /// </summary>
    public TokenValidationParameters ValidationParameters() => new()
    {
        ValidIssuer = Issuer,
        ValidAudience = Issuer,
        IssuerSigningKeyResolver = (_, _, _, _) => [Key],
        ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
        ClockSkew = TimeSpan.FromSeconds(30),
        NameClaimType = "sub",
        LifetimeValidator = (notBefore, expires, _, _) =>
        {
            var now = clock.GetUtcNow().UtcDateTime;
            return expires is { } e && e > now.AddSeconds(-30) && (notBefore is null || notBefore <= now.AddSeconds(30));
        },
    };
}
