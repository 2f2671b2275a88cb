using Clarity.Dashboard;
using Clarity.Events;
using Clarity.Features.Clarifications;
using Clarity.Features.Identity;
using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Clarity.Features.Notifications.Email;

/// <summary>
/// The email channel's services, and the answer page its links open: <c>GET /answer/{token}</c> shows the question (an
/// option in <c>?option=N</c> is only preselected: mail scanners follow links, so a GET never answers), and
/// <c>POST /answer/{token}</c> answers it. The token alone authorizes, and only that one question; the route is throttled
/// per client address like sign-in. A bad token (malformed, unknown, replaced) gets the 404 page, never a 500.
/// </summary>
public static class EmailAnswerEndpoints
{
    public static IServiceCollection AddEmailNotifications(this IServiceCollection services)
    {
        services.TryAddSingleton<NotificationTemplates>();
        services.AddSingleton<EmailAnswerLinkStore>();
        services.AddSingleton<EscalationAckLinkStore>();
        services.AddSingleton<EmailChannel>();
        services.AddSingleton<INotificationChannel>(sp => sp.GetRequiredService<EmailChannel>());
        services.AddSingleton<ISweep, EmailLinkSweep>();
        return services;
    }

    public static IEndpointRouteBuilder MapEmailEndpoints(this IEndpointRouteBuilder app)
    {
        // An HTML page for browsers (with the dashboard's security headers), reachable signed out: the token authorizes.
        var page = new DashboardPageAttribute { Anonymous = true };
        app.MapGet("/answer/{token}", ShowAsync).WithMetadata(page).ExcludeFromDescription();
        app.MapPost("/answer/{token}", AnswerAsync).WithMetadata(page).ExcludeFromDescription();
        app.MapEscalationAckEndpoints();
        return app;
    }

    private static async Task<RazorComponentResult<AnswerPage>> ShowAsync(string token, HttpContext http, EmailAnswerLinkStore links, ClarificationStore clarifications, SignInThrottle throttle, TimeProvider clock)
    {
        NoReferrer(http);
        var (link, refusal) = await FindAsync(token, http, links, throttle);
        if (link is null)
        {
            return refusal!;
        }

        var (row, model) = await LoadAsync(link, http, clarifications, clock);
        if (row is null || model.State != AnswerPageState.Form)
        {
            return Page(model, row is null ? StatusCodes.Status404NotFound : StatusCodes.Status200OK);
        }

        var preselected = int.TryParse(http.Request.Query["option"].ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var i)
            && model.Options is { } options && i < options.Count ? i : (int?)null;
        return Page(model with { Preselected = preselected });
    }

    private static async Task<RazorComponentResult<AnswerPage>> AnswerAsync(
        string token, HttpContext http, EmailAnswerLinkStore links, ClarificationStore clarifications, ClarificationService service, SignInThrottle throttle, TimeProvider clock)
    {
        NoReferrer(http);
        var ct = http.RequestAborted;
        if (!SiteOrigin.IsSameSiteOrAbsent(http.Request))
        {
            return Page(new AnswerPageModel(AnswerPageState.Refused) { Error = "This answer was sent from another site's page. Open the link from your email." }, StatusCodes.Status403Forbidden);
        }

        var (link, refusal) = await FindAsync(token, http, links, throttle);
        if (link is null)
        {
            return refusal!;
        }

        var (row, model) = await LoadAsync(link, http, clarifications, clock);
        if (row is null || model.State != AnswerPageState.Form)
        {
            return Page(model, row is null ? StatusCodes.Status404NotFound : StatusCodes.Status409Conflict);
        }

        IFormCollection form;
        try
        {
            form = http.Request.HasFormContentType ? await http.Request.ReadFormAsync(ct) : FormCollection.Empty;
        }
        catch (Exception ex) when (ex is InvalidDataException or BadHttpRequestException or IOException)
        {
            return Page(model with { Error = "The form could not be read; send it again." }, StatusCodes.Status400BadRequest);
        }

        string answer;
        if (model.Options is { Count: > 0 } options)
        {
            if (!int.TryParse(form["option"].ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var chosen) || chosen >= options.Count)
            {
                return Page(model with { Error = "Choose one of the answers." }, StatusCodes.Status400BadRequest);
            }

            answer = options[chosen];
        }
        else
        {
            var text = form["answer"].ToString();
            if (string.IsNullOrWhiteSpace(text) || text.Length > 10_000)
            {
                return Page(model with { Answer = text.Length > 10_000 ? text[..10_000] : text, Error = "Write an answer (at most 10,000 characters)." }, StatusCodes.Status400BadRequest);
            }

            answer = text.Trim();
        }

        // The recipient answers: as the member behind the address when it is (still) one, else as the address alone
        // (the system acts, and the audit entry names the recipient as the answerer).
        var member = link.UserId is { } userId && await links.IsMemberAsync(link.OrgId, userId, ct) ? userId : (Guid?)null;
        var by = new Answerer(member is { } m ? Actor.User(m) : Actor.System, member, link.RecipientEmail, AnswerChannels.Email);
        try
        {
            await service.AnswerAsync(link.OrgId, link.ClarificationId, new AnswerRequest(answer), by, ct);
        }
        catch (ApiException ex) when (ex.Status == StatusCodes.Status409Conflict)
        {
            // Someone answered first (any channel), or it expired or was cancelled meanwhile: show what happened.
            var (_, now) = await LoadAsync(link, http, clarifications, clock);
            return Page(now, StatusCodes.Status409Conflict);
        }
        catch (ApiException ex) when (ex.Status == StatusCodes.Status400BadRequest)
        {
            return Page(model with { Error = ex.Message }, StatusCodes.Status400BadRequest);
        }

        await links.MarkUsedAsync(link.Id, ct);
        return Page(model with { State = AnswerPageState.Answered, Answer = answer });
    }

