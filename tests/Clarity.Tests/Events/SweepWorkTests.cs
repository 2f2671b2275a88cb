using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Tasks;
using Clarity.Hosting.Compliance;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.Compliance.Redaction;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Events;

/// <summary>
/// The background sweeps (task deadlines and leases and the stream's retention every second, the audit log's retention
/// every ten minutes) must cost about what they change, not what the tables hold: work counted per statement
/// (<see cref="StatementWork"/>) over <see cref="Journal"/> rows, under the plan each backend actually uses for a
/// prepared statement.
/// </summary>
public abstract class SweepWorkTests(Backend backend) : IAsyncLifetime
{
    private const int Journal = 20_000;

    /// <summary>The first row's creation time (epoch ms); row i is created at <c>Epoch + i</c> and has seq i + 1.</summary>
    private const long Epoch = 1_700_000_000_000;

    /// <summary>
    /// The most work a statement may do to read the few rows it needs among <see cref="Journal"/>: SQLite's
    /// virtual-machine steps (a walk of the table is 60,000-100,000), PostgreSQL's buffers (a walk is 300 or more).
    /// </summary>
    private long ScanLimit => backend == Backend.Sqlite ? 3_000 : 50;

    private Database _db = null!;
    private string _dir = null!;

    public async Task InitializeAsync()
    {
        _dir = TestDatabases.NewTempDirectory();
        _db = await MigratedDatabases.CreateAsync(backend, _dir);
    }

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        TestDatabases.DeleteDirectory(_dir);
    }

    [Theory]
    [InlineData("timed out")]
    [InlineData("lease expired")]
    public async Task TaskSweep_ReadsTheRunningTasksOnly_NotEveryTask(string sweep)
    {
        await SeedTasksAsync(running: 16);

        var sql = sweep == "timed out" ? TaskStore.TimedOutSql : TaskStore.LeaseExpiredSql;
        var due = await MeasureAsync($"SELECT id FROM tasks WHERE {sql}", ("now", Epoch));

        Assert.True(due.Work < ScanLimit, $"Finding the {sweep} tasks among {Journal:N0} (16 running) did {due.Work} units of work: {due.Plan}");
    }

    [Fact]
    public async Task StreamPrune_WithNoEventOldEnough_ReadsOneEnd_OfTheIndex_NotTheJournal()
    {
        await SeedEventsAsync();

        var check = await MeasureAsync(EventLog.OldestEventSql);

        Assert.True(check.Work < 100, $"The check did {check.Work} units of work over {Journal:N0} events: {check.Plan}");
        Assert.Equal(0, await new EventLog(_db).PruneAsync(Epoch, CancellationToken.None));
        Assert.Equal(Journal, await CountAsync("events"));
    }

    [Fact]
    public async Task StreamPrune_OfTheOldestEvents_ReadsAboutAsManyEventsAsItDeletes()
    {
        await SeedEventsAsync();

        // 100 events are older than the cutoff; the other 19,900 are retained and must not be read.
        var through = await MeasureAsync(EventLog.PruneThroughSql, ("cutoff", Epoch + 100), ("batch", EventLog.PruneBatch));

        Assert.True(through.Work < ScanLimit, $"Finding how far to prune 100 of {Journal:N0} events did {through.Work} units of work: {through.Plan}");
    }

    [Fact]
    public async Task StreamPrune_DeletesEveryEventBeforeTheCutoff_InBatches_AndRecordsWhereItStopped()
    {
        await SeedEventsAsync();

        var deleted = await new EventLog(_db).PruneAsync(Epoch + 1_000, batch: 300, CancellationToken.None);

        Assert.Equal(1_000, deleted);
        Assert.Equal(Journal - 1_000, await CountAsync("events"));
        await using var c = await _db.OpenReadAsync();
        Assert.Equal(1_001, await c.ExecuteScalarAsync<long>("SELECT MIN(seq) FROM events"));
        Assert.Equal(1_000, await c.ExecuteScalarAsync<long>("SELECT pruned_through FROM event_state"));
    }

    [Fact]
    public async Task StreamPrune_StopsAtADurableConsumer_ThatHasNotReadPastTheCutoff()
    {
        await SeedEventsAsync();
        await _db.WriteAsync((c, t) => c.ExecuteAsync("INSERT INTO consumer_cursors (name, seq, updated_at) VALUES ('slow', 250, 0)", transaction: t));

        var deleted = await new EventLog(_db).PruneAsync(Epoch + 1_000, batch: 300, CancellationToken.None);

        Assert.Equal(250, deleted);
        await using var c = await _db.OpenReadAsync();
        Assert.Equal(251, await c.ExecuteScalarAsync<long>("SELECT MIN(seq) FROM events"));
        Assert.Equal(250, await c.ExecuteScalarAsync<long>("SELECT pruned_through FROM event_state"));
    }

    [Fact]
    public async Task AuditPrune_WithNoEntryOldEnough_ReadsOneEnd_OfTheIndex_NotTheEntries()
    {
        await SeedAuditAsync(whole: Journal);

        var check = await MeasureAsync(AuditLog.OldestWholeEntrySql);
        var batch = await MeasureAsync(AuditLog.PrunedEntriesSql, ("cutoff", Epoch), ("max", 5_000));

        Assert.True(check.Work < 100, $"The check did {check.Work} units of work over {Journal:N0} entries: {check.Plan}");
        Assert.True(batch.Work < 100, $"Finding no entry to prune among {Journal:N0} did {batch.Work} units of work: {batch.Plan}");
        Assert.Equal(0, await NewAuditLog().PruneAsync(Epoch, Epoch + Journal, 5_000, CancellationToken.None));
    }

    [Fact]
    public async Task AuditPrune_AmongTombstones_FindsTheOldWholeEntries_WithoutWalkingTheTombstones()
    {
        // The first 19,900 entries were pruned long ago (their payloads are gone); the last 100 are whole, 50 of them old.
        await SeedAuditAsync(whole: 100);

        var check = await MeasureAsync(AuditLog.OldestWholeEntrySql);
        var batch = await MeasureAsync(AuditLog.PrunedEntriesSql, ("cutoff", Epoch + Journal - 50), ("max", 5_000));

        Assert.True(check.Work < 100, $"The check did {check.Work} units of work over {Journal:N0} entries: {check.Plan}");
        Assert.True(batch.Work < ScanLimit, $"Finding 50 entries to prune among {Journal:N0} did {batch.Work} units of work: {batch.Plan}");
        var pruned = await NewAuditLog().PruneAsync(Epoch + Journal - 50, Epoch + Journal, 5_000, CancellationToken.None);
        Assert.Equal(50, pruned);
        Assert.Equal(50, await CountAsync("audit_entries", "entry IS NOT NULL"));
    }

    private AuditLog NewAuditLog() =>
        new(_db, new AuditEntryJson(new ServiceCollection().AddClarityRedaction().BuildServiceProvider().GetRequiredService<IRedactorProvider>()));

    private async Task<StatementWork> MeasureAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var c = await _db.OpenReadAsync();
        return await StatementWork.MeasureAsync(c, sql, parameters);
    }

    private async Task<long> CountAsync(string table, string where = "1 = 1")
    {
        await using var c = await _db.OpenReadAsync();
        return await c.ExecuteScalarAsync<long>($"SELECT COUNT(*) FROM {table} WHERE {where}");
    }

    /// <summary>Row numbers 0 to <see cref="Journal"/> − 1 as <c>i</c>, to insert from.</summary>
    private string Numbers => backend == Backend.Sqlite
        ? $"(WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {Journal - 1}) SELECT i FROM n) AS n"
        : $"generate_series(0, {Journal - 1}) AS i";

    /// <summary>The one org id the rows belong to, as a literal of the backend's type.</summary>
    private string Org => backend == Backend.Sqlite ? "'00000000-0000-0000-0000-000000000001'" : "'00000000-0000-0000-0000-000000000001'::uuid";

    /// <summary>A journal of <see cref="Journal"/> sequenced events, one a millisecond, then statistics as autovacuum would leave them.</summary>
    private async Task SeedEventsAsync()
    {
        await _db.WriteAsync(async (c, t) =>
        {
            await c.ExecuteAsync(
                $"INSERT INTO events (org_id, topic, kind, payload, created_at, seq) SELECT {Org}, 'tasks', 'task.created', '{{}}', @epoch + i, i + 1 FROM {Numbers}",
                new { epoch = Epoch }, t);
            await c.ExecuteAsync("UPDATE event_state SET last_seq = @last", new { last = Journal }, t);

            // The durable consumers the migrations register (webhooks and the rest) have read it all.
            return await c.ExecuteAsync("UPDATE consumer_cursors SET seq = @last", new { last = Journal }, t);
        });
        await AnalyzeAsync();
    }

    /// <summary><see cref="Journal"/> tasks of one org, all finished but the newest <paramref name="running"/>, whose leases and deadlines are far off.</summary>
    private async Task SeedTasksAsync(int running)
    {
        var id = backend == Backend.Sqlite ? "lower(hex(randomblob(16)))" : "gen_random_uuid()";
        await _db.WriteAsync(async (c, t) =>
        {
            await c.ExecuteAsync($"INSERT INTO orgs (id, slug, name, created_at) VALUES ({Org}, 'acme', 'Acme', 0)", transaction: t);
            return await c.ExecuteAsync(
                "INSERT INTO tasks (id, org_id, queue, title, status, max_attempts, timeout_seconds, lease_expires_at, deadline_at, created_at, updated_at) " +
                $"SELECT {id}, {Org}, 'default', 'task', CASE WHEN i >= @finished THEN 'running' ELSE 'succeeded' END, 3, 3600, " +
                $"CASE WHEN i >= @finished THEN @far END, CASE WHEN i >= @finished THEN @far END, @epoch + i, @epoch + i FROM {Numbers}",
                new { finished = Journal - running, far = Epoch * 2, epoch = Epoch }, t);
        });
        await AnalyzeAsync();
    }

    /// <summary><see cref="Journal"/> chained audit entries, one a millisecond, all but the newest <paramref name="whole"/> pruned.</summary>
    private async Task SeedAuditAsync(int whole)
    {
        var bytes = backend == Backend.Sqlite ? "x'00'" : "'\\x00'::bytea";
        await _db.WriteAsync((c, t) => c.ExecuteAsync(
            "INSERT INTO audit_entries (chain_id, seq, position, at, actor_kind, action, entry, digest, hash) " +
            $"SELECT {Org}, i + 1, i + 1, @epoch + i, 'user', 'task.create', CASE WHEN i >= @pruned THEN '{{}}' END, {bytes}, {bytes} FROM {Numbers}",
            new { epoch = Epoch, pruned = Journal - whole }, t));
        await AnalyzeAsync();
    }

    private async Task AnalyzeAsync()
    {
        await using var c = await _db.OpenReadAsync();
        if (backend == Backend.Postgres)
        {
            await c.ExecuteAsync("ANALYZE events; ANALYZE audit_entries; ANALYZE tasks");
        }
    }
}

public sealed class SqliteSweepWorkTests() : SweepWorkTests(Backend.Sqlite);

public sealed class PostgresSweepWorkTests() : SweepWorkTests(Backend.Postgres);
