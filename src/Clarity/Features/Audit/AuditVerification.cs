using System.Diagnostics;
using Clarity.Events;
using Clarity.Events.Audit;

namespace Clarity.Features.Audit;

/// <summary>The result of verifying one or more chains, and how fast it went.</summary>
public sealed record VerificationReport(IReadOnlyList<ChainVerdict> Chains, TimeSpan Elapsed)
{
    public bool Intact => Chains.All(c => c.Intact);

    public long Entries => Chains.Sum(c => c.Entries);

    public double EntriesPerSecond => Elapsed.TotalSeconds > 0 ? Entries / Elapsed.TotalSeconds : 0;
}

/// <summary>
/// Verifies audit chains from the database (the CLI's <c>clarity audit verify</c>, the API's <c>…/audit/verify</c>, the
/// scheduled checkpoints), records how far each verification got, and writes an <c>audit.verified</c> entry for it.
/// </summary>
public sealed class AuditVerification(AuditVerifyStore store, Changes changes, TimeProvider clock)
{
    public AuditVerifyStore Store => store;

    /// <summary>Recomputes one chain (optionally against a checkpoint, and from a known-good point); <paramref name="progress"/> hears the entries read so far.</summary>
    public async Task<ChainVerdict> VerifyChainAsync(
        Guid chainId, AuditCheckpoint? checkpoint, IProgress<long>? progress, CancellationToken ct, long startSeq = 0, byte[]? startHash = null)
    {
        var verifier = new ChainVerifier(chainId, checkpoint, startSeq, startHash);
        long n = 0;
        await foreach (var row in store.ReadChainAsync(chainId, startSeq, ct))
        {
            verifier.Add(row);
            if (++n % 10_000 == 0)
            {
                progress?.Report(n);
            }
        }

        return verifier.Finish();
    }

    /// <summary>
    /// Verifies the given chains (every chain when null), each against its checkpoint if one is given, records the
    /// outcome per chain, and audits it as <paramref name="actor"/>.
    /// </summary>
    public async Task<VerificationReport> VerifyAsync(
        IReadOnlyList<Guid>? chains, IReadOnlyDictionary<Guid, AuditCheckpoint>? checkpoints, Actor actor, Action<Guid, long>? progress, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        chains ??= await store.ChainsAsync(ct);
        var verdicts = new List<ChainVerdict>();
        foreach (var chain in chains)
        {
            var checkpoint = checkpoints?.GetValueOrDefault(chain);
            verdicts.Add(await VerifyChainAsync(chain, checkpoint, progress is null ? null : new Progress(chain, progress), ct));
        }

        watch.Stop();
        await RecordAsync(verdicts, actor, ct);
        return new VerificationReport(verdicts, watch.Elapsed);
    }

    private async Task RecordAsync(IReadOnlyList<ChainVerdict> verdicts, Actor actor, CancellationToken ct)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var v in verdicts)
        {
            await store.RecordVerifiedAsync(v.ChainId, v.VerifiedSeq, v.Damage is { } d ? Name(d) : null, now, ct);
        }

        await changes.RunAsync(actor, change =>
        {
            foreach (var v in verdicts)
            {
                change.Audit(new AuditRecord(
                    v.ChainId == AuditChain.InstanceChain ? null : v.ChainId,
                    AuditActions.AuditVerified,
                    new AuditTarget("audit_chain", v.ChainId),
                    After: new AuditFields()
                        .Add("intact", v.Intact)
                        .Add("entries", v.Entries)
                        .Add("verifiedSeq", v.VerifiedSeq)
                        .Add("damage", v.Damage is { } d ? Name(d) : null)
                        .Add("firstBadSeq", v.FirstBadSeq)
                        .Add("checkpointSize", v.CheckpointSize)));
            }

            return Task.CompletedTask;
        }, ct);
    }

    public static string Name(ChainDamage damage) => damage.ToString().ToLowerInvariant();

    private sealed class Progress(Guid chain, Action<Guid, long> report) : IProgress<long>
    {
        public void Report(long value) => report(chain, value);
    }
}
