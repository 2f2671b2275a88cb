using Clarity.Features.Identity;
using Clarity.Hosting;
using Clarity.Hosting.Authentication;
using Clarity.Hosting.Authorization;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Clarity.Dashboard;

/// <summary>
/// Marks a dashboard endpoint (a page or an htmx fragment) and declares its access. Dashboard endpoints are
/// signed in with the session cookie only. Signed out, a page redirects to the sign-in page (a fragment answers
/// 401 with <c>HX-Redirect</c>); a page under <c>/o/{org}</c> needs a membership in that org (otherwise the
/// not-found page, exactly like a missing org) and the <see cref="Permission"/> (default <c>org:read</c>).
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class DashboardPageAttribute : Attribute
{
    /// <summary>Reachable signed out (setup, sign-in, the root redirect). The session is still resolved when there is one.</summary>
    public bool Anonymous { get; set; }

    /// <summary>The permission an org page needs; <c>org:read</c> when not set.</summary>
    public string? Permission { get; set; }
}

/// <summary>Endpoint metadata on the dashboard's static assets (scripts, styles, icons), which are public.</summary>
public sealed record DashboardStaticAsset;

/// <summary>The signed-in person as the dashboard sees them: who, and the orgs they belong to.</summary>
public sealed record DashboardSession(Caller Caller, User User, IReadOnlyList<OrgMembership> Orgs, IReadOnlyList<PendingInvitation> Invitations);

/// <summary>
/// Enforces <see cref="DashboardPageAttribute"/>; called by <see cref="AccessMiddleware"/>. The session cookie signs the
/// person in (<see cref="ClarityAuthentication.SessionCookieScheme"/>, whatever other headers the request carries);
/// their role in the org comes from <see cref="AccessResolver"/>, as for the API.
/// </summary>
public sealed class DashboardAccess(IdentityService identity, AccessResolver access)
{
    public const string HxRequest = "HX-Request";

    /// <summary>The header a Razor component answer marks itself with (ASP.NET Core's EndpointHtmlRenderer).</summary>
    private const string EnhancedNavigationHeader = "blazor-enhanced-nav";

    public async Task InvokeAsync(HttpContext context, DashboardPageAttribute page, RequestDelegate next)
    {
        var session = await ResolveSessionAsync(context);
        if (session is not null)
        {
            context.Features.Set(session.Caller);
            context.Features.Set(session);
        }

        if (page.Anonymous)
        {
            await next(context);
            return;
        }

        if (session is null)
        {
            await SignInFirstAsync(context);
            return;
        }

        if (context.Request.RouteValues["org"] is string slug)
        {
            var org = await access.ResolveAsync(session.Caller, slug, context.RequestAborted);
            if (org is null)
            {
                await WriteStatusPageAsync(context, StatusCodes.Status404NotFound);
                return;
            }

            if (!org.Can(page.Permission ?? Permissions.OrgRead))
            {
                await WriteStatusPageAsync(context, StatusCodes.Status403Forbidden);
                return;
            }

            context.Features.Set(org);
        }

        await next(context);
    }

    /// <summary>Where to go back to after signing in: a local path only, never another site.</summary>
    public static string SafeReturnUrl(string? returnUrl) =>
        returnUrl is { Length: > 0 } url && url[0] == '/' && (url.Length == 1 || (url[1] != '/' && url[1] != '\\')) && !url.Contains('\n', StringComparison.Ordinal) && !url.Contains('\r', StringComparison.Ordinal)
            ? url
            : "/";

    public static string LoginUrl(HttpContext context)
    {
        var back = context.Request.Path + context.Request.QueryString;
        return "/login?returnUrl=" + Uri.EscapeDataString(back);
    }

    private static async Task SignInFirstAsync(HttpContext context)
    {
        if (context.Request.Headers.ContainsKey(HxRequest))
        {
            // htmx follows HX-Redirect with a full page load; the fragment itself is refused.
            var page = context.Request.Headers["HX-Current-URL"].ToString();
            var back = Uri.TryCreate(page, UriKind.Absolute, out var uri) ? uri.PathAndQuery : "/";
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.Headers["HX-Redirect"] = "/login?returnUrl=" + Uri.EscapeDataString(SafeReturnUrl(back));
            // A body of its own, so that the status-code page does not replace the response (and its headers).
            await context.Response.WriteAsync("Sign in again.", context.RequestAborted);
            return;
        }

        context.Response.Redirect(LoginUrl(context));
    }

    /// <summary>A browser asking for a page outside the API: it gets the dashboard's HTML status page, not problem+json.</summary>
    public static bool WantsPage(HttpContext context) =>
        HttpMethods.IsGet(context.Request.Method)
        && !context.Request.Path.StartsWithSegments("/api")
        && !context.Request.Headers.ContainsKey(HxRequest)
        && context.Request.Headers.Accept.ToString().Contains("text/html", StringComparison.Ordinal);

    /// <summary>
    /// Writes <see cref="Pages.StatusPage"/>: for the access rule, and as the status-code page after a page set 404
    /// (a component endpoint that changes its status writes no body and leaves it to the status-code page).
    /// </summary>
    /// <remarks>
    /// Such a page has already rendered in this request: its scoped NavigationManager is initialised and its answer is
    /// marked for enhanced navigation (a header the component result adds rather than sets). So the status page gets
    /// a service scope of its own, as the framework's re-execution does (createScopeForStatusCodePages), and the mark
    /// is cleared first.
    /// </remarks>
    public static async Task WriteStatusPageAsync(HttpContext context, int status)
    {
        context.Response.Headers.Remove(EnhancedNavigationHeader);
        var requestServices = context.RequestServices;
        await using var scope = requestServices.GetRequiredService<IServiceScopeFactory>().CreateAsyncScope();
        context.RequestServices = scope.ServiceProvider;
        try
        {
            await new RazorComponentResult<Pages.StatusPage>(new { Status = status }) { StatusCode = status }.ExecuteAsync(context);
        }
        finally
        {
            context.RequestServices = requestServices;
        }
    }

    private async Task<DashboardSession?> ResolveSessionAsync(HttpContext context)
    {
        var result = await context.AuthenticateAsync(ClarityAuthentication.SessionCookieScheme);
        if (CallerIdentity.Of(result.Principal) is not { IsUser: true } caller)
        {
            return null;
        }

        try
        {
            var me = await identity.MeAsync(caller, context.RequestAborted);
            if (me.User is null)
            {
                return null;
            }

            context.User = result.Principal!;
            return new DashboardSession(caller, me.User, me.Orgs, me.Invitations ?? []);
        }
        catch (ApiException)
        {
            return null; // the user no longer exists
        }
    }
}
