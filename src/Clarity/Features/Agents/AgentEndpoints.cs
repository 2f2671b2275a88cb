using Clarity.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Clarity.Features.Agents;

public static class AgentEndpoints
{
    public static IServiceCollection AddAgents(this IServiceCollection services) =>
        services.AddSingleton<AgentStore>().AddSingleton<AgentService>();

    public static IEndpointRouteBuilder MapAgentEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/orgs/{org}/agents").WithTags("Agents");
        group.MapPost("", Register).RequirePermission(Permissions.AgentsWrite);
        group.MapGet("", List).RequirePermission(Permissions.AgentsRead);
        group.MapGet("/{id:guid}", Get).RequirePermission(Permissions.AgentsRead);
        return app;
    }

    private static async Task<Results<Created<Agent>, Ok<Agent>>> Register(OrgContext org, RegisterAgentRequest request, AgentService agents, CancellationToken ct)
    {
        var (agent, created) = await agents.RegisterAsync(org, request, ct);
        return created ? TypedResults.Created($"/api/v1/orgs/{org.Slug}/agents/{agent.Id}", agent) : TypedResults.Ok(agent);
    }

    private static async Task<Ok<AgentPage>> List(OrgContext org, string? cursor, int? limit, AgentService agents, CancellationToken ct) =>
        TypedResults.Ok(await agents.ListAsync(org, cursor, limit, ct));

    private static async Task<Ok<Agent>> Get(OrgContext org, Guid id, AgentService agents, CancellationToken ct) =>
        TypedResults.Ok(await agents.GetAsync(org, id, ct));
}
