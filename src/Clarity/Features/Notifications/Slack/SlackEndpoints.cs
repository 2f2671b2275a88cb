using Clarity.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Notifications.Slack;

public static class SlackEndpoints
{
    /// <summary>The path Slack's interactivity request URL names (Interactivity &amp; Shortcuts in the app's settings).</summary>
    public const string InteractivityPath = "/api/v1/integrations/slack/interactivity";

    /// <summary>The Slack channel, its Web API client, the message store and updater, and the interactivity handler.</summary>
    public static IServiceCollection AddSlackNotifications(this IServiceCollection services)
    {
        // The core registers the templates too; whichever comes first wins.
        services.TryAddSingleton<NotificationTemplates>();
        services.AddSingleton<SlackApi>();
        services.AddSingleton<SlackMessages>();
        services.AddSingleton<SlackMessageStore>();
        services.AddSingleton<ISweep, SlackMessageSweep>();
        services.AddSingleton<SlackMessageUpdater>();
        services.AddHostedService(sp => sp.GetRequiredService<SlackMessageUpdater>());
        services.AddSingleton<SlackChannel>();
        services.AddSingleton<Notifications.INotificationChannel>(sp => sp.GetRequiredService<SlackChannel>());
        services.AddSingleton<SlackInteractivity>();
        services.AddHttpClient(SlackApi.HttpClientName, client =>
            {
                client.Timeout = Timeout.InfiniteTimeSpan;
                client.MaxResponseContentBufferSize = 1024 * 1024;
            })
            .ConfigurePrimaryHttpMessageHandler(sp => new SocketsHttpHandler
            {
                AllowAutoRedirect = false,
                UseCookies = false,
                ConnectTimeout = TimeSpan.FromSeconds(sp.GetRequiredService<IOptions<ClarityOptions>>().Value.Slack.TimeoutSeconds),
                PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            })
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan);
        return services;
    }

    /// <summary>
    /// <c>POST /api/v1/integrations/slack/interactivity</c>: public, because Slack authenticates it with the signing
    /// secret's signature instead (checked before anything else is read); bounded and rate limited by the handler.
    /// </summary>
    public static IEndpointRouteBuilder MapSlackEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost(InteractivityPath, Interactivity).Public().WithTags("Slack").WithName("SlackInteractivity");
        return app;
    }

    private static async Task<Ok> Interactivity(HttpRequest request, SlackInteractivity slack, CancellationToken ct)
    {
        await slack.HandleAsync(request, ct);
        return TypedResults.Ok();
    }
}
