using Clarity.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Notifications.WebPush;

public static class WebPushEndpoints
{
    /// <summary>The web push channel, its subscriptions and its VAPID keys.</summary>
    public static IServiceCollection AddWebPushNotifications(this IServiceCollection services)
    {
        services.AddSingleton<IValidateOptions<ClarityOptions>, WebPushOptionsValidator>();
        services.AddSingleton<VapidKeys>();
        services.AddHostedService(sp => sp.GetRequiredService<VapidKeys>());
        services.AddSingleton<PushSubscriptionStore>();
        services.AddSingleton<PushSubscriptionService>();
        services.AddSingleton<WebPushTransport>();
        services.AddSingleton<WebPushChannel>();
        services.AddSingleton<INotificationChannel>(sp => sp.GetRequiredService<WebPushChannel>());
        // The templates the channel renders with; the notification core registers the same singleton.
        services.TryAddSingleton<NotificationTemplates>();
        return services;
    }

    public static IEndpointRouteBuilder MapWebPushEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").WithTags("Web push");
        api.MapGet("/push/vapid-public-key", GetPublicKey).Public();
        api.MapPost("/me/push-subscriptions", Subscribe).RequireUser();
        api.MapGet("/me/push-subscriptions", List).RequireUser();
        api.MapGet("/me/push-subscriptions/{id:guid}", Get).RequireUser();
        api.MapDelete("/me/push-subscriptions/{id:guid}", Delete).RequireUser();
        return app;
    }

    /// <summary>The key a browser subscribes with (<c>pushManager.subscribe({applicationServerKey})</c>); public, as push services publish it anyway.</summary>
    private static async Task<Ok<VapidPublicKey>> GetPublicKey(VapidKeys keys, CancellationToken ct) =>
        TypedResults.Ok(new VapidPublicKey((await keys.GetAsync(ct)).PublicKey));

    /// <summary>Turns notifications on for this device: 201 for a new subscription, 200 when the endpoint was already the user's (its keys are updated).</summary>
    private static async Task<Results<Created<PushSubscriptionInfo>, Ok<PushSubscriptionInfo>>> Subscribe(
        CreatePushSubscriptionRequest request, HttpContext http, PushSubscriptionService subscriptions, CancellationToken ct)
    {
        var (subscription, created) = await subscriptions.SubscribeAsync(UserOf(http), request, http.Request.Headers.UserAgent.ToString(), ct);
        return created
            ? TypedResults.Created($"/api/v1/me/push-subscriptions/{subscription.Id}", subscription)
            : TypedResults.Ok(subscription);
    }

    private static async Task<Ok<PushSubscriptionList>> List(HttpContext http, PushSubscriptionService subscriptions, CancellationToken ct) =>
        TypedResults.Ok(await subscriptions.ListAsync(UserOf(http), ct));

    private static async Task<Ok<PushSubscriptionInfo>> Get(Guid id, HttpContext http, PushSubscriptionService subscriptions, CancellationToken ct) =>
        TypedResults.Ok(await subscriptions.GetAsync(UserOf(http), id, ct));

    private static async Task<NoContent> Delete(Guid id, HttpContext http, PushSubscriptionService subscriptions, CancellationToken ct)
    {
        await subscriptions.DeleteAsync(UserOf(http), id, ct);
        return TypedResults.NoContent();
    }

    private static Guid UserOf(HttpContext http) =>
        http.Features.Get<Caller>()?.UserId ?? throw Problems.Unauthorized("Sign in as a user to manage push subscriptions.");
}

/// <summary>Checks <c>Clarity:WebPush</c> at start-up (its data annotations and <see cref="WebPushOptions.Validate"/>).</summary>
internal sealed class WebPushOptionsValidator : IValidateOptions<ClarityOptions>
{
    public ValidateOptionsResult Validate(string? name, ClarityOptions options)
    {
        var results = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        var settings = options.WebPush;
        return System.ComponentModel.DataAnnotations.Validator.TryValidateObject(settings, new System.ComponentModel.DataAnnotations.ValidationContext(settings), results, validateAllProperties: true)
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(results.Select(r => $"Clarity:WebPush:{string.Join(",", r.MemberNames)}: {r.ErrorMessage}"));
    }
}
