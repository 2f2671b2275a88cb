using System.Net;
using Clarity.Hosting.KeyRing;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Xunit;

namespace Clarity.Tests.Hosting.Authentication;

/// <summary>
/// The sign-in token schemes validate issuer, audience, lifetime and the HS256 signature with the server's key, then
/// the token's server-side session; every refusal is a 401 problem in the words the API has always used. Tokens are
/// forged here with the server's own key, so that each test changes exactly one thing about an otherwise valid token.
/// </summary>
public abstract class AuthenticationTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task AForgedToken_WithEverythingRight_SignsIn_AsBearerAndAsCookie()
    {
        var token = await ForgeAsync(_ => { });

        using var bearer = Host.CreateClient(token);
        await bearer.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
        using var cookie = Host.CreateCookieClient(token);
        await cookie.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task AToken_SignedWithAnotherKey_Is401()
    {
        var otherKey = new SymmetricSecurityKey(System.Security.Cryptography.RandomNumberGenerator.GetBytes(64));
        await ExpectRefusedAsync(await ForgeAsync(d => d.SigningCredentials = new SigningCredentials(otherKey, SecurityAlgorithms.HmacSha256)));
    }

    [Fact]
    public async Task AToken_SignedWithAnotherAlgorithm_OrNotSigned_Is401()
    {
        await ExpectRefusedAsync(await ForgeAsync(d => d.SigningCredentials = new SigningCredentials(d.SigningCredentials.Key, SecurityAlgorithms.HmacSha512)));
        await ExpectRefusedAsync(await ForgeAsync(d => d.SigningCredentials = null));
    }

    [Fact]
    public async Task AToken_ForAnotherIssuerOrAudience_Is401()
    {
        await ExpectRefusedAsync(await ForgeAsync(d => d.Issuer = "someone-else"));
        await ExpectRefusedAsync(await ForgeAsync(d => d.Audience = "someone-else"));
    }

    [Fact]
    public async Task AToken_PastItsLifetime_Is401_ThoughItsSessionIsStillActive()
    {
        var past = DateTime.UtcNow.AddHours(-2);
        await ExpectRefusedAsync(await ForgeAsync(d => (d.IssuedAt, d.NotBefore, d.Expires) = (past, past, past.AddHours(1))));

        var future = DateTime.UtcNow.AddHours(1);
        await ExpectRefusedAsync(await ForgeAsync(d => (d.NotBefore, d.Expires) = (future, future.AddHours(1))));
    }

    [Fact]
    public async Task AWellSignedToken_NamingNoActiveSession_Is401_WithSignInAgain()
    {
        var token = await ForgeAsync(d => d.Claims["sid"] = Guid.NewGuid().ToString());

        using var client = Host.CreateClient(token);
        var problem = await client.GetAsync("api/v1/me").ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Equal("The session has ended (signed out, or revoked from another device). Sign in again.", problem.Str("detail"));
    }

    [Theory]
    [InlineData(null, "Authentication required: send Authorization: Bearer <api key or token>.")]
    [InlineData("Basic dXNlcjpwYXNz", "The Authorization header must be 'Bearer <api key or token>'.")]
    [InlineData("Bearer", "The Authorization header must be 'Bearer <api key or token>'.")]
    [InlineData("Bearer clk_not_a_key_of_this_server", "The API key is not valid.")]
    [InlineData("Bearer not-a-token", "The token is invalid or has expired. Sign in again.")]
    [InlineData("Bearer LONG", "The credential is not valid.")]
    [InlineData("Bearer clk_LONG", "The credential is not valid.")]
    public async Task ABadCredential_Is401_InItsOwnWords(string? authorization, string detail)
    {
        using var client = Host.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, Org.Api("tasks"));
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization.Replace("LONG", new string('a', 5000), StringComparison.Ordinal));
        }

        var problem = await client.SendAsync(request).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Equal(detail, problem.Str("detail"));
    }

    [Fact]
    public async Task TheSessionCookie_RefusesAnApiKey_AndAnOverlongValue_InTheirOwnWords()
    {
        using var key = Host.CreateCookieClient(Org.MemberKey);
        var problem = await key.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Equal("An API key is sent as 'Authorization: Bearer <key>', never in the session cookie.", problem.Str("detail"));

        using var overlong = Host.CreateCookieClient(new string('a', 5000));
        problem = await overlong.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Equal("The credential is not valid.", problem.Str("detail"));
    }

    [Fact]
    public async Task ABearerHeader_TakesPrecedenceOverTheCookie_AndABlankOneDoesNot()
    {
        using var client = Host.CreateCookieClient(Org.OwnerToken);
        using var withKey = new HttpRequestMessage(HttpMethod.Get, "api/v1/me");
        withKey.Headers.TryAddWithoutValidation("Authorization", "Bearer " + Org.MemberKey);
        var me = await client.SendAsync(withKey).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("member-key", me.GetProperty("apiKey").Str("name"));

        using var blank = new HttpRequestMessage(HttpMethod.Get, "api/v1/me");
        blank.Headers.TryAddWithoutValidation("Authorization", "  ");
        me = await client.SendAsync(blank).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(Org.OwnerEmail, me.GetProperty("user").Str("email"));
    }

    private async Task ExpectRefusedAsync(string token)
    {
        using var bearer = Host.CreateClient(token);
        var problem = await bearer.GetAsync("api/v1/me").ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Equal("The token is invalid or has expired. Sign in again.", problem.Str("detail"));

        using var cookie = Host.CreateCookieClient(token);
        problem = await cookie.GetAsync("api/v1/me").ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Equal("The token is invalid or has expired. Sign in again.", problem.Str("detail"));
    }

    /// <summary>
    /// A token like the ones sign-in issues (the owner's user and a live session of theirs, signed with the server's key),
    /// changed by <paramref name="change"/>.
    /// </summary>
    private async Task<string> ForgeAsync(Action<SecurityTokenDescriptor> change)
    {
        var signedIn = new JsonWebToken(await Host.LoginAsync(Org.OwnerEmail, ClarityHost.OwnerPassword));
        var secret = await Host.Services.GetRequiredService<ServerSecrets>().GetOrCreateAsync("jwt-signing-key", () => throw new InvalidOperationException("The server has no signing key."), CancellationToken.None);
        var key = new SymmetricSecurityKey(Convert.FromBase64String(secret));
        var now = DateTime.UtcNow;
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = "clarity",
            Audience = "clarity",
            Claims = new Dictionary<string, object>
            {
                ["sub"] = signedIn.GetClaim("sub").Value,
                ["sid"] = signedIn.GetClaim("sid").Value,
                ["jti"] = Guid.NewGuid().ToString("N"),
            },
            IssuedAt = now,
            NotBefore = now,
            Expires = now.AddHours(1),
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
        };
        change(descriptor);
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }
}

public sealed class SqliteAuthenticationTests(SqliteHostFixture fixture) : AuthenticationTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresAuthenticationTests(PostgresHostFixture fixture) : AuthenticationTests(fixture), IClassFixture<PostgresHostFixture>;
