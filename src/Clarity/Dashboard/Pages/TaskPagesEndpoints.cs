using Clarity.Features.Agents;
using Clarity.Features.Clarifications;
using Clarity.Features.Overview;
using Clarity.Features.Tasks;
using Clarity.Hosting;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Clarity.Dashboard.Pages;

/// <summary>
/// The htmx fragments of the overview and task pages (re-fetched when a stream event arrives) and the task page's
/// Cancel form. Fragments render the same components as the pages.
/// </summary>
public static class TaskPagesEndpoints
{
    public static IEndpointRouteBuilder MapTaskPages(this IEndpointRouteBuilder app)
    {
        var org = app.MapGroup("/o/{org}").ExcludeFromDescription().WithMetadata(new DashboardPageAttribute());
        org.MapGet("/_overview", Overview);
        org.MapGet("/tasks/_rows", Rows);
        org.MapGet("/tasks/{id:guid}/_summary", Summary);
        org.MapPost("/tasks/{id:guid}/cancel", Cancel).WithMetadata(new DashboardPageAttribute { Permission = Permissions.TasksWrite });
        return app;
    }

    public static string RowsUrl(string org, string? status, string? queue, string? agent)
    {
        var query = new List<string>();
        void Add(string name, string? value)
        {
            if (!string.IsNullOrWhiteSpace(value))
            {
                query.Add(name + "=" + Uri.EscapeDataString(value.Trim()));
            }
        }

        Add("status", status);
        Add("queue", queue);
        Add("agent", agent);
        return $"/o/{Uri.EscapeDataString(org)}/tasks/_rows" + (query.Count > 0 ? "?" + string.Join("&", query) : "");
    }

    /// <summary>The names of the agents of the tasks on <paramref name="page"/>.</summary>
    public static Task<IReadOnlyDictionary<Guid, string>> AgentNamesAsync(AgentService agents, OrgContext org, TaskPage page, CancellationToken ct) =>
        agents.NamesAsync(org, page.Items.Where(t => t.AgentId is not null).Select(t => t.AgentId!.Value), ct);

    /// <summary>The task, its agent's name and its clarifications; null when the org has no such task.</summary>
    public static async Task<(AgentTask Task, string? AgentName, IReadOnlyList<Clarification> Clarifications)?> LoadSummaryAsync(
        TaskService tasks, AgentService agents, ClarificationService clarifications, OrgContext org, Guid id, CancellationToken ct)
    {
        AgentTask task;
        try
        {
            task = await tasks.GetAsync(org, id, ct);
        }
        catch (ApiException ex) when (ex.Status == StatusCodes.Status404NotFound)
        {
            return null;
        }

        string? agentName = null;
        if (task.AgentId is { } agentId)
        {
            try
            {
                agentName = (await agents.GetAsync(org, agentId, ct)).Name;
            }
            catch (ApiException ex) when (ex.Status == StatusCodes.Status404NotFound)
            {
            }
        }

        return (task, agentName, await clarifications.ListForTaskAsync(org, id, ct));
    }

    private static async Task<RazorComponentResult<OverviewBody>> Overview(HttpContext http, string? window, OverviewService overviews, IOptions<ClarityOptions> options)
    {
        var org = OrgOf(http);
        var overview = await overviews.GetAsync(org, OverviewWindow.Parse(window), http.RequestAborted);
        return DashboardEndpoints.Fragment<OverviewBody>(new { Overview = overview, OrgSlug = org.Slug, OfflineAfter = Pages.Overview.OfflineAfter(options.Value) });
    }

    private static async Task<RazorComponentResult<TaskRows>> Rows(HttpContext http, string? status, string? queue, string? agent, string? cursor, int? limit, string? more, TaskService tasks, AgentService agents)
    {
        var org = OrgOf(http);
        var page = await tasks.ListAsync(org, Clean(status), Clean(queue), Clean(agent), Clean(cursor), limit, http.RequestAborted);
        return DashboardEndpoints.Fragment<TaskRows>(new
        {
            Page = page,
            OrgSlug = org.Slug,
            RowsUrl = RowsUrl(org.Slug, status, queue, agent),
            AgentNames = await AgentNamesAsync(agents, org, page, http.RequestAborted),
            Filtered = Clean(status) is not null || Clean(queue) is not null || Clean(agent) is not null,
            IsMore = more is not null,
        });
    }

    private static async Task<IResult> Summary(HttpContext http, Guid id, TaskService tasks, AgentService agents, ClarificationService clarifications, IAntiforgery antiforgery)
    {
        var org = OrgOf(http);
        var summary = await LoadSummaryAsync(tasks, agents, clarifications, org, id, http.RequestAborted);
        if (summary is not { } s)
        {
            return TypedResults.NotFound();
        }

        var tokens = antiforgery.GetAndStoreTokens(http);
        return DashboardEndpoints.Fragment<TaskSummary>(new
        {
            Task = s.Task,
            OrgSlug = org.Slug,
            AgentName = s.AgentName,
            Clarifications = s.Clarifications,
            CanCancel = org.Can(Permissions.TasksWrite),
            AntiforgeryField = tokens.FormFieldName,
            AntiforgeryToken = tokens.RequestToken,
        });
    }

    /// <summary>The Cancel button's form post: cancels through the task service, then shows the task again.</summary>
    private static async Task<IResult> Cancel(HttpContext http, Guid id, TaskService tasks, IAntiforgery antiforgery)
    {
        if (!await antiforgery.IsRequestValidAsync(http))
        {
            return TypedResults.BadRequest();
        }

        var org = OrgOf(http);
        try
        {
            await tasks.CancelAsync(org, id, http.RequestAborted);
        }
        catch (ApiException ex) when (ex.Status == StatusCodes.Status409Conflict)
        {
            // Finished meanwhile: the page shows how it ended.
        }

        return TypedResults.Redirect($"/o/{Uri.EscapeDataString(org.Slug)}/tasks/{id}", permanent: false, preserveMethod: false);
    }

    private static OrgContext OrgOf(HttpContext http) => http.Features.Get<OrgContext>() ?? throw new InvalidOperationException("Not an org page.");

    private static string? Clean(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
