using Clarity.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Clarity.Features.Tasks;

public static class TaskEndpoints
{
    public static IServiceCollection AddTasks(this IServiceCollection services)
    {
        services.AddSingleton<TaskStore>();
        services.AddSingleton<WorkSignals>();
        services.AddSingleton<TaskService>();
        services.AddSingleton<ISweep, TaskSweep>();
        return services;
    }

    public static IEndpointRouteBuilder MapTaskEndpoints(this IEndpointRouteBuilder app)
    {
        var org = app.MapGroup("/api/v1/orgs/{org}").WithTags("Tasks");
        org.MapPost("/tasks", Create).RequirePermission(Permissions.TasksWrite);
        org.MapGet("/tasks", List).RequirePermission(Permissions.TasksRead);
        org.MapGet("/tasks/{id:guid}", Get).RequirePermission(Permissions.TasksRead);
        org.MapPost("/tasks/{id:guid}/cancel", Cancel).RequirePermission(Permissions.TasksWrite);
        org.MapPost("/tasks/{id:guid}/heartbeat", Heartbeat).RequirePermission(Permissions.TasksWrite);
        org.MapPost("/tasks/{id:guid}/complete", Complete).RequirePermission(Permissions.TasksWrite);
        org.MapPost("/tasks/{id:guid}/fail", Fail).RequirePermission(Permissions.TasksWrite);
        org.MapPost("/work/checkout", Checkout).RequirePermission(Permissions.TasksWrite);
        return app;
    }

    private static async Task<Results<Created<AgentTask>, Ok<AgentTask>>> Create(OrgContext org, CreateTaskRequest request, TaskService tasks, CancellationToken ct)
    {
        var (task, created) = await tasks.CreateAsync(org, request, ct);
        return created ? TypedResults.Created($"/api/v1/orgs/{org.Slug}/tasks/{task.Id}", task) : TypedResults.Ok(task);
    }

    private static async Task<Ok<TaskPage>> List(OrgContext org, TaskService tasks, string? status, string? queue, string? agent, string? cursor, int? limit, CancellationToken ct) =>
        TypedResults.Ok(await tasks.ListAsync(org, status, queue, agent, cursor, limit, ct));

    private static async Task<Ok<AgentTask>> Get(OrgContext org, Guid id, TaskService tasks, CancellationToken ct) =>
        TypedResults.Ok(await tasks.GetAsync(org, id, ct));

    private static async Task<Ok<AgentTask>> Cancel(OrgContext org, Guid id, TaskService tasks, CancellationToken ct) =>
        TypedResults.Ok(await tasks.CancelAsync(org, id, ct));

    private static async Task<Ok<HeartbeatResult>> Heartbeat(OrgContext org, Guid id, HeartbeatRequest request, TaskService tasks, CancellationToken ct) =>
        TypedResults.Ok(await tasks.HeartbeatAsync(org, id, request, ct));

    /// <summary>The task; with <c>next</c> in the request, the task and the agent's next lease (eager dispatch).</summary>
    private static async Task<Results<Ok<AgentTask>, Ok<CompletedTask>>> Complete(OrgContext org, Guid id, CompleteRequest request, TaskService tasks, CancellationToken ct)
    {
        if (request.Next is null)
        {
            return TypedResults.Ok(await tasks.CompleteAsync(org, id, request, ct));
        }

        return TypedResults.Ok(await tasks.CompleteAndClaimAsync(org, id, request, ct));
    }

    private static async Task<Ok<AgentTask>> Fail(OrgContext org, Guid id, FailRequest request, TaskService tasks, CancellationToken ct) =>
        TypedResults.Ok(await tasks.FailAsync(org, id, request, ct));

    /// <summary>One lease; with <c>maxTasks</c> in the request, a batch of one to maxTasks leases. 204 when nothing arrived in time.</summary>
    private static async Task<Results<Ok<Lease>, Ok<CheckoutBatch>, NoContent>> Checkout(OrgContext org, CheckoutRequest request, TaskService tasks, CancellationToken ct)
    {
        if (request.MaxTasks is null)
        {
            var lease = await tasks.CheckoutAsync(org, request, ct);
            return lease is null ? TypedResults.NoContent() : TypedResults.Ok(lease);
        }

        var leases = await tasks.CheckoutManyAsync(org, request, ct);
        return leases.Count == 0 ? TypedResults.NoContent() : TypedResults.Ok(new CheckoutBatch(leases));
    }
}
