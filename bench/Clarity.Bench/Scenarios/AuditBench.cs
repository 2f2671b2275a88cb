using System.Data.Common;
using System.Diagnostics;
using Clarity.Bench.Harness;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Audit;
using Clarity.Storage;
using Dapper;
using Microsoft.Extensions.DependencyInjection;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// #13: the audit log on its own. 16 writers append entries through the unit of work (each change writes one entry and
/// nothing else, the audit log's share of any change) for the window. Reported: appends/s; on PostgreSQL the lag from
/// an entry's commit to its chaining by the leader (sampled every 50th entry, polled every 5 ms); the lag from the
/// chain's last entry being chained to a scheduled checkpoint covering it (checkpoints every 1,000 entries or 1 s);
/// and verification of the whole chain in entries/s.
/// </summary>
public static class AuditBench
{
    public const string Name = "13. Audit log: appends, chaining and checkpoint lag, verification";
    private const int Writers = 16;
    private const int SampleEvery = 50;

    /// <summary>Scheduled checkpoints every 1,000 entries or every second, into a folder in the server's data directory.</summary>
    public static Dictionary<string, string?> Settings(string folder)
    {
        Directory.CreateDirectory(folder);
        var key = Path.Combine(folder, "bench-audit.key");
        using (var signer = NoteSigner.Generate("bench-audit"))
        {
            File.WriteAllText(key, signer.Export() + "\n");
        }

        return new()
        {
            ["Clarity:Audit:Checkpoints:KeyFile"] = key,
            ["Clarity:Audit:Checkpoints:Folder"] = Path.Combine(folder, "checkpoints"),
            ["Clarity:Audit:Checkpoints:EveryEntries"] = "1000",
            ["Clarity:Audit:Checkpoints:EverySeconds"] = "1",
        };
    }

