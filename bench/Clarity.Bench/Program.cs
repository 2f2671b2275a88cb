using System.Runtime.InteropServices;
using Clarity.Bench.Harness;
using Clarity.Bench.Scenarios;

if (args is [FloorServer.Command])
{
    return await FloorServer.RunAsync();
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

var report = new Report();
report.Environment["date"] = DateTimeOffset.UtcNow.ToString("u");
report.Environment["cores"] = Environment.ProcessorCount;
report.Environment["os"] = RuntimeInformation.OSDescription;
report.Environment["runtime"] = RuntimeInformation.FrameworkDescription;
report.Environment["quick"] = options.Quick;
report.Environment["backends"] = string.Join(",", options.Backends);
Console.WriteLine($"Clarity.Bench: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}, " +
    $"{(options.Quick ? "QUICK mode" : "full mode")}, backends {string.Join(", ", options.Backends)}");

var failures = 0;

// The warm-up's duration and its discarded figures (see the JIT warm-up below).
var warm = options.WithDurations(TimeSpan.Zero, options.Quick ? TimeSpan.FromSeconds(3) : TimeSpan.FromSeconds(15));
var discard = new Report { Quiet = true };

// A failing scenario is reported and the run goes on, so one problem does not lose the other figures.
async Task GuardAsync(string title, Func<Task> run)
{
    try
    {
        await run();
    }
    catch (Exception ex)
    {
        failures++;
        Console.Error.WriteLine($"!! {title} failed: {ex}");
    }
}

// serverProcess: with --server-process, the server is its own process (the scenarios that pass serverProcess: true). Its JIT has not run
// the hot paths yet, so it first runs lifecycles, unreported, until its JIT has settled (Harness/JitWarmUp.cs).
async Task OnEachBackendAsync(string title, Func<BenchServer, Task> run, IDictionary<string, string?>? settings = null, bool serverProcess = false, string? alwaysOwnProcess = null,
    bool warmUp = true)
{
    var dll = alwaysOwnProcess ?? (serverProcess ? options.ServerProcessDll : null);
    foreach (var backend in options.Backends)
    {
        Console.WriteLine($"\n== {title} — {backend}{(dll is null ? "" : ", server in its own process")}");
        await GuardAsync($"{title} — {backend}", async () =>
        {
            await using var server = await BenchServer.StartAsync(backend, options.Postgres, options.PostgresSetupSql, settings, dll);
            if (dll is not null && warmUp)
            {
                await WarmUpServerAsync(server, "lifecycles", length => LifecycleBench.RunAsync(server, options.WithDurations(TimeSpan.Zero, length), discard));
            }

            await run(server);
        });
    }
}

// A server process of its own runs `work` in slices until its JIT has settled: at least the fixed warm-up's 15 s (3 s quick), at most 2 min
// (15 s quick).
// Then, on PostgreSQL, it analyzes the database, as autovacuum would have by then on a server that has been running a while.
async Task WarmUpServerAsync(BenchServer server, string what, Func<TimeSpan, Task> work)
{
    await JitWarmUp.RunAsync(server, work, sliceLength: TimeSpan.FromSeconds(options.Quick ? 1 : 5), atLeast: warm.Duration,
        atMost: TimeSpan.FromSeconds(options.Quick ? 15 : 120), what);
    if (server.Database is not null)
    {
        Console.WriteLine($"   ANALYZE of the server's database after the warm-up: {(await server.AnalyzeAsync()).TotalMilliseconds:0} ms");
    }
}

// JIT warm-up for the whole process: a long-running server has long since compiled (and tiered up) its hot paths,
// and the code compiled here is shared by every server this process starts later. Nothing here is reported.
await OnEachBackendAsync("JIT warm-up (not reported)", async s =>
{
    await LifecycleBench.RunAsync(s, warm, discard);
    await IngestBench.RunAsync(s, warm, discard);
});

if (options.Scenarios.Contains("lifecycle"))
{
    await OnEachBackendAsync(LifecycleBench.Name, s => LifecycleBench.RunAsync(s, options, report), serverProcess: true);
}

if (options.Scenarios.Contains("unit-of-work"))
{
    await OnEachBackendAsync(UnitOfWorkBench.Name, s => UnitOfWorkBench.RunAsync(s, options, report));
}

if (options.Scenarios.Contains("floor"))
{
    // #1's floor: the same load generator against a bare ASP.NET Core app with its tasks in memory (FloorServer).
    Console.WriteLine($"\n== {LifecycleBench.FloorName} — in-memory floor server in its own process");
    await GuardAsync(LifecycleBench.FloorName, async () =>
    {
        await using var floor = await BenchServer.StartFloorAsync();
        await LifecycleBench.RunAsync(floor, warm, discard);
        await LifecycleBench.RunAsync(floor, options, report);
    });

    // …and one GET on Clarity's own request path, the server in its own process whatever --server-process says.
    await OnEachBackendAsync(RequestPathBench.Name, s => RequestPathBench.RunAsync(s, options, report), alwaysOwnProcess: BenchOptions.ClarityDll("the floor scenario"));
}

if (options.Scenarios.Contains("memory"))
{
    // The server in its own process (its RSS alone) and fresh: idle means no load has run on it yet.
    foreach (var step in Enum.GetValues<MemoryBench.Step>())
    {
        await OnEachBackendAsync(MemoryBench.Name, s => MemoryBench.RunAsync(s, options, report, step), alwaysOwnProcess: BenchOptions.ClarityDll("the memory scenario"), warmUp: false);
    }
}

if (options.Scenarios.Contains("ingest"))
{
    await OnEachBackendAsync(IngestBench.Name, async s =>
    {
        if (s.ServerProcessId is not null)
        {
            // A server process of its own has compiled the lifecycle's paths (the warm-up), not yet those of 500-line appends.
            await WarmUpServerAsync(s, "500-line appends", length => IngestBench.RunAsync(s, options.WithDurations(TimeSpan.Zero, length), discard));
        }

        await IngestBench.RunAsync(s, options, report);
    }, serverProcess: true);
}

if (options.Scenarios.Contains("search"))
{
    await OnEachBackendAsync(SearchBench.Name, s => SearchBench.RunAsync(s, options, report));
}

if (options.Scenarios.Contains("isolation"))
{
    await OnEachBackendAsync(SearchIsolationBench.Name, s => SearchIsolationBench.RunAsync(s, options, report));
}

if (options.Scenarios.Contains("latency"))
{
    await OnEachBackendAsync(CheckoutLatencyBench.Name, s => CheckoutLatencyBench.RunAsync(s, options, report), serverProcess: true);
}

if (options.Scenarios.Contains("mcp"))
{
    await OnEachBackendAsync(McpAskBench.Name, s => McpAskBench.RunAsync(s, options, report));
}

if (options.Scenarios.Contains("peer"))
{
    Console.WriteLine($"\n== {PeerBench.Name} — the peers on PostgreSQL");
    var peers = options.Backends.Contains(Backend.Postgres) ? await PeerBench.RunPeersAsync(options, report, GuardAsync) : [];
    await OnEachBackendAsync(PeerBench.Name, s => PeerBench.RunClarityAsync(s, options, report, peers), serverProcess: true);
}

if (options.Scenarios.Contains("pg-floor"))
{
    Console.WriteLine($"\n== {PostgresFloorBench.Name}");
    await GuardAsync(PostgresFloorBench.Name, () => PostgresFloorBench.RunAsync(options, report));
}

if (options.Scenarios.Contains("signin"))
{
    await OnEachBackendAsync(SignInFloodBench.Name, s => SignInFloodBench.RunAsync(s, options, report, "no sign-ins", flood: false), SignInFloodBench.Settings(null));
    await OnEachBackendAsync(SignInFloodBench.Name, s => SignInFloodBench.RunAsync(s, options, report, "32 wrong passwords, hashing gate wide open (64)", flood: true), SignInFloodBench.Settings(64));
    await OnEachBackendAsync(SignInFloodBench.Name, s => SignInFloodBench.RunAsync(s, options, report, "32 wrong passwords, hashing gate default", flood: true), SignInFloodBench.Settings(null));
}

if (options.Scenarios.Contains("webhooks"))
{
    await OnEachBackendAsync(WebhookBench.Name, s => WebhookBench.RunAsync(s, options, report), WebhookBench.Settings, serverProcess: true);
}

if (options.Scenarios.Contains("audit"))
{
    var folder = Path.Combine(Path.GetTempPath(), "clarity-bench", "audit-" + Guid.NewGuid().ToString("N"));
    await OnEachBackendAsync(AuditBench.Name, s => AuditBench.RunAsync(s, folder, options, report), AuditBench.Settings(folder));
}

if (options.Scenarios.Contains("audit-verify"))
{
    await OnEachBackendAsync(AuditVerifyBench.Name, s => AuditVerifyBench.RunAsync(s, options, report));
}

if (options.Scenarios.Contains("workflow-steps"))
{
    await OnEachBackendAsync(WorkflowStepsBench.Name, s => WorkflowStepsBench.RunAsync(s, options, report), serverProcess: true);
}

if (options.Scenarios.Contains("notifications"))
{
    // The SMTP server and the Slack stand-in first: the server's settings name their ports.
    await GuardAsync(NotificationBench.Name, async () =>
    {
        await using var receivers = await NotificationBench.Receivers.StartAsync();
        await OnEachBackendAsync(NotificationBench.Name, s => NotificationBench.RunAsync(s, receivers, options, report), NotificationBench.Settings(receivers));
    });
}

var markdown = report.ToMarkdown();
Console.WriteLine("\n## Results\n");
Console.WriteLine(markdown);
if (options.OutputDirectory is { } output)
{
    Directory.CreateDirectory(output);
    await File.WriteAllTextAsync(Path.Combine(output, "results.md"), markdown);
    await File.WriteAllTextAsync(Path.Combine(output, "results.json"), report.ToJson());
    Console.WriteLine($"Wrote {Path.Combine(output, "results.md")} and results.json");
}

if (failures > 0)
{
    Console.Error.WriteLine($"{failures} scenario run(s) failed; see the messages above.");
}

return failures == 0 ? 0 : 1;
