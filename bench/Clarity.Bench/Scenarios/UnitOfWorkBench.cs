using Clarity.Bench.Harness;
using Clarity.Features.Logs;
using Clarity.Features.Tasks;
using Clarity.Hosting;
using Clarity.Hosting.Authorization;
using Clarity.Storage;
using Dapper;
using Microsoft.Extensions.DependencyInjection;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// #1u: #1's lifecycle without HTTP. 16 loops inside the server's own process call the task and log services directly
/// (create → checkout → 10 log lines → complete), as the endpoints would after authentication and JSON binding. What is
/// left is the lifecycle's own work: validation, the units of work with their events and audit entries, the database,
/// and the outbox consumers that follow. On SQLite it reports the one writer thread's CPU per lifecycle, the bound on
/// the write rate, with far less noise than #1's throughput. A tool for measuring changes to the write path, not a
/// figure with a target.
/// </summary>
public static class UnitOfWorkBench
{
    public const string Name = "1u. Lifecycles without HTTP: the task and log services called in-process (16 loops)";
    private const int Loops = 16;
    private const string Queue = "unit-of-work";

    public static async Task RunAsync(BenchServer server, BenchOptions options, Report report)
    {
        var services = server.Server.Services;
        var tasks = services.GetRequiredService<TaskService>();
        var logs = services.GetRequiredService<LogService>();
        var org = await OwnerContextAsync(services.GetRequiredService<Database>());
        var text = new LogText(1);
        var lines = Enumerable.Range(0, 10).Select(_ => new LogLineInput(null, "info", "stdout", text.Line())).ToArray();
        var window = new MeasuredWindow();
        long completed = 0;

        async Task LoopAsync(int loop)
        {
            var n = 0;
            while (!window.Stopping)
            {
                var measured = window.IsOpen;
                await tasks.CreateAsync(org, new CreateTaskRequest(Queue, $"unit of work {loop}-{n++}", null, null, null, null, null, null), CancellationToken.None);
                var leases = await tasks.CheckoutManyAsync(org, new CheckoutRequest($"agent-{loop}", [Queue], null, 5, null, null), CancellationToken.None);
                if (leases is not [var lease])
                {
                    continue;
                }

                await logs.AppendAsync(org, lease.Task.Id, lines, CancellationToken.None);
                await tasks.CompleteAsync(org, lease.Task.Id, new CompleteRequest(lease.LeaseToken, null), CancellationToken.None);
                if (measured && window.IsOpen)
                {
                    Interlocked.Increment(ref completed);
                }
            }
        }

        var loops = Enumerable.Range(0, Loops).Select(i => Task.Run(() => LoopAsync(i))).ToArray();
        await window.RunAsync(options);
        await Task.WhenAll(loops);
        var (seconds, machine, process, cpuMs) = (window.Seconds, window.MachinePercent, window.ProcessPercent, window.ProcessCpuMs);

        var b = server.Backend;
        var done = Math.Max(1, Interlocked.Read(ref completed));
        report.Add(Name, b, "lifecycles/s", done / seconds, "/s", notes: $"{seconds:F0} s window after {options.Warmup.TotalSeconds:F0} s warm-up; no HTTP");
        report.Add(Name, b, "machine CPU busy", machine, "%", notes: $"this process: {process:F0}% of {Environment.ProcessorCount} cores");
        report.Add(Name, b, "process CPU per lifecycle", cpuMs / done, "ms", notes: b == Backend.Postgres ? "PostgreSQL's own CPU not included" : "everything but HTTP");
        window.ReportWriterCpu(report, Name, b, done);
    }

    /// <summary>The bench org's owner, as the endpoints would see a signed-in owner after authentication.</summary>
    private static async Task<OrgContext> OwnerContextAsync(Database db)
    {
        await using var connection = await db.OpenReadAsync();
        var org = await connection.QuerySingleAsync<Guid>("SELECT id FROM orgs WHERE slug = @slug", new { slug = BenchServer.Org });
        var (user, role) = await connection.QuerySingleAsync<(Guid, string)>(
            "SELECT user_id, role FROM memberships WHERE org_id = @org", new { org });
        return new OrgContext(org, BenchServer.Org, new OrgRole(role, []), new Caller(user, null));
    }
}
