namespace Clarity.Bench.Harness;

/// <summary>Command-line options. Quick mode shrinks every duration and count for a smoke run.</summary>
public sealed class BenchOptions
{
    public static readonly string[] AllScenarios = ["lifecycle", "unit-of-work", "floor", "ingest", "search", "isolation", "latency", "peer", "pg-floor", "signin", "webhooks", "audit", "audit-verify", "workflow-steps", "mcp", "notifications", "memory"];

    public bool Quick { get; private init; }

    /// <summary>An admin connection string to a PostgreSQL server; each scenario creates a fresh database on it.</summary>
    public string? Postgres { get; private init; }

    public IReadOnlyList<Backend> Backends { get; private init; } = [Backend.Sqlite];

    public IReadOnlySet<string> Scenarios { get; private init; } = new HashSet<string>(AllScenarios);

    /// <summary>The folder with graphile-worker's bench.js and node_modules.</summary>
    public string? GraphileDirectory { get; private init; }

    /// <summary>The folder with pg-boss's bench.js and node_modules.</summary>
    public string? PgBossDirectory { get; private init; }

    public string? OutputDirectory { get; private init; }

    /// <summary>With --server-process: the clarity.dll that the scenarios which support it start as their own server process.</summary>
    public string? ServerProcessDll { get; private init; }

    /// <summary>The Release build's clarity.dll, for a server in its own process; <paramref name="who"/> says who needs it when it is missing.</summary>
    public static string ClarityDll(string who)
    {
        var dll = Path.GetFullPath(Path.Combine("src", "Clarity", "bin", "Release", "net10.0", "clarity.dll"));
        return File.Exists(dll) ? dll : throw new ArgumentException($"{who} needs {dll}: run from the repository root after a Release build.");
    }

    /// <summary>SQL run on each fresh Clarity PostgreSQL database after migration (for experiments, e.g. GIN settings).</summary>
    public string? PostgresSetupSql { get; private init; }

    public int SearchLines { get; private init; }

    /// <summary>Workflow steps (#14): the parallel steps between <c>start</c> and <c>merge</c>.</summary>
    public int WorkflowSteps { get; private init; } = 1000;

    /// <summary>Workflow steps (#14): measured runs per variant and backend, back to back (after one unreported warm-up run).</summary>
    public int WorkflowRuns { get; private init; } = 5;

    /// <summary>Workflow steps (#14): concurrent no-op agents.</summary>
    public int WorkflowAgents { get; private init; } = 8;

    /// <summary>Workflow steps (#14): <c>maxTasks</c> of each agent's checkout.</summary>
    public int WorkflowBatch { get; private init; } = 32;

    public TimeSpan Warmup { get; private init; }

    public TimeSpan Duration { get; private init; }

    /// <summary>The same options with other durations (the process-wide JIT warm-up runs the scenarios briefly).</summary>
    public BenchOptions WithDurations(TimeSpan warmup, TimeSpan duration) => new()
    {
        Quick = Quick,
        Postgres = Postgres,
        Backends = Backends,
        Scenarios = Scenarios,
        GraphileDirectory = GraphileDirectory,
        PgBossDirectory = PgBossDirectory,
        OutputDirectory = OutputDirectory,
        ServerProcessDll = ServerProcessDll,
        PostgresSetupSql = PostgresSetupSql,
        SearchLines = SearchLines,
        WorkflowSteps = WorkflowSteps,
        WorkflowRuns = WorkflowRuns,
        WorkflowAgents = WorkflowAgents,
        WorkflowBatch = WorkflowBatch,
        Warmup = warmup,
        Duration = duration,
    };

    public int LatencySamples => Quick ? 100 : 1000;

    public int SearchQueriesPerKind => Quick ? 30 : 200;

    public int PeerJobs => Quick ? 2000 : 10_000;

    /// <summary>The length of the chain #13b seeds and verifies.</summary>
    public int AuditVerifyEntries => Quick ? 100_000 : 1_000_000;

