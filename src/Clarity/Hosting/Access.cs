using System.Reflection;
using Clarity.Dashboard;
using Clarity.Features.Identity;
using Clarity.Hosting.Authentication;
using Clarity.Hosting.Authorization;
using Clarity.Hosting.RateLimiting;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;

namespace Clarity.Hosting;

/// <summary>Where a request's credential came from. Cookie-borne credentials get the cross-site checks.</summary>
public enum CredentialSource
{
    Bearer,
    Cookie,
}

/// <summary>
/// Who is calling, as an authentication handler (<see cref="ClarityAuthentication"/>) signed them in: a user (and the
/// session they signed in with), or an API key (which belongs to exactly one org).
/// </summary>
public sealed record Caller(Guid? UserId, ApiKeyPrincipal? ApiKey)
{
    public bool IsUser => UserId is not null;

    /// <summary>The id recorded as the actor of a change (the user, or the API key).</summary>
    public Guid ActorId => UserId ?? ApiKey!.Id;

    /// <summary>Who the caller's changes are attributed to, in events (and later the audit log).</summary>
    public Clarity.Events.Actor Actor => UserId is { } user ? Clarity.Events.Actor.User(user)
        : ApiKey is { } key ? Clarity.Events.Actor.ApiKey(key.Id)
        : Clarity.Events.Actor.System;

    /// <summary>The server-side sign-in session of a user's token; null for API keys.</summary>
    public Guid? SessionId { get; init; }

    /// <summary>Where the credential came from: the Authorization header, or the session cookie.</summary>
    public CredentialSource Source { get; init; }
}

/// <summary>
/// The org a request addresses, resolved and authorised by <see cref="AccessResolver"/>: the caller's role there and
/// what it permits. Handlers take it as a parameter.
/// </summary>
public sealed record OrgContext(Guid OrgId, string Slug, OrgRole Role, Caller Caller)
{
    /// <summary>True when the caller's role in the org holds <paramref name="permission"/>.</summary>
    public bool Can(string permission) => Role.Grants(permission);

    public static ValueTask<OrgContext?> BindAsync(HttpContext context, ParameterInfo parameter) =>
        ValueTask.FromResult<OrgContext?>(context.Features.Get<OrgContext>()
            ?? throw new InvalidOperationException($"{parameter.Name}: the endpoint is not org-scoped (no RequirePermission)."));
}

