using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Clarity.Bench.Harness;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// #14: workflow step transitions. One workflow: a <c>start</c> task step, N parallel task steps needing it, and a
/// <c>merge</c> task step needing all N (generated YAML, uploaded over HTTP). Runs are started one after another over
/// HTTP while K no-op agents work the queue with the real API: a batch checkout (<c>maxTasks</c>, long-polling), then a
/// complete per task. Two variants on the same server: <b>plain</b> (checkout a batch, complete each, checkout again)
/// and <b>eager</b> (each complete also asks for the agent's next task with <c>next</c>; the agent checks out only
/// when it holds nothing). Each variant first runs one unreported run (JIT of the engine's paths), then R measured ones.
/// <para>
/// What is counted, per run, from GET /runs/{id} once the run has succeeded: every task step's two status changes as
/// the run records them, pending→running (its <c>dispatchedAt</c>) and running→succeeded (its <c>finishedAt</c>), so
/// 2 × (N + 2). The task's claim by an agent (the step's <c>startedAt</c>) is not counted as a transition. The rate is
/// those transitions over the run's own wall time on the server clock, from <c>createdAt</c> to <c>finishedAt</c>. Every
/// step must have succeeded once (one attempt) and the run must have succeeded, or the scenario fails.
/// </para>
/// <para>
/// Hand-off: for each step with needs, the time from its last need's <c>finishedAt</c> to its <c>dispatchedAt</c>
/// (its task exists and is claimable) and to its <c>startedAt</c> (an agent has claimed it), from the same answer. The
/// merge step (one per run) is the pure hand-off; a fan-out step's claim also waits behind the other N − 1 fan-out
/// tasks, so its figure is mostly queueing.
/// </para>
/// </summary>
public static class WorkflowStepsBench
{
    public const string Name = "14. Workflow step transitions";
    private const string Queue = "wfsteps";
    public static async Task RunAsync(BenchServer server, BenchOptions options, Report report)
    {
        var workflow = $"fanout-{options.WorkflowSteps}";
        await UploadAsync(server, Yaml(workflow, options.WorkflowSteps));
        await RunVariantAsync(server, options, report, workflow, eager: false);
        await RunVariantAsync(server, options, report, workflow, eager: true);
        await RunBaselineAsync(server, options, report, eager: false);
        await RunBaselineAsync(server, options, report, eager: true);
    }

    /// <summary>start → s0001…sN (each needs start) → merge (needs all of them), all task steps on one queue.</summary>
    public static string Yaml(string name, int steps)
    {
        var ids = Enumerable.Range(1, steps).Select(i => $"s{i:D4}").ToList();
        var yaml = new StringBuilder();
        yaml.Append(CultureInfo.InvariantCulture, $"name: {name}\n");
        yaml.Append(CultureInfo.InvariantCulture, $"description: \"Benchmark: one start step, {steps} parallel steps, one merge step.\"\n");
        yaml.Append("steps:\n");
        yaml.Append(CultureInfo.InvariantCulture, $"  - id: start\n    kind: task\n    queue: {Queue}\n    title: start\n");
        foreach (var id in ids)
        {
            yaml.Append(CultureInfo.InvariantCulture, $"  - id: {id}\n    kind: task\n    queue: {Queue}\n    needs: [start]\n    title: {id}\n");
        }

        yaml.Append(CultureInfo.InvariantCulture, $"  - id: merge\n    kind: task\n    queue: {Queue}\n    needs: [{string.Join(", ", ids)}]\n    title: merge\n");
        return yaml.ToString();
    }

