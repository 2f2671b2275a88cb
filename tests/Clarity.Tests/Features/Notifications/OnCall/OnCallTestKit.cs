using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Events;
using Clarity.Features.Notifications.OnCall;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Clarity.Tests.Features.Notifications.OnCall;

/// <summary>Helpers for the on-call tests: a fake clock for the on-call services, rosters, policies and escalations.</summary>
public static class OnCallTestKit
{
    public static readonly DateTimeOffset Epoch = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>Puts the host's on-call services on a fake clock (shared by every node given the same one).</summary>
    public static FakeTimeProvider UseFakeClock(this ClarityHost host, FakeTimeProvider? clock = null)
    {
        clock ??= new FakeTimeProvider(Epoch);
        host.Services.GetRequiredService<OnCallClock>().Use(clock);
        return clock;
    }

    /// <summary>Runs the escalation sweep on this host now (the leader's sweeper also runs it in the background).</summary>
    public static Task<int> SweepEscalationsAsync(this ClarityHost host) =>
        host.Services.GetRequiredService<EscalationService>().SweepAsync(CancellationToken.None);

    public static async Task<Guid> OrgIdAsync(this ClarityHost host, OrgSession org)
    {
        using var owner = host.CreateClient(org.OwnerToken);
        return Guid.Parse((await owner.GetAsync(org.Api("").TrimEnd('/')).ExpectAsync(HttpStatusCode.OK)).Str("id"));
    }

    public static async Task<string> CreateRosterAsync(this HttpClient admin, OrgSession org, IEnumerable<Guid> members, string handoff = "daily", string time = "09:00", string zone = "Etc/UTC", string start = "2026-03-01") =>
        (await admin.PostAsJsonAsync(org.Api("oncall/rosters"), new { name = Work.Unique("roster"), timeZone = zone, handoff, handoffTime = time, startDate = start, members })
            .ExpectAsync(HttpStatusCode.Created)).Str("id");

    public static async Task<string> CreatePolicyAsync(this HttpClient admin, OrgSession org, object[] levels, object? fallback = null, int repeat = 0) =>
        (await admin.PostAsJsonAsync(org.Api("escalation-policies"), new { name = Work.Unique("policy"), levels, repeat, fallback })
            .ExpectAsync(HttpStatusCode.Created)).Str("id");

    public static object Level(int delayMinutes, IEnumerable<string>? rosters = null, IEnumerable<Guid>? users = null) =>
        new { targets = new { rosters = rosters ?? [], users = users ?? [] }, delayMinutes };

    /// <summary>Starts an escalation the way the notification core does: inside a unit of work, through the service.</summary>
    public static async Task<Guid> StartEscalationAsync(this ClarityHost host, Guid orgId, string policyId, string subjectKind, Guid subjectId, string correlationId)
    {
        var escalations = host.Services.GetRequiredService<EscalationService>();
        var row = await host.Services.GetRequiredService<Changes>().RunAsync(Actor.System, change =>
            escalations.StartAsync(change, orgId, Guid.Parse(policyId), new EscalationSubject(subjectKind, subjectId), correlationId));
        return row.Id;
    }

    public static Task<JsonElement> GetEscalationAsync(this HttpClient client, OrgSession org, Guid id) =>
        client.GetAsync(org.Api($"escalations/{id}")).ExpectAsync(HttpStatusCode.OK);

    public static IReadOnlyList<JsonElement> Timeline(this JsonElement escalation) => [.. escalation.GetProperty("timeline").EnumerateArray()];

    public static IReadOnlyList<Guid> Recipients(this JsonElement entry) => [.. entry.GetProperty("recipients").EnumerateArray().Select(r => r.GetGuid())];

    /// <summary>The escalation's outbox events: (kind of step, the event row's correlation id, the payload's escalation correlation id).</summary>
    public static async Task<IReadOnlyList<(string Step, string? RowCorrelation, string Linked)>> EscalationEventsAsync(this ClarityHost host, Guid escalationId)
    {
        var db = host.Services.GetRequiredService<Database>();
        await using var c = await db.OpenReadAsync(CancellationToken.None);
        var rows = await c.QueryAsync<(string Payload, string? Correlation)>(
            "SELECT payload, correlation_id FROM events WHERE kind = 'escalation' ORDER BY id");
        return [.. rows
            .Select(r => (Json: JsonDocument.Parse(r.Payload).RootElement, r.Correlation))
            .Where(r => r.Json.GetProperty("escalationId").GetGuid() == escalationId)
            .Select(r => (r.Json.Str("step"), r.Correlation, r.Json.Str("escalationCorrelationId")))];
    }
}
