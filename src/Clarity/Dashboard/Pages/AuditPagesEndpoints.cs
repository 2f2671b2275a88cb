using Clarity.Features.Audit;
using Clarity.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Clarity.Dashboard.Pages;

/// <summary>
/// The audit page's fragment: its rows (live refresh and "Load more").
/// </summary>
public static class AuditPagesEndpoints
{
    public static IEndpointRouteBuilder MapAuditPages(this IEndpointRouteBuilder app)
    {
        var org = app.MapGroup("/o/{org}").ExcludeFromDescription().WithMetadata(new DashboardPageAttribute { Permission = Permissions.AuditRead });
        org.MapGet("/audit/_rows", Rows);
        return app;
    }

    public static AuditFilter Clean(AuditFilter filter) =>
        new(Clean(filter.Actor), Clean(filter.Action), Clean(filter.Target), Clean(filter.From), Clean(filter.To));

    public static bool IsFiltered(AuditFilter f) => f.Actor is not null || f.Action is not null || f.Target is not null || f.From is not null || f.To is not null;

    /// <summary>The URL with the filters appended as query parameters.</summary>
    public static string Url(string path, AuditFilter filter)
    {
        var query = new List<string>();
        void Add(string name, string? value)
        {
            if (value is not null)
            {
                query.Add(name + "=" + Uri.EscapeDataString(value));
            }
        }

        Add("actor", filter.Actor);
        Add("action", filter.Action);
        Add("target", filter.Target);
        Add("from", filter.From);
        Add("to", filter.To);
        return query.Count == 0 ? path : path + (path.Contains('?', StringComparison.Ordinal) ? "&" : "?") + string.Join("&", query);
    }

    private static async Task<RazorComponentResult<AuditRows>> Rows(
        HttpContext http, string? actor, string? action, string? target, string? from, string? to, string? cursor, int? limit, string? more, AuditService audit)
    {
        var org = http.Features.Get<OrgContext>()!;
        var filter = Clean(new AuditFilter(actor, action, target, from, to));
        var page = await audit.ListAsync(org, filter, Clean(cursor), limit is null ? 50 : Math.Clamp(limit.Value, 1, 200), http.RequestAborted);
        return DashboardEndpoints.Fragment<AuditRows>(new
        {
            Page = page,
            RowsUrl = Url($"/o/{Uri.EscapeDataString(org.Slug)}/audit/_rows", filter),
            Filtered = IsFiltered(filter),
            IsMore = more is not null,
        });
    }

    private static string? Clean(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
