using Clarity.Bench.Harness;
using Npgsql;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// #5f: the database's floor under #5's loop, without Clarity. 16 workers in this process write, straight through
/// Npgsql, what a create → checkout → complete must commit at the least: the job row; its claim; its completion;
/// with an event row for each and an audit row for the create and the completion, as issues 8 and 9 require in the
/// same transactions. Minimal tables (a primary key each and the claim's partial index, against Clarity's ten indexes
/// on a task), no hashing, no HTTP. It runs twice: one lifecycle's writes per transaction (three commits per job, as
/// Clarity commits on PostgreSQL today), and four lifecycles' writes per transaction (a group commit of four). It
/// reports jobs/s, PostgreSQL's own CPU per job and the whole machine's: what no server in front of this database
/// can go below on this machine.
/// </summary>
public static class PostgresFloorBench
{
    public const string Name = "5f. The database's floor: a lifecycle's minimal writes, without Clarity";
    private const int Workers = 16;
    private static readonly Guid Org = Guid.Parse("00000000-0000-0000-0000-000000000001");

    private const string Schema = """
        CREATE TABLE jobs (id bigserial PRIMARY KEY, org_id uuid NOT NULL, queue text NOT NULL, status text NOT NULL, title text NOT NULL,
          agent text, created_at bigint NOT NULL, updated_at bigint NOT NULL) WITH (fillfactor = 80);
        CREATE INDEX jobs_claim ON jobs (queue, id) WHERE status = 'queued';
        CREATE TABLE job_events (id bigserial PRIMARY KEY, org_id uuid NOT NULL, type text NOT NULL, payload jsonb NOT NULL, created_at bigint NOT NULL);
        CREATE TABLE job_audit (id bigserial PRIMARY KEY, org_id uuid NOT NULL, action text NOT NULL, target text NOT NULL, fields jsonb NOT NULL, created_at bigint NOT NULL);
        """;

    public static async Task RunAsync(BenchOptions options, Report report)
    {
        if (options.Postgres is null)
        {
            Console.WriteLine("    (skipped: needs --postgres)");
            return;
        }

        foreach (var perCommit in new[] { 1, 4 })
        {
            var database = await BenchServer.CreatePostgresDatabaseAsync(options.Postgres, "floor_bench");
            await using (var setup = new NpgsqlConnection(database))
            {
                await setup.OpenAsync();
                await using var create = new NpgsqlCommand(Schema, setup);
                await create.ExecuteNonQueryAsync();
            }

            var postgres = await PostgresCpu.ForAsync(options.Postgres);
            long done = 0;
            var window = new MeasuredWindow();
            var workers = Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
            {
                // Prepared statements, as pgbench -M prepared: the floor should not pay for parsing.
                await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(database) { MaxAutoPrepare = 32, AutoPrepareMinUsages = 2 }.ConnectionString);
                await connection.OpenAsync();
                while (!window.Stopping)
                {
                    await LifecyclesAsync(connection, perCommit);
                    if (window.IsOpen)
                    {
                        Interlocked.Add(ref done, perCommit);
                    }
                }
            })).ToArray();
            var cpu = default(CpuMeter);
            await window.RunAsync(options, atOpen: () => cpu = new CpuMeter(postgres: postgres), atClose: () => cpu!.Stop());
            await Task.WhenAll(workers);

            var jobs = Math.Max(1, Interlocked.Read(ref done));
            var label = perCommit == 1 ? "one lifecycle per transaction" : $"{perCommit} lifecycles per transaction";
            report.Add(Name, Backend.Postgres, $"{label}: jobs/s", jobs / window.Seconds, "/s",
                notes: $"{Workers} workers over Npgsql in this process; each job: 3 transactions' worth of writes (job, claim, completion), 4 event rows, 2 audit rows; {window.Seconds:F0} s window");
            if (cpu!.PostgresCpuMs is { } postgresMs)
            {
                MeasuredWindow.ReportPostgresCpu(report, Name, Backend.Postgres, postgresMs, cpu.MachineCpuMs, jobs, "job", $"{label}: ");
            }
        }
    }

    /// <summary><paramref name="count"/> lifecycles' writes in three transactions: the creates, the claims, the completions.</summary>
    private static async Task LifecyclesAsync(NpgsqlConnection connection, int count)
    {
        var ids = new long[count];
        await using (var tx = await connection.BeginTransactionAsync())
        {
            for (var i = 0; i < count; i++)
            {
                ids[i] = (await ScalarAsync(connection, tx, "INSERT INTO jobs (org_id, queue, status, title, created_at, updated_at) VALUES ($1, 'q', 'queued', 'job', 1, 1) RETURNING id"))!.Value;
                await ExecuteAsync(connection, tx, "INSERT INTO job_events (org_id, type, payload, created_at) VALUES ($1, 'task.created', '{\"queue\":\"q\",\"status\":\"queued\",\"title\":\"job\"}', 1)");
                await ExecuteAsync(connection, tx, "INSERT INTO job_audit (org_id, action, target, fields, created_at) VALUES ($1, 'task.created', 'task', '{\"queue\":\"q\",\"title\":\"job\"}', 1)");
            }

            await tx.CommitAsync();
        }

        await using (var tx = await connection.BeginTransactionAsync())
        {
            for (var i = 0; i < count; i++)
            {
                // A job another worker claimed between this one's snapshot and its lock yields no row (the recheck sees it
                // running, SKIP LOCKED moves on to nothing): claim again, as a queue's workers do. There is always a job
                // left: every worker creates before it claims.
                long? claimed;
                while ((claimed = await ScalarAsync(connection, tx,
                    "UPDATE jobs SET status = 'running', agent = 'a', updated_at = 2 WHERE id = (SELECT id FROM jobs WHERE queue = 'q' AND status = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) AND $1 = $1 RETURNING id")) is null)
                {
                }

                ids[i] = claimed.Value;
                await ExecuteAsync(connection, tx, "INSERT INTO job_events (org_id, type, payload, created_at) VALUES ($1, 'task.claimed', '{\"status\":\"running\",\"agent\":\"a\"}', 2)");
            }

            await tx.CommitAsync();
        }

        await using (var tx = await connection.BeginTransactionAsync())
        {
            for (var i = 0; i < count; i++)
            {
                await ExecuteAsync(connection, tx, "UPDATE jobs SET status = 'succeeded', updated_at = 3 WHERE id = $2 AND $1 = $1", ids[i]);
                await ExecuteAsync(connection, tx, "INSERT INTO job_events (org_id, type, payload, created_at) VALUES ($1, 'task.succeeded', '{\"status\":\"succeeded\"}', 3)");
                await ExecuteAsync(connection, tx, "INSERT INTO job_audit (org_id, action, target, fields, created_at) VALUES ($1, 'task.completed', 'task', '{\"status\":\"succeeded\"}', 3)");
            }

            await tx.CommitAsync();
        }
    }

    private static async Task<long?> ScalarAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string sql)
    {
        await using var command = Command(connection, tx, sql, null);
        return (long?)await command.ExecuteScalarAsync();
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, long? id = null)
    {
        await using var command = Command(connection, tx, sql, id);
        await command.ExecuteNonQueryAsync();
    }

    // $1 is the org in every statement (as in Clarity's, where every row carries it); $2 a job id where one is given.
    private static NpgsqlCommand Command(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, long? id)
    {
        var command = new NpgsqlCommand(sql, connection, tx);
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = Org });
        if (id is { } value)
        {
            command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = value });
        }

        return command;
    }
}
