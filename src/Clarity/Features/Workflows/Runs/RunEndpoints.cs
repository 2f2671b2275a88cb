using Clarity.Events;
using Clarity.Features.Tasks;
using Clarity.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Clarity.Features.Workflows.Runs;

public static class RunEndpoints
{
    public static IServiceCollection AddWorkflowRuns(this IServiceCollection services)
    {
        services.AddSingleton<RunStore>();
        services.AddSingleton<RunEngine>();
        services.AddSingleton<RunService>();
        services.AddSingleton<ITaskTransitionObserver, RunTaskObserver>();
        services.AddSingleton<ISweep, RunSweep>();
        return services;
    }

    public static IEndpointRouteBuilder MapRunEndpoints(this IEndpointRouteBuilder app)
    {
        var org = app.MapGroup("/api/v1/orgs/{org}").WithTags("Workflow runs");
        org.MapPost("/workflows/{name}/runs", Start).RequirePermission(Permissions.RunsManage);
        org.MapGet("/workflows/{name}/versions/{version}/profile", Profile).RequirePermission(Permissions.RunsRead);
        org.MapGet("/runs", List).RequirePermission(Permissions.RunsRead);
        org.MapGet("/runs/{id:guid}", Get).RequirePermission(Permissions.RunsRead);
        org.MapPost("/runs/{id:guid}/pause", Pause).RequirePermission(Permissions.RunsManage);
        org.MapPost("/runs/{id:guid}/resume", Resume).RequirePermission(Permissions.RunsManage);
        org.MapPost("/runs/{id:guid}/cancel", Cancel).RequirePermission(Permissions.RunsManage);
        org.MapPost("/runs/{id:guid}/continue", Continue).RequirePermission(Permissions.RunsManage);
        org.MapPost("/runs/{id:guid}/steps/{stepId}/retry", Retry).RequirePermission(Permissions.RunsManage);
        org.MapPost("/runs/{id:guid}/steps/{stepId}/skip", Skip).RequirePermission(Permissions.RunsManage);
        org.MapPost("/runs/{id:guid}/steps/{stepId}/release", Release).RequirePermission(Permissions.RunsManage);
        org.MapPost("/runs/{id:guid}/signals/{name}", Signal).RequirePermission(Permissions.RunsManage);
        // Who may vote is each approval's own from: (a permission or a role); the service answers 403 for anyone else.
        org.MapPost("/runs/{id:guid}/steps/{stepId}/votes", Vote).RequirePermission(Permissions.RunsRead);
        org.MapGet("/approvals", Approvals).RequirePermission(Permissions.RunsRead);
        return app;
    }

    private static async Task<Created<RunState>> Start(OrgContext org, string name, StartRunRequest request, RunService runs, CancellationToken ct)
    {
        var run = await runs.StartAsync(org, name, request, ct);
        return TypedResults.Created($"/api/v1/orgs/{org.Slug}/runs/{run.Id}", run);
    }

    private static async Task<Ok<WorkflowProfile>> Profile(OrgContext org, string name, string version, RunService runs, CancellationToken ct) =>
        TypedResults.Ok(await runs.ProfileAsync(org, name, version, ct));

    private static async Task<Ok<RunPage>> List(OrgContext org, RunService runs, string? workflow, string? status, Guid? parent, string? cursor, int? limit, CancellationToken ct) =>
        TypedResults.Ok(await runs.ListAsync(org, workflow, status, parent, cursor, limit, ct));

    private static async Task<Ok<RunDetail>> Get(OrgContext org, Guid id, RunService runs, CancellationToken ct) =>
        TypedResults.Ok(await runs.GetAsync(org, id, ct));

    private static async Task<Ok<RunState>> Pause(OrgContext org, Guid id, RunService runs, CancellationToken ct) =>
        TypedResults.Ok(await runs.PauseAsync(org, id, ct));

    private static async Task<Ok<RunState>> Resume(OrgContext org, Guid id, RunService runs, CancellationToken ct) =>
        TypedResults.Ok(await runs.ResumeAsync(org, id, ct));

    private static async Task<Ok<RunState>> Cancel(OrgContext org, Guid id, RunService runs, CancellationToken ct) =>
        TypedResults.Ok(await runs.CancelAsync(org, id, ct));

    private static async Task<Ok<RunState>> Continue(OrgContext org, Guid id, RunService runs, CancellationToken ct) =>
        TypedResults.Ok(await runs.ContinueAsync(org, id, ct));

    private static async Task<Ok<RunState>> Retry(OrgContext org, Guid id, string stepId, RunService runs, CancellationToken ct) =>
        TypedResults.Ok(await runs.RetryStepAsync(org, id, stepId, ct));

    private static async Task<Ok<RunState>> Skip(OrgContext org, Guid id, string stepId, SkipStepRequest request, RunService runs, CancellationToken ct) =>
        TypedResults.Ok(await runs.SkipStepAsync(org, id, stepId, request, ct));

    private static async Task<Ok<RunState>> Release(OrgContext org, Guid id, string stepId, RunService runs, CancellationToken ct) =>
        TypedResults.Ok(await runs.ReleaseStepAsync(org, id, stepId, ct));

    private static async Task<Ok<SignalResult>> Signal(OrgContext org, Guid id, string name, SignalRequest request, RunService runs, CancellationToken ct) =>
        TypedResults.Ok(await runs.SignalAsync(org, id, name, request, ct));

    private static async Task<Ok<RunStep>> Vote(OrgContext org, Guid id, string stepId, VoteRequest request, RunService runs, CancellationToken ct) =>
        TypedResults.Ok(await runs.VoteAsync(org, id, stepId, request, ct));

    private static async Task<Ok<IReadOnlyList<PendingApproval>>> Approvals(OrgContext org, RunService runs, CancellationToken ct) =>
        TypedResults.Ok(await runs.PendingApprovalsAsync(org, ct));
}

/// <summary>The runs' timers, on the leader: waits that end or time out, approvals that expire, retries whose backoff is over.</summary>
public sealed class RunSweep(RunStore store, RunEngine engine, Changes changes) : ISweep
{
    public string Name => "workflow-runs";

    public async Task<int> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var woken = 0;
        foreach (var (orgId, runId, stepId) in await store.DueAsync(now.ToUnixTimeMilliseconds(), 500, cancellationToken))
        {
            if (await changes.RunAsync(Actor.System, change => engine.WakeAsync(change, orgId, runId, stepId), cancellationToken))
            {
                woken++;
            }
        }

        return woken;
    }
}
