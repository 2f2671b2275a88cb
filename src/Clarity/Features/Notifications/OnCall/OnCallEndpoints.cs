using Clarity.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Clarity.Features.Notifications.OnCall;

public static class OnCallEndpoints
{
    public static IServiceCollection AddOnCall(this IServiceCollection services)
    {
        services.AddSingleton<OnCallClock>();
        services.AddSingleton<OnCallStore>();
        services.AddSingleton<OnCallService>();
        services.AddSingleton<EscalationStore>();
        services.AddSingleton<EscalationService>();
        services.AddSingleton<IEscalationPager, DeliveryEscalationPager>();
        services.AddSingleton<ISweep, EscalationSweep>();
        services.AddSingleton<Tasks.ITaskTransitionObserver, EscalationTaskObserver>();
        return services;
    }

    /// <summary>
    /// Managing rosters and policies needs notifications:manage (owners and admins);
    /// reading needs tasks:read; acknowledging needs tasks:read, and the service lets in whoever the escalation paged or
    /// holds tasks:respond.
    /// </summary>
    public static IEndpointRouteBuilder MapOnCallEndpoints(this IEndpointRouteBuilder app)
    {
        const string manage = Permissions.NotificationsManage;
        const string read = Permissions.TasksRead;
        var org = app.MapGroup("/api/v1/orgs/{org}").WithTags("On-call");
        var rosters = org.MapGroup("/oncall/rosters");
        rosters.MapPost("", CreateRoster).RequirePermission(manage);
        rosters.MapGet("", ListRosters).RequirePermission(read);
        rosters.MapGet("/{id:guid}", GetRoster).RequirePermission(read);
        rosters.MapPut("/{id:guid}", UpdateRoster).RequirePermission(manage);
        rosters.MapDelete("/{id:guid}", DeleteRoster).RequirePermission(manage);
        rosters.MapGet("/{id:guid}/oncall", OnCall).RequirePermission(read);
        rosters.MapPost("/{id:guid}/overrides", AddOverride).RequirePermission(manage);
        rosters.MapGet("/{id:guid}/overrides", ListOverrides).RequirePermission(read);
        rosters.MapDelete("/{id:guid}/overrides/{overrideId:guid}", DeleteOverride).RequirePermission(manage);

        var policies = org.MapGroup("/escalation-policies");
        policies.MapPost("", CreatePolicy).RequirePermission(manage);
        policies.MapGet("", ListPolicies).RequirePermission(read);
        policies.MapGet("/{id:guid}", GetPolicy).RequirePermission(read);
        policies.MapPut("/{id:guid}", UpdatePolicy).RequirePermission(manage);
        policies.MapDelete("/{id:guid}", DeletePolicy).RequirePermission(manage);
        policies.MapPost("/{id:guid}/drill", Drill).RequirePermission(manage);

        org.MapGet("/escalations", ListEscalations).RequirePermission(read);
        org.MapGet("/escalations/{id:guid}", GetEscalation).RequirePermission(read);
        org.MapPost("/escalations/{id:guid}/acknowledge", Acknowledge).RequirePermission(read);

        // The dashboard's Acknowledge button (the task page's escalation timeline): a form POST with the antiforgery token.
        var dashboard = app.MapGroup("/o/{org}").ExcludeFromDescription().WithMetadata(new Dashboard.DashboardPageAttribute { Permission = read });
        dashboard.MapPost("/escalations/{id:guid}/acknowledge", AcknowledgeFromDashboard);
        return app;
    }

