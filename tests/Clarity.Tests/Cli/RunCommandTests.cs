using Clarity.Cli;
using Clarity.Client;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Cli;

/// <summary>The real <c>clarity run</c> process against a real server, running small real commands.</summary>
public abstract class RunCommandTests(Backend backend) : IAsyncLifetime
{
    private ClarityHost _host = null!;
    private OrgSession _org = null!;
    private ClarityClient _client = null!;

    public async Task InitializeAsync()
    {
        // A short lease, so that heartbeats (every third of it) matter within a test.
        _host = await ClarityHost.StartAsync(backend, new Dictionary<string, string?> { ["Clarity:Tasks:LeaseSeconds"] = "9" });
        _org = await _host.SetupAsync();
        _client = new ClarityClient(_host.BaseAddress, _org.MemberKey, _org.Org);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _host.DisposeAsync();
    }

    private string[] Connection => ["--server", _host.BaseAddress.ToString(), "--key", _org.MemberKey, "--org", _org.Org];

    [Fact]
    public async Task Run_WhenCommandExitsNonZero_FailsTheTaskAndLogsBothStreams()
    {
        var (exitCode, stdout, stderr) = await ClarityProcess.RunAsync(
            ["run", .. Connection, "--queue", "run-fail", "--", "sh", "-c", "echo hello; echo oops >&2; exit 3"]);

        Assert.Equal(3, exitCode);
        Assert.Contains("hello", stdout, StringComparison.Ordinal);
        Assert.Contains("oops", stderr, StringComparison.Ordinal);

        var task = Assert.Single((await _client.ListTasksAsync(new TaskQuery(Queue: "run-fail"))).Items);
        Assert.Equal(TaskStatuses.Failed, task.Status);
        Assert.Equal("exit code 3", task.Error);
        Assert.Equal("sh", task.Input!.Value.GetProperty("command").GetString());

        var logs = (await _client.ReadLogsAsync(task.Id)).Entries;
        Assert.Contains(logs, l => l.Text == "hello" && l.Stream == "stdout");
        Assert.Contains(logs, l => l.Text == "oops" && l.Stream == "stderr");
    }

    [Fact]
    public async Task Run_WhenCommandSucceeds_CompletesTheTaskWithExitCodeZero()
    {
        var environment = new Dictionary<string, string>
        {
            ["CLARITY_SERVER"] = _host.BaseAddress.ToString(),
            ["CLARITY_KEY"] = _org.MemberKey,
            ["CLARITY_ORG"] = _org.Org,
        };

        var (exitCode, _, stderr) = await ClarityProcess.RunAsync(
            ["run", "--queue", "run-ok", "--agent", "ci-runner", "--labels", "linux", "--", "sh", "-c", "echo all good"], environment);

        Assert.True(exitCode == 0, stderr);
        var task = Assert.Single((await _client.ListTasksAsync(new TaskQuery(Queue: "run-ok"))).Items);
        Assert.Equal(TaskStatuses.Succeeded, task.Status);
        Assert.Equal(0, task.Output!.Value.GetProperty("exitCode").GetInt32());
        Assert.Equal("sh -c 'echo all good'", task.Title);
        Assert.Equal(["linux"], task.Labels);
        Assert.Contains(await _client.EnumerateAgentsAsync().ToListAsync(), a => a.Name == "ci-runner" && a.Id == task.AgentId);
        Assert.Equal(["all good"], (await _client.ReadLogsAsync(task.Id)).Entries.Select(e => e.Text));
    }