    /// <summary>Uploads the definition as the owner (a member key may start runs but not upload workflows).</summary>
    private static async Task UploadAsync(BenchServer server, string yaml)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, BenchServer.Api("workflows"))
        {
            Content = new ByteArrayContent(Encoding.UTF8.GetBytes(yaml)),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/yaml");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.OwnerToken);
        using var response = await server.Http.SendAsync(request);
        if (response.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.OK))
        {
            throw new InvalidOperationException($"Uploading the workflow answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>One measured run, as read back from the server once it succeeded.</summary>
    private sealed record RunResult(double ServerMs, double ClientMs, int Transitions, int Steps, List<double> FanOutDispatch, List<double> FanOutClaim,
        double MergeDispatch, double MergeClaim, double StartClaim);

    private static async Task RunVariantAsync(BenchServer server, BenchOptions options, Report report, string workflow, bool eager)
    {
        var api = new AgentApi(server.Http);
        TaskCompletionSource<long>? merged = null;
        var agents = NoOpAgents.Start(api, Queue, options, eager, task =>
        {
            if (task.Title == "merge")
            {
                Volatile.Read(ref merged)?.TrySetResult(Stopwatch.GetTimestamp());
            }
        });
        await using var locks = server.Database is { } database ? LockSampler.Start(database) : null;
        var results = new List<RunResult>();
        long requests = 0;
        double cpuMs = 0, machineBusy = 0, processBusy = 0, serverCpuMs = 0, writerMs = 0, machineMs = 0;
        double? postgresMs = null;
        var sqlite = server.Backend == Backend.Sqlite;
        // Unreported runs first, at least one and for at least 3 × the warm-up (15 s; 6 s quick): nothing before this
        // scenario has run the engine's paths, and the JIT tiers them up meanwhile.
        var warmupEnds = Stopwatch.GetTimestamp() + (long)(3 * options.Warmup.TotalSeconds * Stopwatch.Frequency);
        var warmupRuns = 0;
        try
        {
            while (results.Count < options.WorkflowRuns)
            {
                var warming = warmupRuns == 0 || Stopwatch.GetTimestamp() < warmupEnds;
                var expected = agents.Completed + options.WorkflowSteps + 2;
                var done = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
                Volatile.Write(ref merged, done);
                var requestsAtStart = api.Requests;
                var cpu = new CpuMeter(server);
                var writerAtStart = server.WriterCpu;
                var t0 = Stopwatch.GetTimestamp();
                locks?.Measure(!warming);
                var runId = await StartRunAsync(server, workflow);
                try
                {
                    await done.Task.WaitAsync(TimeSpan.FromSeconds(Math.Max(120, options.WorkflowSteps / 5)));
                }
                catch (TimeoutException)
                {
                    throw new InvalidOperationException($"Run {runId} did not finish its merge step in time: {Summary(await GetRunAsync(server, runId))}");
                }

                locks?.Measure(false);
                var clientMs = Stopwatch.GetElapsedTime(t0, done.Task.Result).TotalMilliseconds;
                var (machine, process, ms) = cpu.Stop();
                var serverMs = cpu.ServerCpuMs;
                var runWriterMs = (server.WriterCpu - writerAtStart).TotalMilliseconds;
                var runRequests = api.Requests - requestsAtStart;
                var run = await WaitSucceededAsync(server, runId);
                var result = Measure(run, options.WorkflowSteps, clientMs);
                // Every task of the run was completed exactly once by the agents (another agent may still be counting its last answer).
                for (var i = 0; i < 100 && agents.Completed < expected; i++)
                {
                    await Task.Delay(50);
                }

                if (agents.Completed != expected)
                {
                    throw new InvalidOperationException($"Run {runId}: the agents completed {agents.Completed - expected + options.WorkflowSteps + 2} tasks, expected {options.WorkflowSteps + 2}.");
                }

                if (warming)
                {
                    warmupRuns++;
                    continue;
                }

                results.Add(result);
                requests += runRequests;
                cpuMs += ms;
                machineBusy += machine * result.ClientMs;
                processBusy += process * result.ClientMs;
                serverCpuMs += serverMs ?? 0;
                machineMs += cpu.MachineCpuMs;
                postgresMs = cpu.PostgresCpuMs is { } pg ? (postgresMs ?? 0) + pg : null;
                writerMs += runWriterMs;
            }
        }
        finally
        {
            await agents.StopAsync();
        }

        var b = server.Backend;
        var variant = eager ? "eager (complete with next)" : "plain (checkout batch, complete each)";
        var serverWall = results.Sum(x => x.ServerMs);
        var clientWall = results.Sum(x => x.ClientMs);
        var transitions = results.Sum(x => x.Transitions);
        var steps = results.Sum(x => x.Steps);
        var perRun = results.Select(x => x.Transitions / (x.ServerMs / 1000)).Order().ToList();
        var rate = transitions / (serverWall / 1000);
        var target = b == Backend.Sqlite ? 2000 : 1000;
        var shape = $"{variant}; {results.Count} runs (after {warmupRuns} unreported) of 1 + {options.WorkflowSteps:N0} + 1 task steps, {options.WorkflowAgents} agents, maxTasks {options.WorkflowBatch}";
        report.Add(Name, b, $"{(eager ? "eager" : "plain")}: step transitions/s", rate, "/s", $"≥ {target:N0}/s", rate >= target,
            $"{shape}; run createdAt → finishedAt (server clock); per run {string.Join(", ", perRun.Select(Report.Format))}");
        report.Add(Name, b, $"{(eager ? "eager" : "plain")}: step transitions/s, client clock", transitions / (clientWall / 1000), "/s",
            notes: "start request sent → merge's complete answered");
        report.Add(Name, b, $"{(eager ? "eager" : "plain")}: steps finished/s", steps / (serverWall / 1000), "/s", notes: "each step is one task: dispatched, claimed, completed");
        report.Add(Name, b, $"{(eager ? "eager" : "plain")}: requests per step", (double)requests / steps, "", notes: $"agents' requests only ({(eager ? "complete with next, checkout when holding nothing" : "checkouts + completes")})");

        var mergeDispatch = new Samples();
        var mergeClaim = new Samples();
        var fanOutDispatch = new Samples();
        var fanOutClaim = new Samples();
        var startClaim = new Samples();
        foreach (var x in results)
        {
            mergeDispatch.Add(x.MergeDispatch);
            mergeClaim.Add(x.MergeClaim);
            startClaim.Add(x.StartClaim);
            x.FanOutDispatch.ForEach(fanOutDispatch.Add);
            x.FanOutClaim.ForEach(fanOutClaim.Add);
        }

        string P(Samples s) => $"p50 {Report.Format(s.Percentile(50))} / p99 {Report.Format(s.Percentile(99))} / max {Report.Format(s.Max)} ms, {s.Count} samples";
        report.Add(Name, b, $"{(eager ? "eager" : "plain")}: merge: last need finished → dispatched, p50", mergeDispatch.Percentile(50), "ms", notes: P(mergeDispatch));
        report.Add(Name, b, $"{(eager ? "eager" : "plain")}: merge: last need finished → claimed, p50", mergeClaim.Percentile(50), "ms", notes: P(mergeClaim));
        report.Add(Name, b, $"{(eager ? "eager" : "plain")}: merge: last need finished → claimed, p99", mergeClaim.Percentile(99), "ms", notes: "one merge per run: p99 of few samples is their max");
        report.Add(Name, b, $"{(eager ? "eager" : "plain")}: fan-out: start finished → dispatched, p50", fanOutDispatch.Percentile(50), "ms", notes: P(fanOutDispatch));
        report.Add(Name, b, $"{(eager ? "eager" : "plain")}: fan-out: start finished → claimed, p50", fanOutClaim.Percentile(50), "ms",
            notes: P(fanOutClaim) + $"; includes queueing behind the other {options.WorkflowSteps - 1:N0} fan-out tasks");
        report.Add(Name, b, $"{(eager ? "eager" : "plain")}: fan-out: start finished → claimed, p99", fanOutClaim.Percentile(99), "ms");
        report.Add(Name, b, $"{(eager ? "eager" : "plain")}: start: run created → claimed, p50", startClaim.Percentile(50), "ms", notes: P(startClaim));

        if (sqlite)
        {
            var perStep = writerMs / steps;
            report.Add(Name, b, $"{(eager ? "eager" : "plain")}: SQLite writer thread CPU per step", perStep, "ms",
                notes: $"busy {100 * writerMs / serverWall:F0}% of the runs' wall time; every write runs on this one thread: alone it allows ≈ {Report.Format(1000 / perStep)} steps/s, {Report.Format(2000 / perStep)} transitions/s (/proc/<pid>/task, 10 ms ticks)");
        }

        if (locks is not null)
        {
            var (samples, active, waiting) = locks.Result;
            report.Add(Name, b, $"{(eager ? "eager" : "plain")}: PostgreSQL sessions waiting on a lock", samples == 0 ? double.NaN : waiting / (double)samples, "",
                notes: $"mean over {samples} samples of pg_stat_activity (every 20 ms) during the measured runs; mean active sessions {(samples == 0 ? double.NaN : active / (double)samples):F2} (the sampler's own excluded)");
        }

        if (postgresMs is { } postgres)
        {
            MeasuredWindow.ReportPostgresCpu(report, Name, b, postgres, machineMs, steps, "step", $"{(eager ? "eager" : "plain")}: ");
        }

        if (server.ServerCpu is not null)
        {
            report.Add(Name, b, $"{(eager ? "eager" : "plain")}: server CPU per step", serverCpuMs / steps, "ms",
                notes: $"the server process alone (/proc/<pid>/stat); machine CPU busy {machineBusy / clientWall:F0}%{(b == Backend.Postgres ? "; PostgreSQL's own CPU not included" : "")}");
        }
        else
        {
            report.Add(Name, b, $"{(eager ? "eager" : "plain")}: process CPU per step", cpuMs / steps, "ms",
                notes: $"server + agents in one process; machine CPU busy {machineBusy / clientWall:F0}%, this process {processBusy / clientWall:F0}% of {Environment.ProcessorCount} cores{(b == Backend.Postgres ? "; PostgreSQL's own CPU not included" : "")}");
        }
    }

    private static async Task<string> StartRunAsync(BenchServer server, string workflow)
    {
        using var response = await server.Http.PostAsync(BenchServer.Api($"workflows/{workflow}/runs"), BenchServer.JsonText("{}"));
        await BenchServer.ExpectAsync(response, HttpStatusCode.Created);
        return (await BenchServer.ReadJsonAsync(response)).GetProperty("id").GetString()!;
    }

    private static async Task<JsonElement> GetRunAsync(BenchServer server, string runId)
    {
        using var response = await server.Http.GetAsync(BenchServer.Api($"runs/{runId}"));
        await BenchServer.ExpectAsync(response, HttpStatusCode.OK);
        return await BenchServer.ReadJsonAsync(response);
    }

    /// <summary>The run once it is final: the merge's complete has answered, and the run finishes in that same unit of work.</summary>
    private static async Task<JsonElement> WaitSucceededAsync(BenchServer server, string runId)
    {
        var run = await GetRunAsync(server, runId);
        if (run.GetProperty("status").GetString() != "succeeded")
        {
            throw new InvalidOperationException($"Run {runId} is not succeeded after its merge step completed: {Summary(run)}");
        }

        return run;
    }

    private static string Summary(JsonElement run) =>
        $"status {run.GetProperty("status").GetString()}, steps " +
        string.Join(", ", run.GetProperty("steps").EnumerateArray().GroupBy(s => s.GetProperty("status").GetString()).Select(g => $"{g.Key} {g.Count()}")) +
        (run.TryGetProperty("error", out var error) ? $", error {error}" : "");

    /// <summary>Checks the run (every step succeeded once, in a succeeded run) and reads its transitions and hand-offs.</summary>
    private static RunResult Measure(JsonElement run, int n, double clientMs)
    {
        var id = run.GetProperty("id").GetString();
        var steps = run.GetProperty("steps").EnumerateArray().ToDictionary(s => s.GetProperty("id").GetString()!);
        if (steps.Count != n + 2)
        {
            throw new InvalidOperationException($"Run {id} has {steps.Count} steps, expected {n + 2}.");
        }

        var transitions = 0;
        foreach (var (stepId, step) in steps)
        {
            if (step.GetProperty("status").GetString() != "succeeded" || step.GetProperty("attempts").GetInt32() != 1
                || !step.TryGetProperty("dispatchedAt", out _) || !step.TryGetProperty("startedAt", out _) || !step.TryGetProperty("finishedAt", out _))
            {
                throw new InvalidOperationException($"Run {id}: step {stepId} did not succeed once with its timings: {step}");
            }

            transitions += 2; // pending → running (dispatchedAt) and running → succeeded (finishedAt)
        }

        static DateTimeOffset At(JsonElement step, string field) => step.GetProperty(field).GetDateTimeOffset();
        static double Ms(DateTimeOffset from, DateTimeOffset to) => (to - from).TotalMilliseconds;

        var start = steps["start"];
        var merge = steps["merge"];
        var startFinished = At(start, "finishedAt");
        var fanOut = steps.Where(s => s.Key is not ("start" or "merge")).Select(s => s.Value).ToList();
        var lastFanOut = fanOut.Max(s => At(s, "finishedAt"));
        return new RunResult(
            ServerMs: Ms(run.GetProperty("createdAt").GetDateTimeOffset(), run.GetProperty("finishedAt").GetDateTimeOffset()),
            ClientMs: clientMs,
            Transitions: transitions,
            Steps: steps.Count,
            FanOutDispatch: [.. fanOut.Select(s => Ms(startFinished, At(s, "dispatchedAt")))],
            FanOutClaim: [.. fanOut.Select(s => Ms(startFinished, At(s, "startedAt")))],
            MergeDispatch: Ms(lastFanOut, At(merge, "dispatchedAt")),
            MergeClaim: Ms(lastFanOut, At(merge, "startedAt")),
            StartClaim: Ms(run.GetProperty("createdAt").GetDateTimeOffset(), At(start, "startedAt")));
    }
    /// <summary>
    /// The yardstick: the same agents, the same number of tasks (N + 2, created beforehand on a queue of their own, not
    /// timed), no workflow. The difference to the workflow's steps/s is what the run engine adds to each task.
    /// </summary>
    private static async Task RunBaselineAsync(BenchServer server, BenchOptions options, Report report, bool eager)
    {
        var api = new AgentApi(server.Http);
        var count = options.WorkflowSteps + 2;
        var rates = new List<double>();
        double cpuMs = 0, writerMs = 0, machineMs = 0, serverMs = 0;
        double? postgresMs = null;
        var sqlite = server.Backend == Backend.Sqlite;
        for (var r = -1; r < options.WorkflowRuns; r++)
        {
            var queue = $"wfbase-{(eager ? "e" : "p")}{r + 1}";
            var next = -1;
            await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
            {
                while (Interlocked.Increment(ref next) < count)
                {
                    await api.CreateTaskAsync(queue, "baseline");
                }
            }));

            var all = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
            var cpu = new CpuMeter(server);
            var writerAtStart = server.WriterCpu;
            var t0 = Stopwatch.GetTimestamp();
            NoOpAgents? agents = null;
            agents = NoOpAgents.Start(api, queue, options, eager, _ =>
            {
                if (Volatile.Read(ref agents)?.Completed >= count)
                {
                    all.TrySetResult(Stopwatch.GetTimestamp());
                }
            });
            try
            {
                await all.Task.WaitAsync(TimeSpan.FromSeconds(Math.Max(120, count / 5)));
            }
            finally
            {
                await agents.StopAsync();
            }

            var (_, _, ms) = cpu.Stop();
            var runWriterMs = (server.WriterCpu - writerAtStart).TotalMilliseconds;
            if (agents.Completed != count)
            {
                throw new InvalidOperationException($"The baseline agents completed {agents.Completed} tasks, expected {count}.");
            }

            if (r >= 0)
            {
                rates.Add(count / Stopwatch.GetElapsedTime(t0, all.Task.Result).TotalSeconds);
                cpuMs += ms;
                writerMs += runWriterMs;
                machineMs += cpu.MachineCpuMs;
                serverMs += cpu.ServerCpuMs ?? 0;
                postgresMs = cpu.PostgresCpuMs is { } pg ? (postgresMs ?? 0) + pg : null;
            }
        }

        var b = server.Backend;
        var tasks = count * (double)rates.Count;
        var mode = eager ? "eager" : "plain";
        var sorted = rates.Order().ToList();
        report.Add(Name, b, $"{mode}: yardstick, {count:N0} standalone tasks: tasks finished/s", rates.Count / rates.Sum(x => 1 / x), "/s",
            notes: $"the same agents with no workflow (tasks created beforehand, not timed); first claim → last complete answered; per round {string.Join(", ", sorted.Select(Report.Format))}");
        // The same CPU figures as the steps', so a step's cost can be set against a bare task's claim and complete.
        report.Add(Name, b, $"{mode}: yardstick: machine CPU per task", machineMs / tasks, "ms",
            notes: $"every process on the machine (/proc/stat busy time) while the agents claimed and completed; 2 cores at this cost allow ≈ {Report.Format(2000 / (machineMs / tasks))} tasks/s");
        if (server.ServerCpu is not null)
        {
            report.Add(Name, b, $"{mode}: yardstick: server CPU per task", serverMs / tasks, "ms", notes: "the server process alone (/proc/<pid>/stat)");
        }
        else
        {
            report.Add(Name, b, $"{mode}: yardstick: process CPU per task", cpuMs / tasks, "ms", notes: "server + agents in one process");
        }

        if (postgresMs is { } postgres)
        {
            report.Add(Name, b, $"{mode}: yardstick: PostgreSQL CPU per task", postgres / tasks, "ms", notes: "every process of the local PostgreSQL server");
        }
        if (sqlite)
        {
            report.Add(Name, b, $"{mode}: yardstick: SQLite writer thread CPU per task", writerMs / tasks, "ms");
        }
    }
}

/// <summary>
/// K no-op agents on one queue, each in a loop: a batch checkout (<c>maxTasks</c>, long-polling), then a complete per
/// task (plain), or a complete with <c>next</c> per task, checking out only when it holds nothing (eager).
/// </summary>
internal sealed class NoOpAgents
{
    private const int WaitSeconds = 5;
    private readonly CancellationTokenSource _stop = new();
    private long _completed;
    private Task[] _loops = [];

    public long Completed => Interlocked.Read(ref _completed);

    public static NoOpAgents Start(AgentApi api, string queue, BenchOptions options, bool eager, Action<AgentApi.Claimed> done)
    {
        var agents = new NoOpAgents();
        agents._loops = [.. Enumerable.Range(0, options.WorkflowAgents).Select(i => Task.Run(() => eager
            ? agents.EagerAsync(api, queue, options.WorkflowBatch, $"wf-agent-{i}", done)
            : agents.PlainAsync(api, queue, options.WorkflowBatch, $"wf-agent-{i}", done)))];
        return agents;
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_loops);
        _stop.Dispose();
    }

    private void Done(AgentApi.Claimed task, Action<AgentApi.Claimed> done)
    {
        Interlocked.Increment(ref _completed);
        done(task);
    }

    private async Task<IReadOnlyList<AgentApi.Claimed>> CheckoutAsync(AgentApi api, string queue, int batch, string agent)
    {
        try
        {
            return await api.CheckoutManyAsync(agent, queue, batch, WaitSeconds, _stop.Token);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            return [];
        }
    }

    private async Task PlainAsync(AgentApi api, string queue, int batch, string agent, Action<AgentApi.Claimed> done)
    {
        while (!_stop.IsCancellationRequested)
        {
            foreach (var task in await CheckoutAsync(api, queue, batch, agent))
            {
                await api.CompleteAsync(task, CancellationToken.None);
                Done(task, done);
            }
        }
    }

    private async Task EagerAsync(AgentApi api, string queue, int batch, string agent, Action<AgentApi.Claimed> done)
    {
        var held = new Queue<AgentApi.Claimed>();
        while (true)
        {
            if (held.Count == 0)
            {
                if (_stop.IsCancellationRequested)
                {
                    return;
                }

                foreach (var task in await CheckoutAsync(api, queue, batch, agent))
                {
                    held.Enqueue(task);
                }

                continue;
            }

            var current = held.Dequeue();
            var next = await api.CompleteWithNextAsync(current, queue, CancellationToken.None);
            Done(current, done);
            if (next is not null)
            {
                held.Enqueue(next);
            }
        }
    }
}