    /// <summary>Acknowledges via dashboard through the same service as the API; then back to the task page the form names.</summary>
    private static async Task<IResult> AcknowledgeFromDashboard(Guid id, HttpContext http, Microsoft.AspNetCore.Antiforgery.IAntiforgery antiforgery, EscalationService escalations)
    {
        var org = http.Features.Get<OrgContext>()!;
        var back = $"/o/{Uri.EscapeDataString(org.Slug)}";
        try
        {
            if (http.Request.HasFormContentType && Guid.TryParse((await http.Request.ReadFormAsync(http.RequestAborted))["task"].ToString(), out var task))
            {
                back += $"/tasks/{task}";
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or BadHttpRequestException or IOException)
        {
            // An unreadable form: the antiforgery check below refuses it.
        }

        return await Dashboard.DashboardEndpoints.FormActionAsync(http, antiforgery, back, async _ =>
        {
            var acked = await escalations.AcknowledgeAsync(org, id, new AcknowledgeRequest(AcknowledgeChannels.Dashboard), http.RequestAborted);
            return $"Acknowledged: the escalation of {acked.PolicyName} stopped.";
        });
    }

    private static async Task<Created<Roster>> CreateRoster(OrgContext org, RosterRequest request, OnCallService oncall, CancellationToken ct)
    {
        var created = await oncall.CreateRosterAsync(org, request, ct);
        return TypedResults.Created($"/api/v1/orgs/{org.Slug}/oncall/rosters/{created.Id}", created);
    }

    private static async Task<Ok<RosterPage>> ListRosters(OrgContext org, string? cursor, int? limit, OnCallService oncall, CancellationToken ct) =>
        TypedResults.Ok(await oncall.ListRostersAsync(org, cursor, limit, ct));

    private static async Task<Ok<Roster>> GetRoster(OrgContext org, Guid id, OnCallService oncall, CancellationToken ct) =>
        TypedResults.Ok(await oncall.GetRosterAsync(org, id, ct));

    private static async Task<Ok<Roster>> UpdateRoster(OrgContext org, Guid id, RosterRequest request, OnCallService oncall, CancellationToken ct) =>
        TypedResults.Ok(await oncall.UpdateRosterAsync(org, id, request, ct));

    private static async Task<NoContent> DeleteRoster(OrgContext org, Guid id, OnCallService oncall, CancellationToken ct)
    {
        await oncall.DeleteRosterAsync(org, id, ct);
        return TypedResults.NoContent();
    }

    /// <summary>Who is on call; <c>?at=</c> an ISO 8601 instant (now when left out).</summary>
    private static async Task<Ok<OnCallNow>> OnCall(OrgContext org, Guid id, string? at, OnCallService oncall, CancellationToken ct)
    {
        DateTimeOffset? when = null;
        if (at is not null)
        {
            when = DateTimeOffset.TryParse(at, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var parsed)
                ? parsed
                : throw Problems.Validation("at", "must be an ISO 8601 date and time, such as 2026-03-08T07:30:00Z.");
        }

        return TypedResults.Ok(await oncall.OnCallAsync(org, id, when, ct));
    }

    private static async Task<Created<RosterOverrideModel>> AddOverride(OrgContext org, Guid id, OverrideRequest request, OnCallService oncall, CancellationToken ct)
    {
        var created = await oncall.AddOverrideAsync(org, id, request, ct);
        return TypedResults.Created($"/api/v1/orgs/{org.Slug}/oncall/rosters/{id}/overrides/{created.Id}", created);
    }

    private static async Task<Ok<IReadOnlyList<RosterOverrideModel>>> ListOverrides(OrgContext org, Guid id, OnCallService oncall, CancellationToken ct) =>
        TypedResults.Ok(await oncall.ListOverridesAsync(org, id, ct));

    private static async Task<NoContent> DeleteOverride(OrgContext org, Guid id, Guid overrideId, OnCallService oncall, CancellationToken ct)
    {
        await oncall.DeleteOverrideAsync(org, id, overrideId, ct);
        return TypedResults.NoContent();
    }

    private static async Task<Created<EscalationPolicy>> CreatePolicy(OrgContext org, PolicyRequest request, OnCallService oncall, CancellationToken ct)
    {
        var created = await oncall.CreatePolicyAsync(org, request, ct);
        return TypedResults.Created($"/api/v1/orgs/{org.Slug}/escalation-policies/{created.Id}", created);
    }

    private static async Task<Ok<EscalationPolicyPage>> ListPolicies(OrgContext org, string? cursor, int? limit, OnCallService oncall, CancellationToken ct) =>
        TypedResults.Ok(await oncall.ListPoliciesAsync(org, cursor, limit, ct));

    private static async Task<Ok<EscalationPolicy>> GetPolicy(OrgContext org, Guid id, OnCallService oncall, CancellationToken ct) =>
        TypedResults.Ok(await oncall.GetPolicyAsync(org, id, ct));

    private static async Task<Ok<EscalationPolicy>> UpdatePolicy(OrgContext org, Guid id, PolicyRequest request, OnCallService oncall, CancellationToken ct) =>
        TypedResults.Ok(await oncall.UpdatePolicyAsync(org, id, request, ct));

    private static async Task<NoContent> DeletePolicy(OrgContext org, Guid id, OnCallService oncall, CancellationToken ct)
    {
        await oncall.DeletePolicyAsync(org, id, ct);
        return TypedResults.NoContent();
    }

    private static async Task<Created<Escalation>> Drill(OrgContext org, Guid id, HttpContext http, EscalationService escalations, CancellationToken ct)
    {
        var started = await escalations.DrillAsync(org, id, SiteUrl.Of(http), ct);
        return TypedResults.Created($"/api/v1/orgs/{org.Slug}/escalations/{started.Id}", started);
    }

    /// <summary><c>?subject=</c> a clarification, approval or drill id; <c>?timeline=true</c> includes each escalation's timeline.</summary>
    private static async Task<Ok<EscalationPage>> ListEscalations(
        OrgContext org, string? subject, string? status, bool? timeline, string? cursor, int? limit, EscalationService escalations, CancellationToken ct)
    {
        Guid? subjectId = subject is null ? null : Guid.TryParse(subject, out var parsed) ? parsed : throw Problems.Validation("subject", "must be an id.");
        return TypedResults.Ok(await escalations.ListAsync(org, subjectId, status, cursor, limit, timeline == true, ct));
    }

    private static async Task<Ok<Escalation>> GetEscalation(OrgContext org, Guid id, EscalationService escalations, CancellationToken ct) =>
        TypedResults.Ok(await escalations.GetAsync(org, id, ct));

    private static async Task<Ok<Escalation>> Acknowledge(OrgContext org, Guid id, AcknowledgeRequest request, EscalationService escalations, CancellationToken ct) =>
        TypedResults.Ok(await escalations.AcknowledgeAsync(org, id, request, ct));
}