    public static string Usage =>
        """
        Clarity.Bench: starts Clarity in-process and measures it over real HTTP.

          --quick                  short smoke run (seconds, not minutes)
          --postgres <conn>        a PostgreSQL server (admin connection string); enables the PostgreSQL runs
          --backend <list>         sqlite,postgres (default: sqlite, plus postgres when --postgres is given)
          --only <list>            lifecycle,unit-of-work,floor,ingest,search,isolation,latency,peer,pg-floor,signin,webhooks,audit,audit-verify,
                                   workflow-steps,mcp,notifications,memory (default: all)
          --search-lines <n>       lines loaded for the search benchmarks (default 1000000; quick 100000)
          --graphile <dir>         folder of the graphile-worker peer (bench/peers/graphile-worker)
          --pg-boss <dir>          folder of the pg-boss peer (bench/peers/pg-boss); Hangfire runs in-process
          --steps <n>              workflow-steps: parallel steps between start and merge (default 1000)
          --runs <n>               workflow-steps: measured runs per variant and backend (default 5; quick 2)
          --agents <n>             workflow-steps: concurrent no-op agents (default 8)
          --batch <n>              workflow-steps: maxTasks of each checkout, 1-100 (default 32)
          --out <dir>              also write results.md and results.json there
          --server-process         lifecycle, peer, webhooks, workflow-steps, ingest and latency: run the server as `dotnet src/Clarity/bin/Release/net10.0/clarity.dll
                                   serve` (same settings), not in-process, and report its CPU per request or line
          --postgres-sql <sql>     run this SQL on each Clarity PostgreSQL database after migration (experiments)
        """;

    public static BenchOptions Parse(string[] args)
    {
        var quick = false;
        var serverProcess = false;
        string? postgres = null, graphile = null, pgBoss = null, output = null, backends = null, only = null, postgresSql = null;
        int? searchLines = null, steps = null, runs = null, agents = null, batch = null;
        int Positive(string name, string value, int max) =>
            int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n >= 1 && n <= max
                ? n
                : throw new ArgumentException($"{name} needs a whole number from 1 to {max}.\n{Usage}");
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.\n{Usage}");
            switch (args[i])
            {
                case "--quick":
                    quick = true;
                    break;
                case "--server-process":
                    serverProcess = true;
                    break;
                case "--postgres":
                    postgres = Value();
                    break;
                case "--backend":
                    backends = Value();
                    break;
                case "--only":
                    only = Value();
                    break;
                case "--graphile":
                    graphile = Value();
                    break;
                case "--pg-boss":
                    pgBoss = Value();
                    break;
                case "--out":
                    output = Value();
                    break;
                case "--postgres-sql":
                    postgresSql = Value();
                    break;
                case "--search-lines":
                    searchLines = int.Parse(Value(), System.Globalization.CultureInfo.InvariantCulture);
                    break;
                case "--steps":
                    steps = Positive("--steps", Value(), 9_998);
                    break;
                case "--runs":
                    runs = Positive("--runs", Value(), 1000);
                    break;
                case "--agents":
                    agents = Positive("--agents", Value(), 256);
                    break;
                case "--batch":
                    batch = Positive("--batch", Value(), 100);
                    break;
                default:
                    throw new ArgumentException($"Unknown option {args[i]}.\n{Usage}");
            }
        }

        var backendList = backends is null
            ? (postgres is null ? [Backend.Sqlite] : [Backend.Sqlite, Backend.Postgres])
            : backends.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(b => Enum.Parse<Backend>(b, ignoreCase: true)).ToList();
        if (backendList.Contains(Backend.Postgres) && postgres is null)
        {
            throw new ArgumentException("--backend postgres needs --postgres <connection string>.");
        }

        var scenarios = only is null
            ? new HashSet<string>(AllScenarios)
            : only.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
        foreach (var s in scenarios.Where(s => !AllScenarios.Contains(s)))
        {
            throw new ArgumentException($"Unknown scenario '{s}'.\n{Usage}");
        }

        if (scenarios.Contains("memory"))
        {
            // It runs Clarity in its own process (to read that process's RSS alone).
            ClarityDll("the memory scenario");
        }

        if (scenarios.Contains("floor"))
        {
            // Its second half runs Clarity in its own process: say so now if the build is missing, not after the first half.
            ClarityDll("the floor scenario");
        }

        string? serverDll = null;
        if (serverProcess)
        {
            serverDll = ClarityDll("--server-process");
        }

        return new BenchOptions
        {
            ServerProcessDll = serverDll,
            Quick = quick,
            Postgres = postgres,
            Backends = backendList,
            Scenarios = scenarios,
            GraphileDirectory = graphile,
            PgBossDirectory = pgBoss,
            OutputDirectory = output,
            PostgresSetupSql = postgresSql,
            SearchLines = searchLines ?? (quick ? 100_000 : 1_000_000),
            WorkflowSteps = steps ?? 1000,
            WorkflowRuns = runs ?? (quick ? 2 : 5),
            WorkflowAgents = agents ?? 8,
            WorkflowBatch = batch ?? 32,
            Warmup = quick ? TimeSpan.FromSeconds(2) : TimeSpan.FromSeconds(5),
            Duration = quick ? TimeSpan.FromSeconds(5) : TimeSpan.FromSeconds(30),
        };
    }
}
