using System.Text;
using Clarity.Events.Audit;
using Clarity.Hosting;
using Dapper;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Audit;

/// <summary>Takes checkpoints of audit chains (the caller signs them): only of a chain that verifies, and records the last one per chain.</summary>
public sealed class AuditCheckpoints(AuditVerification verification, AuditVerifyStore store, TimeProvider clock)
{
    /// <summary>
    /// Verifies the chain (from <paramref name="from"/>, a head already verified, or from the start) and returns a checkpoint
    /// of its head; null with the verdict when the chain is damaged.
    /// </summary>
    public async Task<(AuditCheckpoint? Checkpoint, ChainVerdict Verdict)> TakeAsync(
        Guid chainId, string? orgSlug, CancellationToken ct, ChainHead? from = null)
    {
        var verdict = await verification.VerifyChainAsync(chainId, null, null, ct, from?.Seq ?? 0, from?.Hash);
        if (!verdict.Intact)
        {
            return (null, verdict);
        }

        var checkpoint = new AuditCheckpoint(chainId, verdict.VerifiedSeq, verdict.Head, clock.GetUtcNow(), orgSlug);
        await store.RecordCheckpointAsync(chainId, checkpoint.Size, checkpoint.Hash, checkpoint.Time.ToUnixTimeMilliseconds(), ct);
        return (checkpoint, verdict);
    }
}

/// <summary>
/// Scheduled checkpoints (leader only; <see cref="AuditCheckpointOptions"/>): every second it looks at the entries
/// chained since its last look, and checkpoints each chain that has grown by <c>EveryEntries</c>, or at all when
/// <c>EverySeconds</c> have passed since its last checkpoint. Each checkpoint is verified incrementally from the previous
/// one this node took (the first one from seq 1), signed with the key file, and written to a folder and/or POSTed to a
/// URL: places out of reach of someone who can only write to the database.
/// </summary>
public sealed partial class CheckpointLoop(
    IOptions<AuditCheckpointOptions> options, AuditCheckpoints checkpoints, AuditVerifyStore store, IHttpClientFactory http,
    TimeProvider clock, Leadership leadership, ILogger<CheckpointLoop> logger)
    : BackgroundLoop(leadership, logger)
{
    private readonly Dictionary<Guid, (ChainHead Head, DateTimeOffset At)> _last = [];
    private readonly Dictionary<Guid, long> _grown = [];
    private long _position;
    private NoteSigner? _signer;

    protected override string Name => "audit checkpoints";

    protected override TimeSpan Interval => TimeSpan.FromSeconds(1);

    protected override async Task<bool> RunOnceAsync(CancellationToken ct)
    {
        var o = options.Value;
        if (!o.Enabled)
        {
            return false;
        }

        _signer ??= NoteSigner.Parse(await File.ReadAllTextAsync(o.KeyFile!, ct));
        await using (var c = await store.Database.OpenReadAsync(ct))
        {
            var grown = await c.QueryAsync<(Guid ChainId, long Seq, long Position)>(new CommandDefinition(
                "SELECT chain_id, MAX(seq), MAX(position) FROM audit_entries WHERE position > @position GROUP BY chain_id",
                new { position = _position }, cancellationToken: ct));
            foreach (var (chain, seq, position) in grown)
            {
                _grown[chain] = seq;
                _position = Math.Max(_position, position);
            }
        }

        var now = clock.GetUtcNow();
        Dictionary<Guid, string>? slugs = null;
        foreach (var (chain, seq) in _grown.ToList())
        {
            var (head, at) = _last.TryGetValue(chain, out var last) ? last : (new ChainHead(chain, 0, AuditChain.Genesis.ToArray()), DateTimeOffset.MinValue);
            if (seq <= head.Seq || (seq - head.Seq < o.EveryEntries && now - at < TimeSpan.FromSeconds(o.EverySeconds)))
            {
                continue;
            }

            slugs ??= (await store.OrgSlugsAsync(ct)).ToDictionary();
            var (checkpoint, verdict) = await checkpoints.TakeAsync(chain, slugs.GetValueOrDefault(chain), ct, head.Seq > 0 ? head : null);
            if (checkpoint is null)
            {
                Log.Damaged(logger, chain, AuditVerification.Name(verdict.Damage!.Value), verdict.FirstBadSeq ?? 0, verdict.Detail ?? "");
                _grown.Remove(chain);
                continue;
            }

            await PublishAsync(o, checkpoint, checkpoint.Sign(_signer), ct);
            _last[chain] = (new ChainHead(chain, checkpoint.Size, checkpoint.Hash), checkpoint.Time);
            Log.Taken(logger, chain, checkpoint.Size);
        }

        return false;
    }

    private async Task PublishAsync(AuditCheckpointOptions o, AuditCheckpoint checkpoint, string note, CancellationToken ct)
    {
        if (!string.IsNullOrWhiteSpace(o.Folder))
        {
            var folder = Path.Combine(o.Folder, checkpoint.ChainId.ToString("D"));
            Directory.CreateDirectory(folder);
            await File.WriteAllTextAsync(Path.Combine(folder, $"{checkpoint.Size:D12}.checkpoint"), note, ct);
            var latest = Path.Combine(folder, "latest.checkpoint");
            await File.WriteAllTextAsync(latest + ".tmp", note, ct);
            File.Move(latest + ".tmp", latest, overwrite: true);
        }

        if (!string.IsNullOrWhiteSpace(o.Url))
        {
            using var client = http.CreateClient(nameof(CheckpointLoop));
            using var content = new StringContent(note, Encoding.UTF8, "text/plain");
            using var response = await client.PostAsync(o.Url, content, ct);
            response.EnsureSuccessStatusCode();
        }
    }

    public override void Dispose()
    {
        _signer?.Dispose();
        base.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Audit checkpoint of chain {Chain} at seq {Seq}")]
        public static partial void Taken(ILogger logger, Guid chain, long seq);

        [LoggerMessage(2, LogLevel.Error, "Audit chain {Chain} is damaged ({Damage} at seq {Seq}: {Detail}); no checkpoint taken")]
        public static partial void Damaged(ILogger logger, Guid chain, string damage, long seq, string detail);
    }
}
