using Clarity.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Clarity.Features.Notifications;

public static class NotificationEndpoints
{
    /// <summary>The notification core: rules, preferences, the fan-out, the sender, the expiry sweep and the webhook channel.</summary>
    public static IServiceCollection AddNotifications(this IServiceCollection services)
    {
        services.TryAddSingleton<NotificationTemplates>();
        services.AddSingleton<NotificationStore>();
        services.AddSingleton<NotificationService>();
        services.AddSingleton<NotificationViews>();
        services.AddSingleton<INotificationChannel, WebhookNotificationChannel>();
        services.AddSingleton<NotificationChannelRegistry>();
        services.AddSingleton<NotificationSender>();
        services.AddHostedService(sp => sp.GetRequiredService<NotificationSender>());
        services.AddSingleton<NotificationDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<NotificationDispatcher>());
        services.AddSingleton<NotificationExpirySweep>();
        services.AddHostedService(sp => sp.GetRequiredService<NotificationExpirySweep>());
        return services;
    }

    public static IEndpointRouteBuilder MapNotificationEndpoints(this IEndpointRouteBuilder app)
    {
        var org = app.MapGroup("/api/v1/orgs/{org}").WithTags("Notifications");
        org.MapPost("/notification-rules", CreateOrgRule).RequirePermission(Permissions.NotificationsManage);
        org.MapGet("/notification-rules", ListOrgRules).RequirePermission(Permissions.NotificationsManage);
        org.MapGet("/notification-rules/{id}", GetOrgRule).RequirePermission(Permissions.NotificationsManage);
        org.MapPatch("/notification-rules/{id}", UpdateOrgRule).RequirePermission(Permissions.NotificationsManage);
        org.MapDelete("/notification-rules/{id}", DeleteOrgRule).RequirePermission(Permissions.NotificationsManage);
        org.MapGet("/notification-deliveries", ListDeliveries).RequirePermission(Permissions.NotificationsManage);

        // A member's own: any role may make rules that reach only themselves, and set their preferences.
        org.MapPost("/me/notification-rules", CreateMyRule).RequirePermission(Permissions.OrgRead);
        org.MapGet("/me/notification-rules", ListMyRules).RequirePermission(Permissions.OrgRead);
        org.MapGet("/me/notification-rules/{id}", GetMyRule).RequirePermission(Permissions.OrgRead);
        org.MapPatch("/me/notification-rules/{id}", UpdateMyRule).RequirePermission(Permissions.OrgRead);
        org.MapDelete("/me/notification-rules/{id}", DeleteMyRule).RequirePermission(Permissions.OrgRead);
        org.MapGet("/notification-preferences", GetPreferences).RequirePermission(Permissions.OrgRead);
        org.MapPut("/notification-preferences", PutPreferences).RequirePermission(Permissions.OrgRead);
        return app;
    }

    private static async Task<Created<NotificationRule>> CreateOrgRule(OrgContext org, CreateNotificationRuleRequest request, NotificationService notifications, CancellationToken ct)
    {
        var rule = await notifications.CreateAsync(org, personal: false, request, ct);
        return TypedResults.Created($"/api/v1/orgs/{org.Slug}/notification-rules/{rule.Id}", rule);
    }

    private static async Task<Ok<NotificationRulePage>> ListOrgRules(OrgContext org, NotificationService notifications, string? cursor, int? limit, CancellationToken ct) =>
        TypedResults.Ok(await notifications.ListAsync(org, personal: false, cursor, limit, ct));

    private static async Task<Ok<NotificationRule>> GetOrgRule(OrgContext org, string id, NotificationService notifications, CancellationToken ct) =>
        TypedResults.Ok(await notifications.GetAsync(org, personal: false, RuleId(id), ct));

    private static async Task<Ok<NotificationRule>> UpdateOrgRule(OrgContext org, string id, UpdateNotificationRuleRequest request, NotificationService notifications, CancellationToken ct) =>
        TypedResults.Ok(await notifications.UpdateAsync(org, personal: false, RuleId(id), request, ct));

    private static async Task<NoContent> DeleteOrgRule(OrgContext org, string id, NotificationService notifications, CancellationToken ct)
    {
        await notifications.DeleteAsync(org, personal: false, RuleId(id), ct);
        return TypedResults.NoContent();
    }

    /// <summary>The delivery log, newest first; <c>?status=</c>, <c>?channel=</c> and <c>?event=</c> narrow it.</summary>
    private static async Task<Ok<NotificationDeliveryPage>> ListDeliveries(
        OrgContext org, NotificationService notifications, string? cursor, int? limit, string? status, string? channel, [Microsoft.AspNetCore.Mvc.FromQuery(Name = "event")] string? eventType, CancellationToken ct) =>
        TypedResults.Ok(await notifications.ListDeliveriesAsync(org, cursor, limit, status, channel, eventType, ct));

    private static async Task<Created<NotificationRule>> CreateMyRule(OrgContext org, CreateNotificationRuleRequest request, NotificationService notifications, CancellationToken ct)
    {
        var rule = await notifications.CreateAsync(org, personal: true, request, ct);
        return TypedResults.Created($"/api/v1/orgs/{org.Slug}/me/notification-rules/{rule.Id}", rule);
    }

    private static async Task<Ok<NotificationRulePage>> ListMyRules(OrgContext org, NotificationService notifications, string? cursor, int? limit, CancellationToken ct) =>
        TypedResults.Ok(await notifications.ListAsync(org, personal: true, cursor, limit, ct));

    private static async Task<Ok<NotificationRule>> GetMyRule(OrgContext org, string id, NotificationService notifications, CancellationToken ct) =>
        TypedResults.Ok(await notifications.GetAsync(org, personal: true, RuleId(id), ct));

    private static async Task<Ok<NotificationRule>> UpdateMyRule(OrgContext org, string id, UpdateNotificationRuleRequest request, NotificationService notifications, CancellationToken ct) =>
        TypedResults.Ok(await notifications.UpdateAsync(org, personal: true, RuleId(id), request, ct));

    private static async Task<NoContent> DeleteMyRule(OrgContext org, string id, NotificationService notifications, CancellationToken ct)
    {
        await notifications.DeleteAsync(org, personal: true, RuleId(id), ct);
        return TypedResults.NoContent();
    }

    private static async Task<Ok<NotificationPreferences>> GetPreferences(OrgContext org, NotificationService notifications, CancellationToken ct) =>
        TypedResults.Ok(await notifications.GetPreferencesAsync(org, ct));

    private static async Task<Ok<NotificationPreferences>> PutPreferences(OrgContext org, NotificationPreferencesRequest request, NotificationService notifications, CancellationToken ct) =>
        TypedResults.Ok(await notifications.PutPreferencesAsync(org, request, ct));

    /// <summary>
    /// A rule id from the path: taken as text so that a malformed body is refused (400, 413) before the id is looked at;
    /// an id that is not one answers 404 like a missing rule.
    /// </summary>
    private static Guid RuleId(string id) => Guid.TryParse(id, out var parsed) ? parsed : throw Problems.NotFound("Notification rule");
}
