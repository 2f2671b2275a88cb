using System.Text.Json;
using Clarity.Features.Workflows.Runs;
using Clarity.Hosting;
using Microsoft.AspNetCore.Antiforgery;

namespace Clarity.Dashboard.Pages;

/// <summary>
/// The run pages' htmx fragments (the runs list's rows, the run page's live body) and the run page's forms: pause,
/// resume, cancel, continue, and per step retry, skip, release ("Step"), signal and vote. Every form goes through
/// <see cref="RunService"/>, as the API does; a problem comes back as the page's flash message.
/// </summary>
public static class RunPagesEndpoints
{
    public static IEndpointRouteBuilder MapRunPages(this IEndpointRouteBuilder app)
    {
        var org = app.MapGroup("/o/{org}").ExcludeFromDescription().WithMetadata(new DashboardPageAttribute { Permission = Permissions.RunsRead });
        org.MapGet("/runs/_rows", Rows);
        org.MapGet("/runs/{id:guid}/_body", Body);
        var manage = new DashboardPageAttribute { Permission = Permissions.RunsManage };
        org.MapPost("/runs/{id:guid}/pause", Pause).WithMetadata(manage);
        org.MapPost("/runs/{id:guid}/resume", Resume).WithMetadata(manage);
        org.MapPost("/runs/{id:guid}/cancel", Cancel).WithMetadata(manage);
        org.MapPost("/runs/{id:guid}/continue", Continue).WithMetadata(manage);
        org.MapPost("/runs/{id:guid}/steps/{stepId}/retry", Retry).WithMetadata(manage);
        org.MapPost("/runs/{id:guid}/steps/{stepId}/skip", Skip).WithMetadata(manage);
        org.MapPost("/runs/{id:guid}/steps/{stepId}/release", Release).WithMetadata(manage);
        org.MapPost("/runs/{id:guid}/steps/{stepId}/signal", Signal).WithMetadata(manage);
        // Who may vote is the approval's own from: (RunService.MayVote); the service refuses anyone else.
        org.MapPost("/runs/{id:guid}/steps/{stepId}/vote", Vote);
        return app;
    }

    /// <summary>"/o/{org}/runs/{id}", with the chosen step.</summary>
    public static string RunPath(string org, Guid id, string? step = null) =>
        $"/o/{Uri.EscapeDataString(org)}/runs/{id}" + (string.IsNullOrEmpty(step) ? "" : "?step=" + Uri.EscapeDataString(step));

    public static string BodyUrl(string org, Guid id, string? step) =>
        $"/o/{Uri.EscapeDataString(org)}/runs/{id}/_body" + (string.IsNullOrEmpty(step) ? "" : "?step=" + Uri.EscapeDataString(step));

    public static string RowsUrl(string org, string? workflow, string? status)
    {
        var query = new List<string>();
        if (Clean(workflow) is { } w)
        {
            query.Add("workflow=" + Uri.EscapeDataString(w));
        }

        if (Clean(status) is { } s)
        {
            query.Add("status=" + Uri.EscapeDataString(s));
        }

        return $"/o/{Uri.EscapeDataString(org)}/runs/_rows" + (query.Count > 0 ? "?" + string.Join("&", query) : "");
    }

