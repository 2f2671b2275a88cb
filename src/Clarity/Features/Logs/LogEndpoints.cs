using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Clarity.Features.Logs;

public static class LogEndpoints
{
    public static IServiceCollection AddLogs(this IServiceCollection services) =>
        services.AddSingleton(sp => LogStore.Create(
                sp.GetRequiredService<Database>(), sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<ClarityOptions>>().Value.SqliteSearchTableLines))
            .AddSingleton<LogService>()
            .AddSingleton<IMigrationStep, SqliteSearchIndexes>();

    public static IEndpointRouteBuilder MapLogEndpoints(this IEndpointRouteBuilder app)
    {
        var org = app.MapGroup("/api/v1/orgs/{org}").WithTags("Logs");
        org.MapPost("/tasks/{id:guid}/logs", Append).RequirePermission(Permissions.TasksWrite);
        org.MapGet("/tasks/{id:guid}/logs", Read).RequirePermission(Permissions.TasksRead);
        org.MapGet("/logs/search", Search).RequirePermission(Permissions.TasksRead);
        return app;
    }

    private static async Task<Ok<AppendLogsResult>> Append(OrgContext org, Guid id, List<LogLineInput?> lines, LogService logs, CancellationToken ct) =>
        TypedResults.Ok(await logs.AppendAsync(org, id, lines, ct));

    private static Task<LogPageResult> Read(OrgContext org, Guid id, long? afterSeq, int? limit, LogService logs, CancellationToken ct) =>
        logs.ReadAsync(org, id, afterSeq, limit, ct);

    private static async Task<Ok<LogSearchResult>> Search(OrgContext org, string? q, Guid? taskId, string? cursor, int? limit, LogService logs, CancellationToken ct) =>
        TypedResults.Ok(await logs.SearchAsync(org, q, taskId, cursor, limit, ct));
}
