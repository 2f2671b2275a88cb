namespace Clarity.Client;

/// <summary>On-call: escalation policies, escalations and drills.</summary>
public sealed partial class ClarityClient
{
    public Task<EscalationPolicyPage> ListEscalationPoliciesAsync(string? cursor = null, int? limit = null, CancellationToken ct = default) =>
        SendAsync<EscalationPolicyPage>(HttpMethod.Get, OrgPath("/escalation-policies") + Query(("cursor", cursor), ("limit", Number(limit))), null, ct);

    /// <summary>Starts a drill of the policy: a clearly marked test page through its chain.</summary>
    public Task<Escalation> StartDrillAsync(Guid policyId, CancellationToken ct = default) =>
        SendAsync<Escalation>(HttpMethod.Post, OrgPath($"/escalation-policies/{policyId}/drill"), null, ct);

    /// <summary>The escalation with its timeline.</summary>
    public Task<Escalation> GetEscalationAsync(Guid id, CancellationToken ct = default) =>
        SendAsync<Escalation>(HttpMethod.Get, OrgPath($"/escalations/{id}"), null, ct);

    /// <summary>Acknowledges the escalation (<paramref name="via"/>: where the acknowledgement came from, api by default).</summary>
    public Task<Escalation> AcknowledgeEscalationAsync(Guid id, string? via = null, CancellationToken ct = default) =>
        SendAsync<Escalation>(HttpMethod.Post, OrgPath($"/escalations/{id}/acknowledge"), new { via }, ct);
}

public sealed record EscalationPolicySummary(Guid Id, string Name, int Repeat);

public sealed record EscalationPolicyPage(IReadOnlyList<EscalationPolicySummary> Items, string? NextCursor);

public sealed record EscalationTimelineEntry(DateTimeOffset At, string Kind, int Level, IReadOnlyList<Guid> Recipients, string? Detail);

public sealed record Escalation(
    Guid Id, Guid PolicyId, string PolicyName, string Subject, Guid SubjectId, string CorrelationId, DateTimeOffset StartedAt, int LevelReached,
    DateTimeOffset? NextAt, string Status, Guid? AcknowledgedBy, string? AcknowledgedByName, DateTimeOffset? AcknowledgedAt, string? AcknowledgedVia,
    bool IsDrill, IReadOnlyList<EscalationTimelineEntry>? Timeline);
