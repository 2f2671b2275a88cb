using Clarity.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Audit;

/// <summary>The last checkpoint recorded for a chain (its size and time).</summary>
public sealed record AuditCheckpointInfo(long Seq, DateTimeOffset At);

/// <summary>The answer of <c>GET …/audit/verify</c>.</summary>
public sealed record AuditVerifyResponse(
    bool Intact,
    long Entries,
    long LastSeq,
    long VerifiedSeq,
    string Head,
    string? Damage,
    long? FirstBadSeq,
    string? Detail,
    AuditCheckpointInfo? Checkpoint,
    double ElapsedMs,
    double EntriesPerSecond,
    IReadOnlyList<string> Unseen);

public static class AuditVerifyEndpoints
{
    public static IServiceCollection AddAuditVerification(this IServiceCollection services)
    {
        services.AddSingleton<AuditVerifyStore>();
        services.AddSingleton<AuditVerification>();
        services.AddSingleton<AuditCheckpoints>();
        services.AddHttpClient(nameof(CheckpointLoop)).ConfigureHttpClient(c => c.Timeout = TimeSpan.FromSeconds(30));
        services.AddSingleton<IValidateOptions<AuditCheckpointOptions>, AuditCheckpointOptionsValidator>();
        services.AddOptions<AuditCheckpointOptions>().BindConfiguration(AuditCheckpointOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<SiemOptions>().BindConfiguration(SiemOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<CheckpointLoop>();
        services.AddHostedService(sp => sp.GetRequiredService<CheckpointLoop>());
        services.AddSingleton<SiemForwarder>();
        services.AddHostedService(sp => sp.GetRequiredService<SiemForwarder>());
        return services;
    }

    public static IEndpointRouteBuilder MapAuditVerifyEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/orgs/{org}/audit").WithTags("Audit");
        group.MapGet("/verify", Verify).RequirePermission(Permissions.AuditRead);
        return app;
    }

    /// <summary>
    /// Recomputes the org's chain, against the last checkpoint recorded in the database (which catches a careless
    /// truncation; only a checkpoint kept outside the database, given to <c>clarity audit verify</c>, proves more), and audits the run.
    /// </summary>
    private static async Task<Ok<AuditVerifyResponse>> Verify(OrgContext org, AuditVerification verification, CancellationToken ct)
    {
        var state = await verification.Store.StateAsync(org.OrgId, ct);
        var checkpoint = state is { CheckpointSeq: { } seq, CheckpointHash: { Length: 32 } hash, CheckpointAt: { } at }
            ? new AuditCheckpoint(org.OrgId, seq, hash, at, org.Slug)
            : null;
        var report = await verification.VerifyAsync([org.OrgId], checkpoint is null ? null : new Dictionary<Guid, AuditCheckpoint> { [org.OrgId] = checkpoint },
            org.Caller.Actor, null, ct);
        var v = report.Chains[0];
        return TypedResults.Ok(new AuditVerifyResponse(
            v.Intact, v.Entries, v.LastSeq, v.VerifiedSeq, Convert.ToBase64String(v.Head),
            v.Damage is { } d ? AuditVerification.Name(d) : null, v.FirstBadSeq, v.Detail,
            checkpoint is null ? null : new AuditCheckpointInfo(checkpoint.Size, checkpoint.Time),
            report.Elapsed.TotalMilliseconds, report.EntriesPerSecond,
            checkpoint is null ? ["truncated", "recomputed"] : []));
    }
}
