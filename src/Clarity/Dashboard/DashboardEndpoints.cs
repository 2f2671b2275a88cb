using Clarity.Dashboard.Components;
using Clarity.Dashboard.Pages;
using Clarity.Features.Agents;
using Clarity.Features.Clarifications;
using Clarity.Features.Identity;
using Clarity.Features.Tasks;
using Clarity.Features.Workflows.Runs;
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

        var account = app.MapGroup("/account").ExcludeFromDescription().WithMetadata(new DashboardPageAttribute());
        account.MapPost("/invitations/{id:guid}/accept", AcceptInvitation);
        account.MapPost("/invitations/{id:guid}/decline", DeclineInvitation);
        account.MapPost("/orgs/{org}/leave", LeaveOrg);
        account.MapPost("/sessions/{id:guid}/revoke", RevokeSession);
        account.MapPost("/sessions/revoke-all", RevokeAllSessions);

        var org = app.MapGroup("/o/{org}").ExcludeFromDescription().WithMetadata(new DashboardPageAttribute());
        org.MapGet("/clarifications/_count", PendingCount);
        org.MapGet("/clarifications/_list", ClarificationsList);
        org.MapPost("/clarifications/{id:guid}/answer", AnswerClarification).WithMetadata(new DashboardPageAttribute { Permission = Permissions.TasksRespond });
        org.MapGet("/clarifications/_approvals", ApprovalsList).WithMetadata(new DashboardPageAttribute { Permission = Permissions.RunsRead });
        org.MapPost("/approvals/{runId:guid}/{stepId}/vote", VoteOnApproval).WithMetadata(new DashboardPageAttribute { Permission = Permissions.RunsRead });
        org.MapPost("/settings/invitations/{id:guid}/revoke", RevokeInvitation).WithMetadata(new DashboardPageAttribute { Permission = Permissions.MembersManage });
        org.MapPost("/settings/members/{userId:guid}/role", ChangeRole).WithMetadata(new DashboardPageAttribute { Permission = Permissions.MembersManage });
        org.MapPost("/settings/members/{userId:guid}/remove", RemoveMember).WithMetadata(new DashboardPageAttribute { Permission = Permissions.MembersManage });
        org.MapPost("/settings/api-keys/{id:guid}/revoke", RevokeApiKey).WithMetadata(new DashboardPageAttribute { Permission = Permissions.ApiKeysManage });
        org.MapPost("/settings/webhooks/{id:guid}/delete", DeleteWebhook).WithMetadata(new DashboardPageAttribute { Permission = Permissions.WebhooksManage });
        org.MapPost("/settings/webhooks/{id:guid}/deliveries/{deliveryId:guid}/replay", ReplayWebhookDelivery).WithMetadata(new DashboardPageAttribute { Permission = Permissions.WebhooksManage });
        org.MapGet("/agents/_rows", AgentsRows).WithMetadata(new DashboardPageAttribute { Permission = Permissions.AgentsRead });
        app.MapTaskPages();
        app.MapRunPages();
        app.MapAuditPages();
        return app;
    }

    /// <summary>A page of the agents table's rows: the live refresh (limit = the rows shown) and "Load more" (cursor).</summary>
    private static async Task<RazorComponentResult<AgentRows>> AgentsRows(HttpContext http, string? cursor, int? limit, string? more, AgentService agents)
    {
        var org = OrgOf(http);
        var (page, utilization) = await AgentRows.LoadAsync(agents, org, string.IsNullOrWhiteSpace(cursor) ? null : cursor.Trim(), limit, http.RequestAborted);
        return Fragment<AgentRows>(new { OrgSlug = org.Slug, Page = page, Utilization = utilization, IsMore = more is not null });
    }

    private static Task<IResult> RevokeInvitation(Guid id, HttpContext http, IAntiforgery antiforgery, InvitationService invitations) =>
        SettingsActionAsync(http, antiforgery, async (org, _) =>
        {
            await invitations.RevokeAsync(org, id, http.RequestAborted);
            return "Invitation withdrawn: its link no longer works.";
        });

    private static Task<IResult> ChangeRole(Guid userId, HttpContext http, IAntiforgery antiforgery, IdentityService identity) =>
        SettingsActionAsync(http, antiforgery, async (org, form) =>
        {
            var change = await identity.ChangeRoleAsync(org, userId, new ChangeRoleRequest(form["role"].ToString()), http.RequestAborted);
            return $"{change.Member.Email} is now {change.Member.Role}." + KeysNote(change.CappedApiKeys.Count, $"capped to {change.Member.Role}");
        });

    private static Task<IResult> RemoveMember(Guid userId, HttpContext http, IAntiforgery antiforgery, IdentityService identity) =>
        SettingsActionAsync(http, antiforgery, async (org, _) =>
        {
            var removal = await identity.RemoveMemberAsync(org, userId, http.RequestAborted);
            return "Member removed." + KeysNote(removal.RevokedApiKeys.Count, "revoked");
        });

    private static Task<IResult> RevokeApiKey(Guid id, HttpContext http, IAntiforgery antiforgery, IdentityService identity) =>
        SettingsActionAsync(http, antiforgery, async (org, _) =>
        {
            await identity.RevokeApiKeyAsync(org, id, http.RequestAborted);
            return "API key revoked.";
        });

    private static Task<IResult> DeleteWebhook(Guid id, HttpContext http, IAntiforgery antiforgery, Features.Webhooks.WebhookService webhooks)
    {
        var org = OrgOf(http);
        return FormActionAsync(http, antiforgery, $"/o/{Uri.EscapeDataString(org.Slug)}/settings/webhooks", async _ =>
        {
            await webhooks.DeleteAsync(org, id, http.RequestAborted);
            return "Webhook endpoint deleted.";
        });
    }

    private static Task<IResult> ReplayWebhookDelivery(Guid id, Guid deliveryId, HttpContext http, IAntiforgery antiforgery, Features.Webhooks.WebhookService webhooks)
    {
        var org = OrgOf(http);
        return FormActionAsync(http, antiforgery, $"/o/{Uri.EscapeDataString(org.Slug)}/settings/webhooks?deliveries={id}", async _ =>
        {
            await webhooks.ReplayAsync(org, id, deliveryId, http.RequestAborted);
            return "Delivery queued again: it is sent at once, with the same webhook-id.";
        });
    }

    private static string KeysNote(int count, string what) =>
        count == 0 ? "" : count == 1 ? $" 1 API key they created was {what}." : $" {count} API keys they created were {what}.";

    /// <summary>A settings form action: checks the antiforgery token, runs the service call, then back to settings with its outcome.</summary>
    private static Task<IResult> SettingsActionAsync(HttpContext http, IAntiforgery antiforgery, Func<OrgContext, IFormCollection, Task<FormOutcome>> action)
    {
        var org = OrgOf(http);
        return FormActionAsync(http, antiforgery, $"/o/{Uri.EscapeDataString(org.Slug)}/settings", form => action(org, form));
    }

    private static Task<IResult> AcceptInvitation(Guid id, HttpContext http, IAntiforgery antiforgery, InvitationService invitations) =>
        FormActionAsync(http, antiforgery, "/account", async _ =>
        {
            var joined = await invitations.RespondAsync(SessionOf(http).Caller, id, accept: true, http.RequestAborted);
            return new FormOutcome($"You joined {joined!.Name} as {joined.Role}.", "/o/" + Uri.EscapeDataString(joined.Slug));
        });

    private static Task<IResult> DeclineInvitation(Guid id, HttpContext http, IAntiforgery antiforgery, InvitationService invitations) =>
        FormActionAsync(http, antiforgery, "/account", async _ =>
        {
            await invitations.RespondAsync(SessionOf(http).Caller, id, accept: false, http.RequestAborted);
            return "Invitation declined.";
        });

    private static Task<IResult> LeaveOrg(HttpContext http, IAntiforgery antiforgery, IdentityService identity) =>
        FormActionAsync(http, antiforgery, "/account", async _ =>
        {
            var org = OrgOf(http);
            var removal = await identity.LeaveAsync(SessionOf(http).Caller, org.Slug, http.RequestAborted);
            return $"You left {org.Slug}." + (removal.RevokedApiKeys.Count == 0 ? "" : $" {removal.RevokedApiKeys.Count} API key(s) you created there were revoked.");
        });

    private static Task<IResult> RevokeSession(Guid id, HttpContext http, IAntiforgery antiforgery, SessionService sessions) =>
        FormActionAsync(http, antiforgery, "/account", async _ =>
        {
            var caller = SessionOf(http).Caller;
            if (!await sessions.RevokeAsync(caller.UserId!.Value, id, http.RequestAborted))
            {
                throw Problems.NotFound("Session");
            }

            return id == caller.SessionId ? "Signed out." : "That session was signed out.";
        });

    private static Task<IResult> RevokeAllSessions(HttpContext http, IAntiforgery antiforgery, SessionService sessions) =>
        FormActionAsync(http, antiforgery, "/account", async _ =>
        {
            var caller = SessionOf(http).Caller;
            var count = await sessions.RevokeAllAsync(caller.UserId!.Value, keep: null, http.RequestAborted);
            SessionCookie.Delete(http);
            return $"Signed out everywhere ({count} session{(count == 1 ? "" : "s")}).";
        });

    /// <summary>
    /// A dashboard form action: checks the antiforgery token, reads the form, runs <paramref name="action"/>, then redirects
    /// to <paramref name="back"/> (or where the outcome says) with the outcome as a flash message.
    /// </summary>
    internal static async Task<IResult> FormActionAsync(HttpContext http, IAntiforgery antiforgery, string back, Func<IFormCollection, Task<FormOutcome>> action)
    {
        if (!await antiforgery.IsRequestValidAsync(http))
        {
            Flash.Set(http, ok: false, "The form expired. Please try again.");
        }
        else
        {
            try
            {
                var outcome = await action(await ReadFormAsync(http));
                Flash.Set(http, ok: true, outcome.Message);
                back = outcome.Then ?? back;
            }
            catch (ApiException ex)
            {
                Flash.Set(http, ok: false, ex.Message);
            }
        }

        return TypedResults.Redirect(back);
    }

    private static OrgContext OrgOf(HttpContext http) => http.Features.Get<OrgContext>()!;

    private static DashboardSession SessionOf(HttpContext http) => http.Features.Get<DashboardSession>()!;

    /// <summary>The posted form. The antiforgery token may come in a header, so a valid token does not prove a form body.</summary>
    private static Task<IFormCollection> ReadFormAsync(HttpContext http) =>
        http.Request.HasFormContentType
            ? http.Request.ReadFormAsync(http.RequestAborted)
            : throw Problems.UnsupportedMediaType("Send the form as application/x-www-form-urlencoded or multipart/form-data.");

    private static async Task<RazorComponentResult<ClarificationList>> ClarificationsList(HttpContext http, ClarificationService clarifications, TaskService tasks)
    {
        var org = OrgOf(http);
        var items = await ClarificationList.LoadAsync(clarifications, tasks, org, http.RequestAborted);
        return Fragment<ClarificationList>(new { Org = org.Slug, Items = items, CanAnswer = org.Can(Permissions.TasksRespond) });
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
            var answered = await clarifications.AnswerAsync(org, id, new AnswerRequest(form["answer"].ToString()), http.RequestAborted, AnswerChannels.Dashboard);
            Flash.Set(http, ok: true, $"Answered: {answered.Answer}");
        }
        catch (ApiException ex)
        {
            Flash.Set(http, ok: false, ex.Message);
        }

        return TypedResults.Redirect(back);
    }

    private static async Task<RazorComponentResult<ApprovalList>> ApprovalsList(HttpContext http, RunService runs)
    {
        var org = OrgOf(http);
        return Fragment<ApprovalList>(new { Org = org.Slug, Items = await ApprovalList.LoadAsync(runs, org, http.RequestAborted) });
    }

    /// <summary>
    /// A vote from the inbox, through the same service as the API (which decides who may vote: the approval's
    /// <c>from:</c>, once each, no self-approval); its refusals come back as the inbox's error message.
    /// </summary>
    private static Task<IResult> VoteOnApproval(Guid runId, string stepId, HttpContext http, IAntiforgery antiforgery, RunService runs)
    {
        var org = OrgOf(http);
        return FormActionAsync(http, antiforgery, $"/o/{Uri.EscapeDataString(org.Slug)}/clarifications", async form =>
        {
            var comment = form["comment"].ToString();
            var request = new VoteRequest(form["decision"].ToString(), string.IsNullOrWhiteSpace(comment) ? null : comment);
            return VoteOutcome(await runs.VoteAsync(org, runId, stepId, request, http.RequestAborted), request.Decision!);
        });
    }

    private static string VoteOutcome(RunStep step, string decision)
    {
        var approval = step.Approval;
        var approvals = approval?.Votes.Count(v => v.Decision == "approve") ?? 0;
        var rejections = approval?.Votes.Count(v => v.Decision == "reject") ?? 0;
        return (decision, step.Status) switch
        {
            (_, StepStatuses.Succeeded) => $"Approved: '{step.Id}' has {approvals} of {approval?.Required} approvals, and the run continues.",
            (_, StepStatuses.Failed) => $"Rejected: '{step.Id}' failed ({rejections} rejection{(rejections == 1 ? "" : "s")}).",
            ("approve", _) => $"Your approval of '{step.Id}' is recorded: {approvals} of {approval?.Required}.",
            _ => $"Your rejection of '{step.Id}' is recorded: {rejections} of the {approval?.RejectionsToReject} that reject it.",
        };
    }

    /// <summary>Signs out: the session ends on every node (not only this browser's cookie), then to the sign-in page.</summary>
    private static async Task<IResult> Logout(HttpContext http, IAntiforgery antiforgery, SessionService sessions)
    {
        if (!await antiforgery.IsRequestValidAsync(http))
        {
            return TypedResults.BadRequest();
        }

        if (http.Features.Get<DashboardSession>()?.Caller is { UserId: { } userId, SessionId: { } sessionId })
        {
            await sessions.RevokeAsync(userId, sessionId, http.RequestAborted);
        }

        SessionCookie.Delete(http);
        return TypedResults.Redirect("/login");
    }

    private static async Task<RazorComponentResult<PendingBadge>> PendingCount(HttpContext http, ClarificationService clarifications, RunService runs, bool? decorative) =>
        Fragment<PendingBadge>(new { Count = await PendingBadge.CountAsync(clarifications, runs, OrgOf(http), http.RequestAborted), Decorative = decorative == true });

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

/// <summary>What a dashboard form action reports, and optionally where to go next instead of back.</summary>
public sealed record FormOutcome(string Message, string? Then = null)
{
    public static implicit operator FormOutcome(string message) => new(message);
}
