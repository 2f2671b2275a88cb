using System.Security.Claims;
using System.Text.Encodings.Web;
using Clarity.Features.Identity;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Clarity.Hosting.Authentication;

/// <summary>
/// Signs a request in with the API key of its <c>Authorization: Bearer clk_…</c> header. Keys are looked up by the
/// SHA-256 of their secret through <see cref="ApiKeyCache"/>, which forgets a key the moment it is revoked or capped
/// (on every node); unknown and revoked keys are refused, and a key's last use is recorded at most once a minute.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiKeyCache keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!ClarityAuthentication.TryReadBearer(Request, out var secret) || !ApiKeySecret.LooksLikeKey(secret))
        {
            return AuthenticateResult.NoResult();
        }

        if (secret.Length > ClarityAuthentication.MaxCredentialLength)
        {
            return Refuse("The credential is not valid.");
        }

        var key = await keys.FindAsync(ApiKeySecret.Hash(secret), Context.RequestAborted);
        if (key is null)
        {
            return Refuse("The API key is not valid.");
        }

        if (key.Revoked)
        {
            return Refuse("The API key has been revoked.");
        }

        await keys.TouchAsync(key);
        var caller = new Caller(null, key) { Source = CredentialSource.Bearer };
        Claim[] claims = [new("sub", key.Id.ToString()), new("org", key.OrgId.ToString())];
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new CallerIdentity(caller, Scheme.Name, claims)), Scheme.Name));
    }

    private static AuthenticateResult Refuse(string detail) => AuthenticateResult.Fail(new CredentialRefusedException(detail));
}
