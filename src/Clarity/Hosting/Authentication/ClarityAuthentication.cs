using System.Security.Claims;
using Clarity.Features.Identity;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;

namespace Clarity.Hosting.Authentication;

/// <summary>
/// Clarity's authentication, on the framework's handlers. <see cref="Scheme"/>, the default, is a policy scheme that
/// picks one handler per request from what the request carries:
/// - <c>Authorization: Bearer clk_…</c>: <see cref="ApiKeyScheme"/> (<see cref="ApiKeyAuthenticationHandler"/>);
/// - any other <c>Authorization</c> header: <see cref="BearerTokenScheme"/>, JwtBearer over the sign-in token;
/// - no (or a blank) <c>Authorization</c> header: <see cref="SessionCookieScheme"/>, JwtBearer over the same token
///   read from the <c>clarity_session</c> cookie (the dashboard uses this scheme alone).
/// Both token schemes validate issuer, audience, lifetime and the HS256 key (<see cref="TokenService"/>), then require
/// the token's server-side session to be active. A success carries the <see cref="Caller"/> (<see cref="CallerIdentity"/>);
/// a refusal carries the 401's wording (<see cref="CredentialRefusedException"/>).
/// </summary>
public static class ClarityAuthentication
{
    public const string Scheme = "Clarity";
    public const string ApiKeyScheme = "ApiKey";
    public const string BearerTokenScheme = "BearerToken";
    public const string SessionCookieScheme = "SessionCookie";

    /// <summary>Longer credentials are refused unread.</summary>
    public const int MaxCredentialLength = 4096;

    public const string TokenRefused = "The token is invalid or has expired. Sign in again.";

    public static IServiceCollection AddClarityAuthentication(this IServiceCollection services)
    {
        services.AddAuthentication(Scheme)
            .AddPolicyScheme(Scheme, "Clarity credentials", o => o.ForwardDefaultSelector = SelectScheme)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyScheme, "API key", null)
            .AddJwtBearer(BearerTokenScheme, o => o.Events = new JwtBearerEvents { OnMessageReceived = ReadBearerToken, OnTokenValidated = CheckSessionAsync })
            .AddJwtBearer(SessionCookieScheme, o => o.Events = new JwtBearerEvents { OnMessageReceived = ReadSessionCookie, OnTokenValidated = CheckSessionAsync });
        foreach (var scheme in new[] { BearerTokenScheme, SessionCookieScheme })
        {
            services.AddOptions<JwtBearerOptions>(scheme).Configure<TokenService, TimeProvider>((o, tokens, clock) =>
            {
                o.TokenValidationParameters = tokens.ValidationParameters();
                o.MapInboundClaims = false;
                o.TimeProvider = clock;
            });
        }

        return services;
    }

    /// <summary>The 401's detail for a failed authentication: the handler's own wording, or the token's for a token that did not validate.</summary>
    public static string Describe(Exception? failure) => failure is CredentialRefusedException refused ? refused.Message : TokenRefused;

    /// <summary>The credential of an <c>Authorization: Bearer</c> header; false when the header is absent, blank or not of that form.</summary>
    public static bool TryReadBearer(HttpRequest request, out string credential)
    {
        var header = request.Headers.Authorization.ToString().Trim();
        if (header.Length > 7 && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            credential = header[7..].Trim();
            return true;
        }

        credential = "";
        return false;
    }

    private static string SelectScheme(HttpContext context)
    {
        if (context.Request.Headers.Authorization.ToString().Trim().Length == 0)
        {
            return SessionCookieScheme;
        }

        return TryReadBearer(context.Request, out var credential) && ApiKeySecret.LooksLikeKey(credential) ? ApiKeyScheme : BearerTokenScheme;
    }

    private static Task ReadBearerToken(MessageReceivedContext context)
    {
        if (context.Request.Headers.Authorization.ToString().Trim().Length == 0)
        {
            context.NoResult();
        }
        else if (!TryReadBearer(context.Request, out var token))
        {
            context.Fail(new CredentialRefusedException("The Authorization header must be 'Bearer <api key or token>'."));
        }
        else if (token.Length > MaxCredentialLength)
        {
            context.Fail(new CredentialRefusedException("The credential is not valid."));
        }
        else
        {
            context.Token = token;
        }

        return Task.CompletedTask;
    }

    private static Task ReadSessionCookie(MessageReceivedContext context)
    {
        if (!context.Request.Cookies.TryGetValue(SessionCookie.Name, out var cookie) || cookie.Length == 0)
        {
            context.NoResult();
        }
        else if (cookie.Length > MaxCredentialLength)
        {
            context.Fail(new CredentialRefusedException("The credential is not valid."));
        }
        else if (ApiKeySecret.LooksLikeKey(cookie))
        {
            // The cookie carries sign-in sessions only: an API key planted in it (by a sibling site, say) is refused.
            context.Fail(new CredentialRefusedException("An API key is sent as 'Authorization: Bearer <key>', never in the session cookie."));
        }
        else
        {
            context.Token = cookie;
        }

        return Task.CompletedTask;
    }

    /// <summary>A well-signed, unexpired token still needs its server-side session: signed out or revoked, it signs nobody in.</summary>
    private static async Task CheckSessionAsync(TokenValidatedContext context)
    {
        var principal = context.Principal!;
        if (!Guid.TryParse(principal.FindFirst("sub")?.Value, out var userId) || !Guid.TryParse(principal.FindFirst("sid")?.Value, out var sessionId))
        {
            context.Fail(new CredentialRefusedException(TokenRefused));
            return;
        }

        var sessions = context.HttpContext.RequestServices.GetRequiredService<SessionService>();
        SessionRow? session;
        try
        {
            session = await sessions.FindActiveAsync(sessionId, userId, context.HttpContext.RequestAborted);
        }
        catch (OperationCanceledException) when (context.HttpContext.RequestAborted.IsCancellationRequested)
        {
            // The client went away while its session was looked up: nobody reads the answer, and it is no server error
            // (left to throw, JwtBearer would log it as one).
            context.Fail(new CredentialRefusedException("The request was cancelled."));
            return;
        }

        if (session is null)
        {
            context.Fail(new CredentialRefusedException("The session has ended (signed out, or revoked from another device). Sign in again."));
            return;
        }

        var source = context.Scheme.Name == SessionCookieScheme ? CredentialSource.Cookie : CredentialSource.Bearer;
        var caller = new Caller(userId, null) { SessionId = sessionId, Source = source };
        context.Principal = new ClaimsPrincipal(new CallerIdentity(caller, context.Scheme.Name, principal.Claims));
    }
}

/// <summary>Why a credential was refused, in the words the 401 answer uses.</summary>
public sealed class CredentialRefusedException(string message) : Exception(message);

/// <summary>The identity a Clarity authentication handler signs a request in with: its claims, and the <see cref="Caller"/> they name.</summary>
public sealed class CallerIdentity(Caller caller, string scheme, IEnumerable<Claim> claims) : ClaimsIdentity(claims, scheme, "sub", null)
{
    public Caller Caller { get; } = caller;

    /// <summary>A copy that still names the caller (the framework clones identities, e.g. for claims transformation).</summary>
    public override ClaimsIdentity Clone() => new CallerIdentity(Caller, AuthenticationType!, Claims);

    /// <summary>The caller a principal signed in by Clarity's schemes names; null for any other principal (or none).</summary>
    public static Caller? Of(ClaimsPrincipal? principal) => principal?.Identities.OfType<CallerIdentity>().FirstOrDefault()?.Caller;
}
