using Clarity.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Clarity.Features.Audit;

public static class AuditEndpoints
{
    public static IServiceCollection AddAudit(this IServiceCollection services)
    {
        services.AddSingleton<AuditStore>();
        services.AddSingleton<AuditService>();
        services.AddSingleton<ISweep, AuditRetention>();
        return services;
    }

    public static IEndpointRouteBuilder MapAuditEndpoints(this IEndpointRouteBuilder app)
    {
        var org = app.MapGroup("/api/v1/orgs/{org}").WithTags("Audit");
        org.MapGet("/audit", List).RequirePermission(Permissions.AuditRead);
        org.MapGet("/audit/export", Export).RequirePermission(Permissions.AuditRead)
            .Produces(StatusCodes.Status200OK, contentType: "text/csv").Produces(StatusCodes.Status200OK, contentType: "application/jsonl");
        return app;
    }

    private static async Task<Ok<AuditPage>> List(
        OrgContext org, AuditService audit, string? actor, string? action, string? target, string? from, string? to, string? cursor, int? limit, CancellationToken ct) =>
        TypedResults.Ok(await audit.ListAsync(org, new AuditFilter(actor, action, target, from, to), cursor, limit, ct));

    /// <summary>Streams the matching entries, oldest first, as CSV or JSON Lines; the export is itself audited before the first byte.</summary>
    private static async Task<EmptyHttpResult> Export(
        HttpContext http, OrgContext org, AuditService audit, string? format, string? actor, string? action, string? target, string? from, string? to, CancellationToken ct)
    {
        var kind = (format ?? AuditExport.Jsonl).ToLowerInvariant();
        if (kind is not (AuditExport.Csv or AuditExport.Jsonl))
        {
            throw Problems.Validation("format", "must be csv or jsonl.");
        }

        var rows = await audit.ExportAsync(org, new AuditFilter(actor, action, target, from, to), kind, ct);
        http.Response.ContentType = AuditExport.ContentType(kind);
        http.Response.Headers.ContentDisposition = $"attachment; filename=\"audit-{org.Slug}.{kind}\"";
        http.Response.Headers.CacheControl = "no-store";
        if (kind == AuditExport.Csv)
        {
            await AuditExport.WriteCsvAsync(http.Response.Body, rows, ct);
        }
        else
        {
            await AuditExport.WriteJsonlAsync(http.Response.Body, rows, ct);
        }

        return TypedResults.Empty;
    }
}
