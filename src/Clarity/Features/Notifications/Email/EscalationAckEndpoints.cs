using Clarity.Dashboard;
using Clarity.Features.Identity;
using Clarity.Features.Notifications.OnCall;
using Clarity.Hosting;
using Clarity.Hosting.Authorization;
using Clarity.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Clarity.Features.Notifications.Email;

/// <summary>
/// The page a page email's Acknowledge link opens: <c>GET /ack/{token}</c> shows the escalation and a button (mail
/// scanners follow links, so a GET never acknowledges); <c>POST /ack/{token}</c> acknowledges it through
/// <see cref="EscalationService.AcknowledgeAsync"/> as the person paged, via email. The token alone authorizes, only that
/// escalation, and only while it is open; a used link, or an escalation someone else acknowledged (or that was answered or
/// ran out) shows who and how, with a 409 and no change. A bad token gets the 404 page, never a 500; the route is
/// throttled per client address like sign-in.
/// </summary>
public static class EscalationAckEndpoints
{
    public static IEndpointRouteBuilder MapEscalationAckEndpoints(this IEndpointRouteBuilder app)
    {
        var page = new DashboardPageAttribute { Anonymous = true };
        app.MapGet("/ack/{token}", ShowAsync).WithMetadata(page).ExcludeFromDescription();
        app.MapPost("/ack/{token}", AcknowledgeAsync).WithMetadata(page).ExcludeFromDescription();
        return app;
    }

    private static async Task<RazorComponentResult<AckPage>> ShowAsync(string token, HttpContext http, EscalationAckLinkStore links, EscalationStore escalations, SignInThrottle throttle)
    {
        NoReferrer(http);
        var (link, refusal) = await FindAsync(token, http, links, throttle);
        if (link is null)
        {
            return refusal!;
        }

        var model = await LoadAsync(link, http, escalations);
        return Page(model, model.State == AckPageState.NotFound ? StatusCodes.Status404NotFound : StatusCodes.Status200OK);
    }

    private static async Task<RazorComponentResult<AckPage>> AcknowledgeAsync(
        string token, HttpContext http, EscalationAckLinkStore links, EscalationStore escalations, EscalationService service, IdentityStore identity, AccessResolver access,
        SignInThrottle throttle)
    {
        NoReferrer(http);
        var ct = http.RequestAborted;
        if (!SiteOrigin.IsSameSiteOrAbsent(http.Request))
        {
            return Page(new AckPageModel(AckPageState.Refused) { Error = "This acknowledgement was sent from another site's page. Open the link from your email." }, StatusCodes.Status403Forbidden);
        }

        var (link, refusal) = await FindAsync(token, http, links, throttle);
        if (link is null)
        {
            return refusal!;
        }

        var model = await LoadAsync(link, http, escalations);
        if (model.State != AckPageState.Form)
        {
            return Page(model, model.State == AckPageState.NotFound ? StatusCodes.Status404NotFound : StatusCodes.Status409Conflict);
        }

        // The person paged acknowledges, while still a member of the org (a removed member's link no longer works).
        var org = await identity.FindOrgAsync(link.OrgId, ct);
        var scope = org is null ? null : await access.ResolveAsync(new Caller(link.UserId, null), org.Id, org.Slug, ct);
        if (scope is null)
        {
            return Page(new AckPageModel(AckPageState.NotFound), StatusCodes.Status404NotFound);
        }

        try
        {
            await service.AcknowledgeAsync(scope, link.EscalationId, new AcknowledgeRequest(NotificationChannels.Email), ct);
        }
        catch (ApiException ex) when (ex.Status is StatusCodes.Status409Conflict or StatusCodes.Status403Forbidden or StatusCodes.Status404NotFound)
        {
            // Someone acknowledged first (any channel), or it was answered or ran out meanwhile: show what happened.
            var now = await LoadAsync(link, http, escalations);
            return Page(now.State == AckPageState.Form ? now with { State = AckPageState.Refused, Error = ex.Message } : now, ex.Status);
        }

        await links.MarkUsedAsync(link.Id, ct);
        return Page((await LoadAsync(link, http, escalations)) with { State = AckPageState.Acknowledged });
    }

    /// <summary>The link a token names (<see cref="EmailLinkLookup"/>), or the page that refuses it.</summary>
    private static Task<(EscalationAckLink? Link, RazorComponentResult<AckPage>? Refusal)> FindAsync(string token, HttpContext http, EscalationAckLinkStore links, SignInThrottle throttle) =>
        EmailLinkLookup.FindAsync(http, throttle, ct => links.FindAsync(token, ct), status =>
            Page(new AckPageModel(status == StatusCodes.Status404NotFound ? AckPageState.NotFound : AckPageState.TooMany), status));

    /// <summary>The escalation as the page shows it, and whether this link can still acknowledge it.</summary>
    private static async Task<AckPageModel> LoadAsync(EscalationAckLink link, HttpContext http, EscalationStore escalations)
    {
        var row = await escalations.GetAsync(link.OrgId, link.EscalationId, http.RequestAborted);
        if (row is null)
        {
            return new AckPageModel(AckPageState.NotFound);
        }

        var state = row.Status switch
        {
            EscalationStatuses.Open when link.UsedAt is not null => AckPageState.Used,
            EscalationStatuses.Open => AckPageState.Form,
            EscalationStatuses.Acknowledged => AckPageState.AlreadyAcknowledged,
            EscalationStatuses.Resolved => AckPageState.Resolved,
            _ => AckPageState.Exhausted,
        };
        return new AckPageModel(state)
        {
            FormAction = "/ack/" + Uri.EscapeDataString(http.Request.RouteValues["token"] as string ?? ""),
            PolicyName = row.PolicyName,
            Subject = row.SubjectKind,
            IsDrill = row.IsDrill == 1,
            Level = row.LevelReached,
            Recipient = link.RecipientEmail,
            AcknowledgedBy = row.AcknowledgedByName,
            AcknowledgedVia = row.AcknowledgedVia,
            AcknowledgedAt = DbTime.FromDb(row.AcknowledgedAt),
        };
    }

    private static RazorComponentResult<AckPage> Page(AckPageModel model, int status = StatusCodes.Status200OK) =>
        new(new { Model = model }) { StatusCode = status };

    /// <summary>The token is in the URL: never send it on as a Referer, never cache the page.</summary>
    private static void NoReferrer(HttpContext http) =>
        http.Response.OnStarting(() =>
        {
            http.Response.Headers["Referrer-Policy"] = "no-referrer";
            http.Response.Headers.CacheControl = "no-store";
            http.Response.Headers["X-Robots-Tag"] = "noindex, nofollow";
            return Task.CompletedTask;
        });
}

public enum AckPageState
{
    NotFound,
    Form,
    Acknowledged,
    AlreadyAcknowledged,
    Used,
    Resolved,
    Exhausted,
    TooMany,
    Refused,
}

/// <summary>What the acknowledge page shows.</summary>
public sealed record AckPageModel(AckPageState State)
{
    public string FormAction { get; init; } = "";
    public string? PolicyName { get; init; }
    public string? Subject { get; init; }
    public bool IsDrill { get; init; }
    public int Level { get; init; }
    public string? Recipient { get; init; }
    public string? AcknowledgedBy { get; init; }
    public string? AcknowledgedVia { get; init; }
    public DateTimeOffset? AcknowledgedAt { get; init; }
    public string? Error { get; init; }
}