    /// <summary>A JSON value typed into a form: null when blank, else parsed and checked as the API checks a body.</summary>
    public static JsonElement? ParseJson(string? text, string field)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        JsonElement value;
        try
        {
            using var document = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 64 });
            value = document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw Problems.Validation(field, $"is not valid JSON ({ex.Message.Split(" Path:")[0].TrimEnd('.')}).");
        }

        return JsonText.FindInvalidText(value) is { } where ? throw Problems.Validation(field + where, JsonText.InvalidTextMessage) : value;
    }

    private static async Task<IResult> Rows(HttpContext http, string? workflow, string? status, string? cursor, int? limit, string? more, RunService runs)
    {
        var org = OrgOf(http);
        RunPage page;
        try
        {
            page = await runs.ListAsync(org, Clean(workflow), Clean(status), null, Clean(cursor), limit, http.RequestAborted);
        }
        catch (ApiException ex) when (ex.Status == StatusCodes.Status400BadRequest)
        {
            page = new RunPage([], null);
        }

        return DashboardEndpoints.Fragment<RunRows>(new
        {
            Page = page,
            OrgSlug = org.Slug,
            RowsUrl = RowsUrl(org.Slug, workflow, status),
            Filtered = Clean(workflow) is not null || Clean(status) is not null,
            IsMore = more is not null,
        });
    }

    private static async Task<IResult> Body(HttpContext http, Guid id, string? step, RunService runs, IAntiforgery antiforgery)
    {
        var org = OrgOf(http);
        RunDetail run;
        try
        {
            run = await runs.GetAsync(org, id, http.RequestAborted);
        }
        catch (ApiException ex) when (ex.Status == StatusCodes.Status404NotFound)
        {
            return TypedResults.NotFound();
        }

        var tokens = antiforgery.GetAndStoreTokens(http);
        return DashboardEndpoints.Fragment<RunBody>(new
        {
            Run = run,
            Org = org,
            Step = Clean(step),
            AntiforgeryField = tokens.FormFieldName,
            AntiforgeryToken = tokens.RequestToken,
        });
    }

    private static Task<IResult> Pause(HttpContext http, Guid id, IAntiforgery antiforgery, RunService runs) =>
        ActAsync(http, antiforgery, id, null, async (org, _) =>
        {
            await runs.PauseAsync(org, id, http.RequestAborted);
            return "Run paused: nothing new is dispatched until it is resumed.";
        });

    private static Task<IResult> Resume(HttpContext http, Guid id, IAntiforgery antiforgery, RunService runs) =>
        ActAsync(http, antiforgery, id, null, async (org, _) =>
        {
            await runs.ResumeAsync(org, id, http.RequestAborted);
            return "Run resumed.";
        });

    private static Task<IResult> Cancel(HttpContext http, Guid id, IAntiforgery antiforgery, RunService runs) =>
        ActAsync(http, antiforgery, id, null, async (org, _) =>
        {
            await runs.CancelAsync(org, id, http.RequestAborted);
            return "Run cancelled.";
        });

    private static Task<IResult> Continue(HttpContext http, Guid id, IAntiforgery antiforgery, RunService runs) =>
        ActAsync(http, antiforgery, id, null, async (org, _) =>
        {
            await runs.ContinueAsync(org, id, http.RequestAborted);
            return "Continued: every held step is dispatched; breakpoints still stop later steps.";
        });

    private static Task<IResult> Retry(HttpContext http, Guid id, string stepId, IAntiforgery antiforgery, RunService runs) =>
        ActAsync(http, antiforgery, id, stepId, async (org, _) =>
        {
            await runs.RetryStepAsync(org, id, stepId, http.RequestAborted);
            return $"Step {stepId} runs again.";
        });

    private static Task<IResult> Skip(HttpContext http, Guid id, string stepId, IAntiforgery antiforgery, RunService runs) =>
        ActAsync(http, antiforgery, id, stepId, async (org, form) =>
        {
            await runs.SkipStepAsync(org, id, stepId, new SkipStepRequest(ParseJson(form["output"], "output")), http.RequestAborted);
            return $"Step {stepId} skipped.";
        });

    private static Task<IResult> Release(HttpContext http, Guid id, string stepId, IAntiforgery antiforgery, RunService runs) =>
        ActAsync(http, antiforgery, id, stepId, async (org, _) =>
        {
            await runs.ReleaseStepAsync(org, id, stepId, http.RequestAborted);
            return $"Step {stepId} dispatched.";
        });

    private static Task<IResult> Signal(HttpContext http, Guid id, string stepId, IAntiforgery antiforgery, RunService runs) =>
        ActAsync(http, antiforgery, id, stepId, async (org, form) =>
        {
            var name = form["name"].ToString().Trim();
            var result = await runs.SignalAsync(org, id, name, new SignalRequest(ParseJson(form["payload"], "payload")), http.RequestAborted);
            return result.Delivered ? $"Signal {name} delivered to {string.Join(", ", result.Steps)}." : $"Signal {name} kept until a step waits for it.";
        });

    private static Task<IResult> Vote(HttpContext http, Guid id, string stepId, IAntiforgery antiforgery, RunService runs) =>
        ActAsync(http, antiforgery, id, stepId, async (org, form) =>
        {
            var comment = form["comment"].ToString();
            var step = await runs.VoteAsync(org, id, stepId, new VoteRequest(form["decision"].ToString(), string.IsNullOrWhiteSpace(comment) ? null : comment.Trim()), http.RequestAborted);
            return $"Vote recorded. The approval is {step.Status}.";
        });

    /// <summary>A run form: antiforgery, the service call, then back to the run page (at the step) with the outcome.</summary>
    private static Task<IResult> ActAsync(HttpContext http, IAntiforgery antiforgery, Guid id, string? stepId, Func<OrgContext, IFormCollection, Task<string>> action)
    {
        var org = OrgOf(http);
        return DashboardEndpoints.FormActionAsync(http, antiforgery, RunPath(org.Slug, id, stepId), async form => await action(org, form));
    }

    private static OrgContext OrgOf(HttpContext http) => http.Features.Get<OrgContext>() ?? throw new InvalidOperationException("Not an org page.");

    private static string? Clean(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