    public static async Task RunAsync(BenchServer server, string checkpointFolder, BenchOptions options, Report report)
    {
        var b = server.Backend;
        var services = server.Server.Services;
        var changes = services.GetRequiredService<Changes>();
        var db = services.GetRequiredService<Database>();
        Guid orgId;
        await using (var c = await db.OpenReadAsync())
        {
            orgId = await c.ExecuteScalarAsync<Guid>("SELECT id FROM orgs WHERE slug = @slug", new { slug = BenchServer.Org });
        }

        // Sampled entries: (id, the moment its change committed); the poller notes when each is first seen chained.
        var samples = new List<(long Id, long CommittedAt)>();
        var chainedAt = new Dictionary<long, long>();
        using var stop = new CancellationTokenSource();
        var poller = b == Backend.Postgres ? Task.Run(() => PollChainedAsync(db, samples, chainedAt, stop.Token)) : Task.CompletedTask;

        var cpu = new CpuMeter();
        var appended = 0L;
        var end = Stopwatch.GetTimestamp() + (long)(options.Duration.TotalSeconds * Stopwatch.Frequency);
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            for (var i = 0; Stopwatch.GetTimestamp() < end; i++)
            {
                var sample = i % SampleEvery == 0;
                var target = $"{w}-{i}";
                await changes.RunAsync(Actor.System, change =>
                {
                    change.Audit(new AuditRecord(orgId, "bench.appended", new AuditTarget("bench", target),
                        After: new AuditFields().Add("writer", w).Add("n", i).Add("note", "an entry of about the size of a task's")));
                    return Task.CompletedTask;
                });
                if (sample)
                {
                    var committed = Stopwatch.GetTimestamp();
                    var id = await IdOfAsync(db, orgId, target);
                    lock (samples)
                    {
                        samples.Add((id, committed));
                    }
                }

                Interlocked.Increment(ref appended);
            }
        })));
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var (_, process, _) = cpu.Stop();
        var rate = appended / seconds;
        report.Add(Name, b, "audit appends/s", rate, "/s", "≥ 2,000/s", rate >= 2000,
            $"{Writers} writers, one entry per change, {appended:N0} in {seconds:F1} s; server CPU {process:F0} % of one core");

        // Everything chained (at once on SQLite, by the leader's chainer on PostgreSQL): the head to checkpoint.
        var (headSeq, chainedBy) = await WaitChainedAsync(db, orgId);
        if (b == Backend.Postgres)
        {
            await Task.Delay(100);
            stop.Cancel();
            await poller;
            var lags = new Samples();
            lock (samples)
            {
                foreach (var (id, committed) in samples)
                {
                    if (chainedAt.TryGetValue(id, out var seen))
                    {
                        lags.Add(Stopwatch.GetElapsedTime(committed, seen).TotalMilliseconds);
                    }
                }
            }

            report.Add(Name, b, "commit → chained p50", lags.Percentile(50), "ms", "≤ 1 s", lags.Percentile(99) <= 1000,
                $"p99 {lags.Percentile(99):F0} ms, max {lags.Percentile(100):F0} ms over {lags.Count:N0} sampled entries (polled every 5 ms)");
        }
        else
        {
            report.Add(Name, b, "commit → chained", 0, "ms", notes: "chained inline by the writer, in the change's own transaction");
        }

        var checkpointed = await WaitCheckpointAsync(Path.Combine(checkpointFolder, "checkpoints", orgId.ToString(), "latest.checkpoint"), headSeq);
        report.Add(Name, b, "chained → checkpointed", checkpointed is { } lag ? Stopwatch.GetElapsedTime(chainedBy, lag).TotalMilliseconds : double.NaN, "ms",
            notes: checkpointed is null ? "no checkpoint covered the head within 60 s" : $"scheduled checkpoints every 1,000 entries or 1 s; head at seq {headSeq:N0}");

        var verification = services.GetRequiredService<AuditVerification>();
        var watch = Stopwatch.StartNew();
        var verdict = await verification.VerifyChainAsync(orgId, null, null, CancellationToken.None);
        watch.Stop();
        report.Add(Name, b, "verification entries/s", verdict.Entries / watch.Elapsed.TotalSeconds, "/s",
            notes: $"{verdict.Entries:N0} entries in {watch.Elapsed.TotalSeconds:F1} s, {(verdict.Intact ? "intact" : "DAMAGED")}; in-process, the same code as `clarity audit verify`");
    }

    private static async Task<long> IdOfAsync(Database db, Guid orgId, string target)
    {
        await using var c = await db.OpenReadAsync();
        return await c.ExecuteScalarAsync<long>("SELECT id FROM audit_entries WHERE chain_id = @orgId AND target_type = 'bench' AND target_id = @target", new { orgId, target });
    }

    private static async Task PollChainedAsync(Database db, List<(long Id, long CommittedAt)> samples, Dictionary<long, long> chainedAt, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        while (!ct.IsCancellationRequested)
        {
            // An entry committed before this read began and below the lowest unchained id has been chained.
            var asked = Stopwatch.GetTimestamp();
            var lowestUnchained = await c.ExecuteScalarAsync<long?>("SELECT MIN(id) FROM audit_entries WHERE seq IS NULL") ?? long.MaxValue;
            var now = Stopwatch.GetTimestamp();
            lock (samples)
            {
                foreach (var (id, committed) in samples)
                {
                    if (committed < asked && id < lowestUnchained && !chainedAt.ContainsKey(id))
                    {
                        chainedAt[id] = now;
                    }
                }
            }

            try
            {
                await Task.Delay(5, ct);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private static async Task<(long HeadSeq, long ChainedBy)> WaitChainedAsync(Database db, Guid orgId)
    {
        await using DbConnection c = await db.OpenReadAsync();
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 120;
        while (await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM audit_entries WHERE seq IS NULL") > 0 && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(5);
        }

        var chainedBy = Stopwatch.GetTimestamp();
        return (await c.ExecuteScalarAsync<long>("SELECT COALESCE(MAX(seq), 0) FROM audit_entries WHERE chain_id = @orgId", new { orgId }), chainedBy);
    }

    private static async Task<long?> WaitCheckpointAsync(string latest, long headSeq)
    {
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 60;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            try
            {
                if (File.Exists(latest) && long.TryParse((await File.ReadAllLinesAsync(latest)).ElementAtOrDefault(1), out var size) && size >= headSeq)
                {
                    return Stopwatch.GetTimestamp();
                }
            }
            catch (IOException)
            {
                // Being replaced just now: look again.
            }

            await Task.Delay(10);
        }

        return null;
    }
}
