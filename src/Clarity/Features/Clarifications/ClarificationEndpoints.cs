using Clarity.Events;
using Clarity.Features.Tasks;
using Clarity.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Clarity.Features.Clarifications;

public static class ClarificationEndpoints
{
    public static IServiceCollection AddClarifications(this IServiceCollection services)
    {
        services.AddSingleton<KeyedSignals>();
        services.AddSingleton<ClarificationStore>();
        services.AddSingleton<ClarificationService>();
        services.AddSingleton<ISweep, ClarificationSweep>();
        services.AddSingleton<ITaskTransitionObserver, ClarificationTaskObserver>();
        return services;
    }

    public static IEndpointRouteBuilder MapClarificationEndpoints(this IEndpointRouteBuilder app)
    {
        var org = app.MapGroup("/api/v1/orgs/{org}").WithTags("Clarifications");
        org.MapPost("/tasks/{id:guid}/clarifications", Create).RequirePermission(Permissions.TasksWrite);
        org.MapGet("/clarifications", List).RequirePermission(Permissions.TasksRead);
        org.MapGet("/clarifications/{id:guid}", Get).RequirePermission(Permissions.TasksRead);
        org.MapPost("/clarifications/{id:guid}/answer", Answer).RequirePermission(Permissions.TasksRespond);
        return app;
    }

    private static async Task<Created<Clarification>> Create(OrgContext org, Guid id, CreateClarificationRequest request, ClarificationService clarifications, CancellationToken ct)
    {
        var created = await clarifications.CreateAsync(org, id, request, ct);
        return TypedResults.Created($"/api/v1/orgs/{org.Slug}/clarifications/{created.Id}", created);
    }

    private static async Task<Ok<ClarificationPage>> List(OrgContext org, string? status, string? cursor, int? limit, ClarificationService clarifications, CancellationToken ct) =>
        TypedResults.Ok(await clarifications.ListAsync(org, status, cursor, limit, ct));

    private static async Task<Ok<Clarification>> Get(OrgContext org, Guid id, int? waitSeconds, ClarificationService clarifications, CancellationToken ct) =>
        TypedResults.Ok(await clarifications.GetAsync(org, id, waitSeconds, ct));

    private static async Task<Ok<Clarification>> Answer(OrgContext org, Guid id, AnswerRequest request, ClarificationService clarifications, CancellationToken ct) =>
        TypedResults.Ok(await clarifications.AnswerAsync(org, id, request, ct));
}
