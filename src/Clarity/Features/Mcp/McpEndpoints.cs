using System.Reflection;
using Clarity.Features.Identity;
using Clarity.Hosting;
using Clarity.Hosting.Authorization;
using ModelContextProtocol.AspNetCore;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Clarity.Features.Mcp;

/// <summary>
/// Clarity's MCP server at <c>/mcp</c> (Streamable HTTP, on the official C# SDK). A request is signed in like any API
/// request (<c>Authorization: Bearer &lt;api key&gt;</c>; the session cookie is refused) and addresses one org: the one
/// <c>X-Clarity-Org</c> names, else the API key's own. Clients that use the initialize handshake (protocol 2025-11-25
/// and earlier) get a session; 2026-07-28 clients are served per request. The tools are <see cref="McpToolService"/>'s.
/// </summary>
public static class McpEndpoints
{
    public const string Path = "/mcp";

    /// <summary>The header that names the org an MCP client works in (optional with an API key: its own org).</summary>
    public const string OrgHeader = "X-Clarity-Org";

    /// <summary>How often a live session renews the lease on its own task.</summary>
    private static readonly TimeSpan s_renewEvery = TimeSpan.FromSeconds(McpToolService.SessionLeaseSeconds / 3);

    public static IServiceCollection AddMcp(this IServiceCollection services)
    {
        services.AddSingleton<McpToolService>();
        services.AddMcpServer()
            .WithHttpTransport(o =>
            {
                // Sessions for initialize-handshake clients (the session owns its task); 2026-07-28 clients per request.
                o.SessionMode = HttpServerSessionMode.StatefulForInitializeClients;
                o.ConfigureSessionOptions = ConfigureSessionAsync;
                // The SDK's one hook for the end of a session, where the session's task is closed. Marked experimental
                // (MCPEXP002) in 2.4.0; should it change, only this line and RunSessionAsync follow.
#pragma warning disable MCPEXP002
                o.RunSessionHandler = RunSessionAsync;
#pragma warning restore MCPEXP002
            });
        return services;
    }

    public static IEndpointRouteBuilder MapMcpEndpoints(this IEndpointRouteBuilder app)
    {
        var mcp = app.MapMcp(Path).RequireCaller().WithTags("MCP").ExcludeFromDescription();
        // Every /mcp request (POST, GET, DELETE) resolves its org before the SDK sees it: a header naming an org the
        // credential has no access to answers 404 like any API request.
        mcp.Add(endpoint =>
        {
            var inner = endpoint.RequestDelegate!;
            endpoint.RequestDelegate = async context =>
            {
                context.Features.Set(await ResolveOrgAsync(context));
                await inner(context);
            };
        });
        return app;
    }

    /// <summary>The org of an MCP request: X-Clarity-Org, else the API key's own org. The caller is already signed in (RequireCaller).</summary>
    private static async Task<OrgContext> ResolveOrgAsync(HttpContext context)
    {
        var caller = context.Features.Get<Caller>() ?? throw Problems.Unauthorized("Authentication required: send Authorization: Bearer <api key>.");
        if (caller.Source == CredentialSource.Cookie)
        {
            // The dashboard's cookie never drives MCP: a page of another site could otherwise call tools as the person.
            throw Problems.Unauthorized("MCP takes Authorization: Bearer <api key>, never the dashboard's session cookie.");
        }

        var access = context.RequestServices.GetRequiredService<AccessResolver>();
        var slug = context.Request.Headers[OrgHeader].ToString().Trim();
        if (slug.Length > 0)
        {
            if (slug.Length > 100 || slug.Any(char.IsControl))
            {
                throw Problems.Validation(OrgHeader, "must be an org's slug.");
            }

            return await access.ResolveAsync(caller, slug, context.RequestAborted) ?? throw Problems.NotFound($"Org '{slug}'");
        }

        if (caller.ApiKey is not { } key)
        {
            throw Problems.Validation(OrgHeader, "is required when signing in with a user's token: name the org to work in.");
        }

        var org = await context.RequestServices.GetRequiredService<IdentityStore>().FindOrgAsync(key.OrgId, context.RequestAborted)
            ?? throw Problems.NotFound("The API key's org");
        return await access.ResolveAsync(caller, org.Id, org.Slug, context.RequestAborted) ?? throw Problems.NotFound($"Org '{org.Slug}'");
    }

    /// <summary>Per session (per request for 2026-07-28 clients): the server's identity, and the tools bound to this session's state.</summary>
    private static Task ConfigureSessionAsync(HttpContext context, McpServerOptions options, CancellationToken ct)
    {
        var org = context.Features.Get<OrgContext>() ?? throw new InvalidOperationException("An MCP session without an org.");
        var tools = context.RequestServices.GetRequiredService<McpToolService>();
        var state = new McpSessionState(org);
        context.Items[typeof(McpSessionState)] = state;
        options.ServerInfo = new Implementation { Name = "clarity", Title = "Clarity", Version = Version };
        options.ServerInstructions =
            "Clarity connects you with the people who oversee your work. Call ask_human when you need a decision or information only a person has; " +
            "log and report_progress keep them informed. Tasks: create_task, checkout_task, complete_task, fail_task.";
        options.Capabilities ??= new ServerCapabilities();
        options.Capabilities.Tools = new ToolsCapability { ListChanged = false };
        options.Handlers.ListToolsHandler = (_, _) => ValueTask.FromResult(tools.ListTools());
        options.Handlers.CallToolHandler = (request, token) => tools.CallAsync(state, request, token);
        return Task.CompletedTask;
    }

    /// <summary>Runs the session; while it lives its task's lease is renewed, and when it ends its task is closed.</summary>
    private static async Task RunSessionAsync(HttpContext context, McpServer server, CancellationToken ct)
    {
        if (context.Items[typeof(McpSessionState)] is not McpSessionState state)
        {
            await server.RunAsync(ct);
            return;
        }

        var tools = context.RequestServices.GetRequiredService<McpToolService>();
        var clock = context.RequestServices.GetRequiredService<TimeProvider>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var renewing = RenewAsync(tools, state, clock, stop.Token);
        try
        {
            await server.RunAsync(ct);
        }
        finally
        {
            await stop.CancelAsync();
            await renewing;
            using var closing = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await tools.CloseAsync(state, closing.Token);
        }
    }

    private static async Task RenewAsync(McpToolService tools, McpSessionState state, TimeProvider clock, CancellationToken ct)
    {
        try
        {
            using var timer = new PeriodicTimer(s_renewEvery, clock);
            while (await timer.WaitForNextTickAsync(ct))
            {
                await tools.RenewAsync(state, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private static string Version { get; } =
        typeof(McpEndpoints).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";
}