    /// <summary>The link a token names (<see cref="EmailLinkLookup"/>), or the page that refuses it.</summary>
    private static Task<(EmailAnswerLink? Link, RazorComponentResult<AnswerPage>? Refusal)> FindAsync(string token, HttpContext http, EmailAnswerLinkStore links, SignInThrottle throttle) =>
        EmailLinkLookup.FindAsync(http, throttle, ct => links.FindAsync(token, ct), status =>
            Page(new AnswerPageModel(status == StatusCodes.Status404NotFound ? AnswerPageState.NotFound : AnswerPageState.TooMany), status));

    /// <summary>The question as the page shows it, and whether it can still be answered through this link.</summary>
    private static async Task<(ClarificationRow? Row, AnswerPageModel Model)> LoadAsync(EmailAnswerLink link, HttpContext http, ClarificationStore clarifications, TimeProvider clock)
    {
        var row = await clarifications.GetAsync(link.OrgId, link.ClarificationId, http.RequestAborted);
        if (row is null)
        {
            return (null, new AnswerPageModel(AnswerPageState.NotFound));
        }

        var question = row.ToModel();
        var state = row.Status switch
        {
            ClarificationStatuses.Answered => AnswerPageState.AlreadyAnswered,
            ClarificationStatuses.Expired => AnswerPageState.Expired,
            ClarificationStatuses.Cancelled => AnswerPageState.Cancelled,
            _ when row.ExpiresAt <= DbTime.ToDb(clock.GetUtcNow()) || link.ExpiresAt <= DbTime.ToDb(clock.GetUtcNow()) => AnswerPageState.Expired,
            _ when link.UsedAt is not null => AnswerPageState.Used,
            _ => AnswerPageState.Form,
        };
        return (row, new AnswerPageModel(state)
        {
            FormAction = "/answer/" + Uri.EscapeDataString(http.Request.RouteValues["token"] as string ?? ""),
            TaskTitle = link.TaskTitle,
            AgentName = link.AgentName,
            QuestionText = question.Question,
            Options = question.Options,
            ExpiresAt = question.ExpiresAt,
            Recipient = link.RecipientEmail,
            Answer = state is AnswerPageState.AlreadyAnswered or AnswerPageState.Expired ? question.Answer : null,
            AnsweredBy = question.AnsweredByName,
            AnsweredVia = question.AnsweredVia,
            AnsweredAt = state == AnswerPageState.AlreadyAnswered ? question.AnsweredAt : null,
        });
    }

    private static RazorComponentResult<AnswerPage> Page(AnswerPageModel model, int status = StatusCodes.Status200OK) =>
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

public enum AnswerPageState
{
    NotFound,
    Form,
    Answered,
    AlreadyAnswered,
    Used,
    Expired,
    Cancelled,
    TooMany,
    Refused,
}

/// <summary>What the answer page shows.</summary>
public sealed record AnswerPageModel(AnswerPageState State)
{
    public string FormAction { get; init; } = "";
    public string? TaskTitle { get; init; }
    public string? AgentName { get; init; }
    public string? QuestionText { get; init; }
    public IReadOnlyList<string>? Options { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public string? Recipient { get; init; }
    public int? Preselected { get; init; }
    public string? Answer { get; init; }
    public string? Error { get; init; }
    public string? AnsweredBy { get; init; }
    public string? AnsweredVia { get; init; }
    public DateTimeOffset? AnsweredAt { get; init; }
}