/// <summary>
/// Enforces the endpoint's declared access: public, any caller, user only, or a permission within the addressed org.
/// The caller is signed in by the authentication handlers (<see cref="ClarityAuthentication"/>: API key, bearer token
/// or session cookie); their role and permissions in the org come from <see cref="AccessResolver"/>. Another org's
/// resources answer 404, exactly like missing ones. An endpoint that declares nothing is refused. A cookie-authenticated
/// unsafe request must come from this site and carry an antiforgery token (CSRF).
/// </summary>
public sealed partial class AccessMiddleware(RequestDelegate next, DashboardAccess dashboard, AccessResolver access, IAntiforgery antiforgery, ApiRateLimiter rateLimits, Microsoft.Extensions.Options.IOptions<ClarityOptions> options, ILogger<AccessMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var endpoint = context.GetEndpoint();

        // Routing's own 405/415 endpoints are plain Endpoints that only set a status code: let them answer.
        if (endpoint is not RouteEndpoint)
        {
            await next(context);
            return;
        }

        if (endpoint.Metadata.GetMetadata<PublicEndpoint>() is not null)
        {
            // Public endpoints that change state (sign-in, setup, sign-out, accepting an invitation by its link) may not
            // be driven from another site's page either: that would sign a victim in to the attacker's account.
            // Origins the deployment allows through CORS may call them (a separate front end); cookies never cross anyway.
            if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method)
                && !SiteOrigin.IsSameSiteOrAbsent(context.Request) && !options.Value.Cors.AllowedOrigins.Contains(context.Request.Headers.Origin.ToString(), StringComparer.OrdinalIgnoreCase))
            {
                throw Problems.Forbidden("This request came from another site's page (its Origin header names another site).");
            }

            await next(context);
            return;
        }

        // Dashboard pages and fragments: the session cookie, a redirect to sign in, HTML status pages.
        if (endpoint.Metadata.GetMetadata<DashboardPageAttribute>() is { } page)
        {
            await dashboard.InvokeAsync(context, page, next);
            return;
        }

        var permission = endpoint.Metadata.GetMetadata<RequiresPermission>();
        var callerRule = endpoint.Metadata.GetMetadata<RequiresCaller>();
        if (permission is null && callerRule is null)
        {
            Log.Undeclared(logger, endpoint.DisplayName ?? context.Request.Path);
            throw Problems.Forbidden("This endpoint declares no permission and is closed.");
        }

        var caller = await AuthenticateAsync(context);
        if (caller.Source == CredentialSource.Cookie)
        {
            await CheckCookieRequestAsync(context);
        }

        if (callerRule is not null)
        {
            await rateLimits.EnforceAsync(context, caller, null);
            if (callerRule.UserOnly && !caller.IsUser)
            {
                throw Problems.Forbidden("This endpoint needs a signed-in user, not an API key.");
            }
        }

        if (permission is not null)
        {
            var slug = context.Request.RouteValues["org"] as string;
            var scope = slug is null ? null : await access.ResolveAsync(caller, slug, context.RequestAborted);
            // Before the answer, so that refused requests spend the caller's budget too (never a foreign org's).
            await rateLimits.EnforceAsync(context, caller, scope);
            if (scope is null)
            {
                throw Problems.NotFound($"Org '{slug}'");
            }

            if (!scope.Can(permission.Permission))
            {
                throw Problems.Forbidden($"Your role '{scope.Role}' lacks the '{permission.Permission}' permission.");
            }

            context.Features.Set(scope);
        }

        await next(context);
    }

    /// <summary>
    /// Signs the request in with the default scheme (the policy that picks API key, bearer token or session cookie)
    /// and records the caller (<see cref="HttpContext.User"/> and the <see cref="Caller"/> feature); a 401 problem
    /// when the request carries no credential, or one that signs nobody in (unknown, revoked, expired or signed out).
    /// </summary>
    public static async Task<Caller> AuthenticateAsync(HttpContext context)
    {
        var result = await context.AuthenticateAsync(ClarityAuthentication.Scheme);
        if (result.Succeeded && CallerIdentity.Of(result.Principal) is { } caller)
        {
            context.User = result.Principal;
            context.Features.Set(caller);
            return caller;
        }

        throw Problems.Unauthorized(result.None
            ? "Authentication required: send Authorization: Bearer <api key or token>."
            : ClarityAuthentication.Describe(result.Failure));
    }

    /// <summary>
    /// Browsers attach the session cookie to requests that other sites' pages make. A cookie-authenticated unsafe
    /// request must therefore name this site as its Origin and carry the dashboard's antiforgery token in the
    /// RequestVerificationToken header. (Safe requests change nothing; a WebSocket upgrade is checked by the stream.)
    /// </summary>
    private async Task CheckCookieRequestAsync(HttpContext context)
    {
        var method = context.Request.Method;
        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method))
        {
            return;
        }

        if (!SiteOrigin.IsSameSite(context.Request))
        {
            throw Problems.Forbidden("A request signed in with the session cookie must come from this site's pages (Origin). Other clients send Authorization: Bearer.");
        }

        if (!await antiforgery.IsRequestValidAsync(context))
        {
            throw Problems.Forbidden("A request signed in with the session cookie needs the dashboard's antiforgery token in the RequestVerificationToken header. Other clients send Authorization: Bearer.");
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Endpoint {Endpoint} declares no permission; refusing the request")]
        public static partial void Undeclared(ILogger logger, string endpoint);
    }
}

/// <summary>Whether a request comes from a page of this site, judged by its Origin header (else its Referer).</summary>
public static class SiteOrigin
{
    /// <summary>True when the Origin (or, without one, the Referer) names this host.</summary>
    public static bool IsSameSite(HttpRequest request) => Judge(request) == true;

    /// <summary>True when the request names this host, or names no origin at all (a non-browser client).</summary>
    public static bool IsSameSiteOrAbsent(HttpRequest request) => Judge(request) != false;

    private static bool? Judge(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        if (origin.Length == 0)
        {
            origin = request.Headers.Referer.ToString();
        }

        if (origin.Length == 0)
        {
            return null;
        }

        // "null" (an opaque origin: a sandboxed frame, a data: URL) is never this site.
        return Uri.TryCreate(origin, UriKind.Absolute, out var uri)
            && uri.Scheme is "http" or "https"
            && string.Equals(uri.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase);
    }
}
