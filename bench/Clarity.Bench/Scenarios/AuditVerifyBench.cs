using System.Diagnostics;
using System.Text;
using Clarity.Bench.Harness;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Audit;
using Clarity.Storage;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using NpgsqlTypes;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// #13b: verification of a long chain. Seeds one org's chain with <see cref="BenchOptions.AuditVerifyEntries"/> entries
/// (1M in a full run) written as the audit log writes them — the same canonical JSON, digest and link hash — straight
/// into <c>audit_entries</c> (appending 1M entries through the unit of work would take minutes and measure #13 again),
/// then verifies the whole chain with the same code as <c>clarity audit verify</c> and reports entries/s.
/// </summary>
public static class AuditVerifyBench
{
    public const string Name = "13b. Audit log: verification of a long chain";
    private const int Batch = 10_000;

    public static async Task RunAsync(BenchServer server, BenchOptions options, Report report)
    {
        var b = server.Backend;
        var services = server.Server.Services;
        var db = services.GetRequiredService<Database>();
        var json = services.GetRequiredService<AuditEntryJson>();
        var chain = Guid.CreateVersion7();
        var total = options.AuditVerifyEntries;

        var seeding = Stopwatch.StartNew();
        // Global positions: on PostgreSQL reserved from audit_state, whose row lock the leader's chainer takes too (it may
        // still be chaining the setup's entries); on SQLite the single writer is idle here.
        var position = await db.WriteAsync((c, t) => db.Kind == DatabaseKind.Postgres
            ? c.ExecuteScalarAsync<long>("UPDATE audit_state SET last_position = last_position + @total RETURNING last_position - @total", new { total = (long)total }, t)
            : c.ExecuteScalarAsync<long>("SELECT COALESCE(MAX(position), 0) FROM audit_entries", transaction: t));

        var previous = AuditChain.Genesis.ToArray();
        var at = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - total;
        var actor = Actor.User(Guid.CreateVersion7());
        for (long seq = 1; seq <= total; seq += Batch)
        {
            var rows = new List<AuditRow>(Batch);
            for (var s = seq; s < seq + Batch && s <= total; s++)
            {
                var record = new AuditRecord(chain, AuditActions.TaskCreated, new AuditTarget("task", Guid.CreateVersion7().ToString()),
                    After: new AuditFields().Add("queue", "default").Add("title", $"Task {s}").Add("status", "queued").Add("priority", 0));
                var bytes = json.Write(record, actor, at + s, correlationId: null, client: null);
                var digest = AuditChain.Digest(bytes);
                var hash = AuditChain.Hash(previous, s, digest);
                previous = hash;
                rows.Add(new AuditRow
                {
                    ChainId = chain, Seq = s, Position = ++position, At = at + s, ActorKind = actor.KindName, ActorId = actor.Id,
                    Action = record.Action, TargetType = record.Target!.Type, TargetId = record.Target.Id,
                    Entry = Encoding.UTF8.GetString(bytes), Digest = digest, Hash = hash,
                });
            }

            await InsertAsync(db, rows);
            if (seq % 200_000 == 1 && seq > 1)
            {
                Console.WriteLine($"    seeded {seq - 1:N0} of {total:N0} entries ({seeding.Elapsed.TotalSeconds:F0} s)");
            }
        }

        seeding.Stop();
        var verification = services.GetRequiredService<AuditVerification>();
        var cpu = new CpuMeter();
        var watch = Stopwatch.StartNew();
        var verdict = await verification.VerifyChainAsync(chain, null, null, CancellationToken.None);
        watch.Stop();
        var (_, process, _) = cpu.Stop();
        report.Add(Name, b, "verification entries/s", verdict.Entries / watch.Elapsed.TotalSeconds, "/s",
            notes: $"{verdict.Entries:N0} entries in {watch.Elapsed.TotalSeconds:F1} s, {(verdict.Intact ? "intact" : "DAMAGED")}, " +
                   $"CPU {process:F0} % of one core; seeded in {seeding.Elapsed.TotalSeconds:F0} s; in-process, the same code as `clarity audit verify`");
        if (!verdict.Intact || verdict.Entries != total)
        {
            throw new InvalidOperationException($"The seeded chain did not verify: {verdict.Entries} entries, damage {verdict.Damage}.");
        }
    }

    private static Task InsertAsync(Database db, List<AuditRow> rows) =>
        db.WriteAsync(async (c, t) =>
        {
            if (c is NpgsqlConnection npgsql)
            {
                await using var copy = await npgsql.BeginBinaryImportAsync(
                    "COPY audit_entries (chain_id, seq, position, at, actor_kind, actor_id, action, target_type, target_id, entry, digest, hash) FROM STDIN (FORMAT BINARY)");
                foreach (var r in rows)
                {
                    await copy.StartRowAsync();
                    await copy.WriteAsync(r.ChainId, NpgsqlDbType.Uuid);
                    await copy.WriteAsync(r.Seq!.Value, NpgsqlDbType.Bigint);
                    await copy.WriteAsync(r.Position!.Value, NpgsqlDbType.Bigint);
                    await copy.WriteAsync(r.At, NpgsqlDbType.Bigint);
                    await copy.WriteAsync(r.ActorKind, NpgsqlDbType.Text);
                    await copy.WriteAsync(r.ActorId!.Value, NpgsqlDbType.Uuid);
                    await copy.WriteAsync(r.Action, NpgsqlDbType.Text);
                    await copy.WriteAsync(r.TargetType!, NpgsqlDbType.Text);
                    await copy.WriteAsync(r.TargetId!, NpgsqlDbType.Text);
                    await copy.WriteAsync(r.Entry!, NpgsqlDbType.Text);
                    await copy.WriteAsync(r.Digest, NpgsqlDbType.Bytea);
                    await copy.WriteAsync(r.Hash!, NpgsqlDbType.Bytea);
                }

                await copy.CompleteAsync();
                return 0;
            }

            return await c.ExecuteAsync(
                "INSERT INTO audit_entries (chain_id, seq, position, at, actor_kind, actor_id, action, target_type, target_id, entry, digest, hash) " +
                "VALUES (@ChainId, @Seq, @Position, @At, @ActorKind, @ActorId, @Action, @TargetType, @TargetId, @Entry, @Digest, @Hash)", rows, t);
        });
}