/// <summary>
/// Samples pg_stat_activity of the bench database every 20 ms while <see cref="Measure"/> is on: how many of its
/// sessions are running a statement, and how many of those wait for a lock (the run row's, on this workflow).
/// </summary>
internal sealed class LockSampler : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private volatile bool _measuring;
    private long _samples;
    private long _active;
    private long _waiting;

    private LockSampler(string database) => _loop = Task.Run(() => LoopAsync(database));

    public (long Samples, long Active, long Waiting) Result => (Interlocked.Read(ref _samples), Interlocked.Read(ref _active), Interlocked.Read(ref _waiting));

    public static LockSampler Start(string database) => new(database);

    public void Measure(bool on) => _measuring = on;

    private async Task LoopAsync(string database)
    {
        await using var connection = new Npgsql.NpgsqlConnection(database);
        await connection.OpenAsync(_stop.Token);
        await using var command = new Npgsql.NpgsqlCommand(
            "SELECT count(*) FILTER (WHERE state = 'active'), count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock') " +
            "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()", connection);
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(20, _stop.Token);
                if (!_measuring)
                {
                    continue;
                }

                await using var reader = await command.ExecuteReaderAsync(_stop.Token);
                await reader.ReadAsync(_stop.Token);
                Interlocked.Add(ref _active, reader.GetInt64(0));
                Interlocked.Add(ref _waiting, reader.GetInt64(1));
                Interlocked.Increment(ref _samples);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }
}
