using Clarity.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Webhooks;

public static class WebhookEndpoints
{
    public static IServiceCollection AddWebhooks(this IServiceCollection services)
    {
        services.AddSingleton<WebhookSecretProtector>();
        services.AddSingleton<WebhookStore>();
        services.AddSingleton<WebhookService>();
        services.AddSingleton<WebhookSender>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookSender>());
        services.AddSingleton<WebhookDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookDispatcher>());
        services.AddHttpClient(WebhookSender.HttpClientName, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(sp =>
            {
                var settings = sp.GetRequiredService<IOptions<ClarityOptions>>().Value.Webhooks;
                return new SocketsHttpHandler
                {
                    AllowAutoRedirect = false,
                    UseProxy = false,
                    UseCookies = false,
                    AutomaticDecompression = System.Net.DecompressionMethods.None,
                    ConnectTimeout = TimeSpan.FromSeconds(settings.TimeoutSeconds),
                    PooledConnectionLifetime = TimeSpan.FromMinutes(2),
                    MaxResponseHeadersLength = 64,
                    ConnectCallback = WebhookSender.SafeConnect(settings.AllowPrivateNetworks),
                };
            })
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan);
        return services;
    }

    public static IEndpointRouteBuilder MapWebhookEndpoints(this IEndpointRouteBuilder app)
    {
        var hooks = app.MapGroup("/api/v1/orgs/{org}/webhooks").WithTags("Webhooks");
        hooks.MapPost("", Create).RequirePermission(Permissions.WebhooksManage);
        hooks.MapGet("", List).RequirePermission(Permissions.WebhooksManage);
        hooks.MapGet("/{id:guid}", Get).RequirePermission(Permissions.WebhooksManage);
        hooks.MapPatch("/{id:guid}", Update).RequirePermission(Permissions.WebhooksManage);
        hooks.MapDelete("/{id:guid}", Delete).RequirePermission(Permissions.WebhooksManage);
        hooks.MapPost("/{id:guid}/rotate-secret", RotateSecret).RequirePermission(Permissions.WebhooksManage);
        hooks.MapGet("/{id:guid}/deliveries", ListDeliveries).RequirePermission(Permissions.WebhooksManage);
        hooks.MapPost("/{id:guid}/deliveries/{deliveryId}/replay", Replay).RequirePermission(Permissions.WebhooksManage);
        return app;
    }

    private static async Task<Created<CreatedWebhook>> Create(OrgContext org, CreateWebhookRequest request, WebhookService webhooks, CancellationToken ct)
    {
        var created = await webhooks.CreateAsync(org, request, ct);
        return TypedResults.Created($"/api/v1/orgs/{org.Slug}/webhooks/{created.Id}", created);
    }

    private static async Task<Ok<WebhookPage>> List(OrgContext org, WebhookService webhooks, string? cursor, int? limit, CancellationToken ct) =>
        TypedResults.Ok(await webhooks.ListAsync(org, cursor, limit, ct));

    private static async Task<Ok<Webhook>> Get(OrgContext org, Guid id, WebhookService webhooks, CancellationToken ct) =>
        TypedResults.Ok(await webhooks.GetAsync(org, id, ct));

    private static async Task<Ok<Webhook>> Update(OrgContext org, Guid id, UpdateWebhookRequest request, WebhookService webhooks, CancellationToken ct) =>
        TypedResults.Ok(await webhooks.UpdateAsync(org, id, request, ct));

    private static async Task<NoContent> Delete(OrgContext org, Guid id, WebhookService webhooks, CancellationToken ct)
    {
        await webhooks.DeleteAsync(org, id, ct);
        return TypedResults.NoContent();
    }

    /// <summary>A new secret, shown once; <c>?overlapSeconds=</c> overrides how long the old one stays valid (both are signed with meanwhile).</summary>
    private static async Task<Ok<RotatedWebhookSecret>> RotateSecret(OrgContext org, Guid id, WebhookService webhooks, int? overlapSeconds, CancellationToken ct) =>
        TypedResults.Ok(await webhooks.RotateSecretAsync(org, id, overlapSeconds, ct));

    private static async Task<Ok<WebhookDeliveryPage>> ListDeliveries(OrgContext org, Guid id, WebhookService webhooks, string? cursor, int? limit, CancellationToken ct) =>
        TypedResults.Ok(await webhooks.ListDeliveriesAsync(org, id, cursor, limit, ct));

    private static async Task<Accepted<WebhookDelivery>> Replay(OrgContext org, Guid id, string deliveryId, WebhookService webhooks, CancellationToken ct)
    {
        var replay = await webhooks.ReplayAsync(org, id, Guid.TryParse(deliveryId, out var parsed) ? parsed : throw Problems.NotFound("Delivery"), ct);
        return TypedResults.Accepted($"/api/v1/orgs/{org.Slug}/webhooks/{id}/deliveries", replay);
    }
}
