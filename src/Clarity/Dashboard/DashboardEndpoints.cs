using Clarity.Dashboard.Components;
using Clarity.Dashboard.Pages;
using Clarity.Features.Agents;
using Clarity.Features.Clarifications;
using Clarity.Features.Identity;
using Clarity.Features.Tasks;
using Clarity.Hosting;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Clarity.Dashboard;

/// <summary>
/// The dashboard: Razor components rendered on the server (static SSR), the static assets (fingerprinted by
/// MapStaticAssets), sign-out, and the HTML fragments that htmx re-fetches when a stream event arrives.
/// </summary>
public static class DashboardEndpoints
{
    public static IServiceCollection AddDashboard(this IServiceCollection services)
    {
        services.AddRazorComponents();
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "clarity_csrf";
            o.HeaderName = "RequestVerificationToken";
        });
        services.AddSingleton<DashboardAccess>();
        return services;
    }

    /// <summary>The dashboard's security headers. Goes before access control, so its sign-in redirects and 403/404 pages carry them too.</summary>
    public static IApplicationBuilder UseDashboardHeaders(this IApplicationBuilder app) => app.Use(SecurityHeaders);

    /// <summary>Middleware that dashboard forms need; goes after access control.</summary>
    public static IApplicationBuilder UseDashboard(this IApplicationBuilder app) => app.UseAntiforgery();

    public static IEndpointRouteBuilder MapDashboard(this WebApplication app)
    {
        app.MapStaticAssets().Public().WithMetadata(new DashboardStaticAsset());
        // Every component endpoint is a dashboard endpoint: a page that declares no [DashboardPage] needs a signed-in
        // user (secure by default), and so does the framework's own /_framework/opaque-redirect.
        app.MapRazorComponents<App>().Add(endpoint =>
        {
            if (!endpoint.Metadata.OfType<DashboardPageAttribute>().Any())
            {
                endpoint.Metadata.Add(new DashboardPageAttribute());
            }
        });

        app.MapPost("/logout", Logout).WithMetadata(new DashboardPageAttribute { Anonymous = true }).ExcludeFromDescription();

        var org = app.MapGroup("/o/{org}").ExcludeFromDescription().WithMetadata(new DashboardPageAttribute());
        org.MapGet("/clarifications/_count", PendingCount);
        org.MapGet("/clarifications/_list", ClarificationsList);
        org.MapPost("/clarifications/{id:guid}/answer", AnswerClarification).WithMetadata(new DashboardPageAttribute { Permission = Permissions.TasksRespond });
        org.MapPost("/settings/members", AddMember).WithMetadata(new DashboardPageAttribute { Permission = Permissions.MembersManage });
        org.MapPost("/settings/members/{userId:guid}/role", ChangeRole).WithMetadata(new DashboardPageAttribute { Permission = Permissions.MembersManage });
        org.MapPost("/settings/members/{userId:guid}/remove", RemoveMember).WithMetadata(new DashboardPageAttribute { Permission = Permissions.MembersManage });
        org.MapPost("/settings/api-keys/{id:guid}/revoke", RevokeApiKey).WithMetadata(new DashboardPageAttribute { Permission = Permissions.ApiKeysManage });
        org.MapGet("/agents/_rows", AgentsRows).WithMetadata(new DashboardPageAttribute { Permission = Permissions.AgentsRead });
        app.MapTaskPages();
        return app;
    }

    /// <summary>A page of the agents table's rows: the live refresh (limit = the rows shown) and "Load more" (cursor).</summary>
    private static async Task<RazorComponentResult<AgentRows>> AgentsRows(HttpContext http, string? cursor, int? limit, string? more, AgentService agents)
    {
        var org = OrgOf(http);
        var (page, utilization) = await AgentRows.LoadAsync(agents, org, string.IsNullOrWhiteSpace(cursor) ? null : cursor.Trim(), limit, http.RequestAborted);
        return Fragment<AgentRows>(new { OrgSlug = org.Slug, Page = page, Utilization = utilization, IsMore = more is not null });
    }

    private static Task<IResult> AddMember(HttpContext http, IAntiforgery antiforgery, IdentityService identity) =>
        SettingsActionAsync(http, antiforgery, async (org, form) =>
        {
            var password = form["password"].ToString();
            var name = form["displayName"].ToString();
            var member = await identity.AddMemberAsync(org, new AddMemberRequest(form["email"].ToString(), password.Length == 0 ? null : password, form["role"].ToString(), name.Length == 0 ? null : name), http.RequestAborted);
            return $"{member.Email} added as {member.Role}.";
        });

    private static Task<IResult> ChangeRole(Guid userId, HttpContext http, IAntiforgery antiforgery, IdentityService identity) =>
        SettingsActionAsync(http, antiforgery, async (org, form) =>
        {
            var member = await identity.ChangeRoleAsync(org, userId, new ChangeRoleRequest(form["role"].ToString()), http.RequestAborted);
            return $"{member.Email} is now {member.Role}.";
        });

    private static Task<IResult> RemoveMember(Guid userId, HttpContext http, IAntiforgery antiforgery, IdentityService identity) =>
        SettingsActionAsync(http, antiforgery, async (org, _) =>
        {
            await identity.RemoveMemberAsync(org, userId, http.RequestAborted);
            return "Member removed.";
        });

    private static Task<IResult> RevokeApiKey(Guid id, HttpContext http, IAntiforgery antiforgery, IdentityService identity) =>
        SettingsActionAsync(http, antiforgery, async (org, _) =>
        {
            await identity.RevokeApiKeyAsync(org, id, http.RequestAborted);
            return "API key revoked.";
        });

    /// <summary>A settings form action: checks the antiforgery token, runs the service call, then back to settings with its outcome.</summary>
    private static async Task<IResult> SettingsActionAsync(HttpContext http, IAntiforgery antiforgery, Func<OrgContext, IFormCollection, Task<string>> action)
    {
        var org = OrgOf(http);
        if (!await antiforgery.IsRequestValidAsync(http))
        {
            Flash.Set(http, ok: false, "The form expired. Please try again.");
        }
        else
        {
            try
            {
                Flash.Set(http, ok: true, await action(org, await ReadFormAsync(http)));
            }
            catch (ApiException ex)
            {
                Flash.Set(http, ok: false, ex.Message);
            }
        }

        return TypedResults.Redirect($"/o/{Uri.EscapeDataString(org.Slug)}/settings");
    }

    private static OrgContext OrgOf(HttpContext http) => http.Features.Get<OrgContext>()!;

    /// <summary>The posted form. The antiforgery token may come in a header, so a valid token does not prove a form body.</summary>
    private static Task<IFormCollection> ReadFormAsync(HttpContext http) =>
        http.Request.HasFormContentType
            ? http.Request.ReadFormAsync(http.RequestAborted)
            : throw Problems.UnsupportedMediaType("Send the form as application/x-www-form-urlencoded or multipart/form-data.");

    private static async Task<RazorComponentResult<ClarificationList>> ClarificationsList(HttpContext http, ClarificationService clarifications, TaskService tasks)
    {
        var org = OrgOf(http);
        var items = await ClarificationList.LoadAsync(clarifications, tasks, org, http.RequestAborted);
        return Fragment<ClarificationList>(new { Org = org.Slug, Items = items, CanAnswer = Roles.Grants(org.Role, Permissions.TasksRespond) });
    }

    /// <summary>Answers through the same service as the API, so the agent's long-poll returns at once; then back to the inbox.</summary>
    private static async Task<IResult> AnswerClarification(Guid id, HttpContext http, IAntiforgery antiforgery, ClarificationService clarifications)
    {
        var org = OrgOf(http);
        var back = $"/o/{Uri.EscapeDataString(org.Slug)}/clarifications";
        if (!await antiforgery.IsRequestValidAsync(http))
        {
            Flash.Set(http, ok: false, "The form expired. Please try again.");
            return TypedResults.Redirect(back);
        }

        var form = await ReadFormAsync(http);
        try
        {
            var answered = await clarifications.AnswerAsync(org, id, new AnswerRequest(form["answer"].ToString()), http.RequestAborted);
            Flash.Set(http, ok: true, $"Answered: {answered.Answer}");
        }
        catch (ApiException ex)
        {
            Flash.Set(http, ok: false, ex.Message);
        }

        return TypedResults.Redirect(back);
    }

    private static async Task<IResult> Logout(HttpContext http, IAntiforgery antiforgery)
    {
        if (!await antiforgery.IsRequestValidAsync(http))
        {
            return TypedResults.BadRequest();
        }

        SessionCookie.Delete(http);
        return TypedResults.Redirect("/login");
    }

    private static async Task<RazorComponentResult<PendingBadge>> PendingCount(HttpContext http, ClarificationService clarifications, bool? decorative) =>
        Fragment<PendingBadge>(new { Count = await PendingBadge.CountAsync(clarifications, OrgOf(http), http.RequestAborted), Decorative = decorative == true });

    /// <summary>An HTML fragment rendered by a component, never cached.</summary>
    public static RazorComponentResult<T> Fragment<T>(object parameters)
        where T : Microsoft.AspNetCore.Components.IComponent =>
        new(parameters) { PreventStreamingRendering = true };

    private static Task SecurityHeaders(HttpContext context, RequestDelegate next)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<DashboardPageAttribute>() is not null)
        {
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
                "manifest-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "same-origin";
            context.Response.OnStarting(() =>
            {
                // Pages and fragments carry personal data: never cached (antiforgery sets the same on form pages).
                if (string.IsNullOrEmpty(context.Response.Headers.CacheControl))
                {
                    context.Response.Headers.CacheControl = "no-store";
                }

                return Task.CompletedTask;
            });
        }

        return next(context);
    }
}
