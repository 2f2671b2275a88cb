using System.Collections.Concurrent;
using System.Reflection;
using Clarity.Dashboard;
using Clarity.Features.Identity;
using Clarity.Hosting.RateLimiting;

namespace Clarity.Hosting;

/// <summary>Who is calling: a signed-in user, or an API key (which belongs to exactly one org).</summary>
public sealed record Caller(Guid? UserId, ApiKeyPrincipal? ApiKey)
{
    public bool IsUser => UserId is not null;

    /// <summary>The id recorded as the actor of a change (the user, or the API key).</summary>
    public Guid ActorId => UserId ?? ApiKey!.Id;
}

/// <summary>The org a request addresses, resolved and authorised. Handlers take it as a parameter.</summary>
public sealed record OrgContext(Guid OrgId, string Slug, string Role, Caller Caller)
{
    public static ValueTask<OrgContext?> BindAsync(HttpContext context, ParameterInfo parameter) =>
        ValueTask.FromResult<OrgContext?>(context.Features.Get<OrgContext>()
            ?? throw new InvalidOperationException($"{parameter.Name}: the endpoint is not org-scoped (no RequirePermission)."));
}

/// <summary>
/// Resolves the caller from <c>Authorization: Bearer</c> (API key or JWT) or the session cookie, then enforces
/// the endpoint's declared access: public, any caller, user only, or a permission within the addressed org.
/// Another org's resources answer 404, exactly like missing ones. An endpoint that declares nothing is refused.
/// </summary>
public sealed partial class AccessMiddleware(RequestDelegate next, DashboardAccess dashboard, IdentityStore store, ApiKeyCache apiKeys, TokenService tokens, ApiRateLimiter rateLimits, TimeProvider clock, ILogger<AccessMiddleware> logger)
{
    public const string SessionCookie = "clarity_session";
    private static readonly TimeSpan s_touchEvery = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, Org> _orgsBySlug = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Guid, long> _keyTouched = new();

    public async Task InvokeAsync(HttpContext context)
    {
        var endpoint = context.GetEndpoint();

        // Routing's own 405/415 endpoints are plain Endpoints that only set a status code: let them answer.
        if (endpoint is not RouteEndpoint || endpoint.Metadata.GetMetadata<PublicEndpoint>() is not null)
        {
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

        var caller = await ResolveCallerAsync(context);
        context.Features.Set(caller);

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
            var org = slug is null ? null : await FindOrgAsync(slug, context.RequestAborted);
            string? role = null;
            if (org is not null)
            {
                role = caller.ApiKey is { } key
                    ? (key.OrgId == org.Id ? key.Role : null)
                    : await store.FindRoleAsync(org.Id, caller.UserId!.Value, context.RequestAborted);
            }

            var scope = org is null || role is null ? null : new OrgContext(org.Id, org.Slug, role, caller);
            // Before the answer, so that refused requests spend the caller's budget too (never a foreign org's).
            await rateLimits.EnforceAsync(context, caller, scope);
            if (scope is null)
            {
                throw Problems.NotFound($"Org '{slug}'");
            }

            if (!Roles.Grants(scope.Role, permission.Permission))
            {
                throw Problems.Forbidden($"Your role '{scope.Role}' lacks the '{permission.Permission}' permission.");
            }

            context.Features.Set(scope);
        }

        await next(context);
    }

    /// <summary>The credential a request carries: the bearer token (API key or JWT), else the session cookie; null if none.</summary>
    public static string? ReadCredential(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.Length > 0)
        {
            if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7)
            {
                throw Problems.Unauthorized("The Authorization header must be 'Bearer <api key or token>'.");
            }

            return header[7..].Trim();
        }

        return request.Cookies.TryGetValue(SessionCookie, out var cookie) && cookie.Length > 0 ? cookie : null;
    }

    private async Task<Caller> ResolveCallerAsync(HttpContext context)
    {
        var token = ReadCredential(context.Request)
            ?? throw Problems.Unauthorized("Authentication required: send Authorization: Bearer <api key or token>.");

        if (token.Length > 4096)
        {
            throw Problems.Unauthorized("The credential is not valid.");
        }

        if (ApiKeySecret.LooksLikeKey(token))
        {
            var key = await apiKeys.FindAsync(ApiKeySecret.Hash(token), context.RequestAborted)
                ?? throw Problems.Unauthorized("The API key is not valid.");
            if (key.Revoked)
            {
                throw Problems.Unauthorized("The API key has been revoked.");
            }

            await TouchAsync(key);
            return new Caller(null, key);
        }

        var userId = await tokens.ValidateAsync(token) ?? throw Problems.Unauthorized("The token is invalid or has expired. Sign in again.");
        return new Caller(userId, null);
    }

    private async Task TouchAsync(ApiKeyPrincipal key)
    {
        // last_used_at is informative: record it at most once a minute per key so it never costs a write per request.
        var now = clock.GetUtcNow();
        var last = _keyTouched.GetOrAdd(key.Id, _ => key.LastUsedAt ?? 0);
        if (now.ToUnixTimeMilliseconds() - last < s_touchEvery.TotalMilliseconds)
        {
            return;
        }

        _keyTouched[key.Id] = now.ToUnixTimeMilliseconds();
        await store.TouchApiKeyAsync(key.Id, now, CancellationToken.None);
    }

    private async Task<Org?> FindOrgAsync(string slug, CancellationToken ct)
    {
        if (_orgsBySlug.TryGetValue(slug, out var cached))
        {
            return cached;
        }

        var org = await store.FindOrgBySlugAsync(slug, ct);
        if (org is not null)
        {
            // Slugs never change and orgs are not deleted yet, so a found org can be cached for good.
            _orgsBySlug[slug] = org;
        }

        return org;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Endpoint {Endpoint} declares no permission; refusing the request")]
        public static partial void Undeclared(ILogger logger, string endpoint);
    }
}