    [Fact]
    public async Task Run_WithCheckout_RunsTheQueuedTaskWithItsInputAndId()
    {
        var queued = await _client.CreateTaskAsync(new CreateTaskRequest("run-checkout", "from the queue", Input: new { size = 42 }));

        var (exitCode, _, stderr) = await ClarityProcess.RunAsync(
            ["run", .. Connection, "--queue", "run-checkout", "--checkout", "--wait", "5", "--", "sh", "-c", "echo \"id=$CLARITY_TASK_ID\"; echo \"$CLARITY_TASK_INPUT\""]);

        Assert.True(exitCode == 0, stderr);
        var task = await _client.GetTaskAsync(queued.Id);
        Assert.Equal(TaskStatuses.Succeeded, task.Status);
        var logs = (await _client.ReadLogsAsync(task.Id)).Entries.Select(e => e.Text).ToList();
        Assert.Equal($"id={queued.Id}", logs[0]);
        Assert.Contains("\"size\":42", logs[1].Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_CommandThatWritesCLARITY_OUTPUT_CompletesTheTaskWithThatObjectAndItsExitCode()
    {
        var queued = await _client.CreateTaskAsync(new CreateTaskRequest("run-output", "writes output"));

        var (exitCode, _, stderr) = await ClarityProcess.RunAsync(
            ["run", .. Connection, "--queue", "run-output", "--checkout", "--wait", "5", "--", "sh", "-c", "printf '{\"text\": \"drafted\"}' > \"$CLARITY_OUTPUT\""]);

        Assert.True(exitCode == 0, stderr);
        var task = await _client.GetTaskAsync(queued.Id);
        Assert.Equal(TaskStatuses.Succeeded, task.Status);
        Assert.Equal("drafted", task.Output!.Value.GetProperty("text").GetString());
        Assert.Equal(0, task.Output!.Value.GetProperty("exitCode").GetInt32());
    }

    [Fact]
    public async Task Run_CommandThatWritesAnOutputThatIsNotAJsonObject_FailsTheTaskWithOneClearLine()
    {
        var queued = await _client.CreateTaskAsync(new CreateTaskRequest("run-bad-output", "writes junk"));

        var (exitCode, _, stderr) = await ClarityProcess.RunAsync(
            ["run", .. Connection, "--queue", "run-bad-output", "--checkout", "--wait", "5", "--", "sh", "-c", "echo '[1, 2' > \"$CLARITY_OUTPUT\""]);

        Assert.Equal(ExitCodes.BadOutput, exitCode);
        Assert.Contains("CLARITY_OUTPUT", stderr, StringComparison.Ordinal);
        var task = await _client.GetTaskAsync(queued.Id);
        Assert.Equal(TaskStatuses.Failed, task.Status);
        Assert.Contains("CLARITY_OUTPUT", task.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_WithCheckout_WhenNoTaskArrives_SaysSoAndExitsZero()
    {
        var (exitCode, _, stderr) = await ClarityProcess.RunAsync(["run", .. Connection, "--queue", "run-empty", "--checkout", "--wait", "0", "--", "true"]);

        Assert.Equal(ExitCodes.Ok, exitCode);
        Assert.Contains("no task", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_WithCheckoutLoop_RunsEveryQueuedTask_EachNextHandedOverByTheComplete()
    {
        var queued = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            queued.Add((await _client.CreateTaskAsync(new CreateTaskRequest("run-loop", $"job {i}", Input: new { n = i }))).Id);
        }

        var (exitCode, _, stderr) = await ClarityProcess.RunAsync(
            ["run", .. Connection, "--queue", "run-loop", "--checkout", "--loop", "--wait", "0", "--agent", "looper", "--", "sh", "-c", "echo \"$CLARITY_TASK_INPUT\""]);

        Assert.True(exitCode == 0, stderr);
        Assert.Contains("ran 3 task(s)", stderr, StringComparison.Ordinal);
        var tasks = new List<AgentTask>();
        foreach (var id in queued)
        {
            tasks.Add(await _client.GetTaskAsync(id));
        }

        Assert.All(tasks, t => Assert.Equal(TaskStatuses.Succeeded, t.Status));
        Assert.Single(tasks.Select(t => t.AgentId).Distinct());
        // Each next task was claimed in the unit of work that completed the one before: one request, one moment.
        for (var i = 1; i < tasks.Count; i++)
        {
            Assert.Equal(tasks[i - 1].FinishedAt, tasks[i].StartedAt);
        }

        for (var i = 0; i < tasks.Count; i++)
        {
            var logs = (await _client.ReadLogsAsync(tasks[i].Id)).Entries;
            Assert.Contains($"\"n\":{i}", Assert.Single(logs).Text.Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Run_WithLoopButWithoutCheckout_IsBadUsage()
    {
        var (exitCode, _, stderr) = await ClarityProcess.RunAsync(["run", .. Connection, "--queue", "run-loop-bad", "--loop", "--", "true"]);

        Assert.Equal(ExitCodes.BadUsage, exitCode);
        Assert.Contains("--loop", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_WhenCommandIsNotFound_FailsTheTaskAndExits127()
    {
        var (exitCode, _, stderr) = await ClarityProcess.RunAsync(["run", .. Connection, "--queue", "run-missing", "--", "no-such-command-anywhere"]);

        Assert.Equal(ExitCodes.CommandNotFound, exitCode);
        Assert.Contains("command not found: no-such-command-anywhere", stderr, StringComparison.Ordinal);
        var task = Assert.Single((await _client.ListTasksAsync(new TaskQuery(Queue: "run-missing"))).Items);
        Assert.Equal(TaskStatuses.Failed, task.Status);
        Assert.Equal("command not found: no-such-command-anywhere", task.Error);
    }

    [Fact]
    public async Task Run_WhenTaskIsCancelled_KillsTheCommandAndExitsNonZero()
    {
        using var run = ClarityProcess.Start(["run", .. Connection, "--queue", "run-cancel", "--", "sh", "-c", "echo started; sleep 300; echo finished"]);
        var task = await EventuallyAsync(async () =>
        {
            var running = (await _client.ListTasksAsync(new TaskQuery(Queue: "run-cancel"))).Items.FirstOrDefault();
            return running is not null && (await _client.ReadLogsAsync(running.Id)).Entries.Any(e => e.Text == "started") ? running : null;
        });

        await _client.CancelTaskAsync(task.Id);

        Assert.Equal(ExitCodes.LeaseLost, await run.WaitAsync());
        Assert.DoesNotContain("finished", run.Stdout, StringComparison.Ordinal);
        Assert.Equal(TaskStatuses.Cancelled, (await _client.GetTaskAsync(task.Id)).Status);
    }

    [Fact]
    public async Task Run_WithoutCommand_PrintsOneLineAndExitsWithBadUsage()
    {
        var (exitCode, stdout, stderr) = await ClarityProcess.RunAsync(["run", .. Connection, "--queue", "run-usage"]);

        Assert.Equal(ExitCodes.BadUsage, exitCode);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("clarity: no command", line, StringComparison.Ordinal);
        Assert.Empty((await _client.ListTasksAsync(new TaskQuery(Queue: "run-usage"))).Items);
    }

    [Fact]
    public async Task Run_WithoutServer_PrintsOneLineAndExitsWithBadUsage()
    {
        var (exitCode, _, stderr) = await ClarityProcess.RunAsync(["run", "--key", "k", "--org", "acme", "--queue", "q", "--", "true"]);

        Assert.Equal(ExitCodes.BadUsage, exitCode);
        Assert.Equal("clarity: --server is required (or set CLARITY_SERVER).", stderr.Trim());
    }

    [Fact]
    public async Task Run_WithBadKey_PrintsOneLineAndExitsNonZero()
    {
        var (exitCode, _, stderr) = await ClarityProcess.RunAsync(
            ["run", "--server", _host.BaseAddress.ToString(), "--key", "clk_not-a-real-key", "--org", _org.Org, "--queue", "run-badkey", "--", "true"]);

        Assert.Equal(ExitCodes.BadUsage, exitCode);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("401", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_WithUnreachableServer_PrintsOneLineAndExitsUnavailable()
    {
        // A port that was free a moment ago: nothing listens there.
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        var port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();

        var (exitCode, _, stderr) = await ClarityProcess.RunAsync(
            ["run", "--server", $"http://127.0.0.1:{port}", "--key", _org.MemberKey, "--org", _org.Org, "--queue", "q", "--", "true"]);

        Assert.Equal(ExitCodes.Unavailable, exitCode);
        Assert.StartsWith("clarity: cannot reach", Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
    }

    private static async Task<T> EventuallyAsync<T>(Func<Task<T?>> probe)
        where T : class
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            Assert.True(DateTime.UtcNow < deadline, "The condition did not hold within 60 s.");
            await Task.Delay(100);
        }
    }
}

public sealed class SqliteRunCommandTests() : RunCommandTests(Backend.Sqlite);

public sealed class PostgresRunCommandTests() : RunCommandTests(Backend.Postgres);
