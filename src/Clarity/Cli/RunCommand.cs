using System.CommandLine;
using System.ComponentModel;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Clarity.Client;

namespace Clarity.Cli;

/// <summary>
/// <c>clarity run</c>: runs a command as an agent task. Its stdout and stderr become the task's log, heartbeats keep
/// the lease, and its exit code completes (0) or fails (anything else) the task. The command is started directly, without a shell.
/// </summary>
/// <remarks>
/// Without <c>--checkout</c> it creates a task for the command and checks out exactly that task. With <c>--checkout</c>
/// it takes the next task from the queue; when none arrives within <c>--wait</c> seconds it prints "no task" on stderr
/// and exits 0, so that a loop around it keeps polling. With <c>--checkout --loop</c> it keeps taking tasks itself: each
/// success is completed and the agent's next task claimed in the same request (<c>next</c>, eager dispatch), so a busy
/// agent makes one request per task fewer; it checks out (waiting <c>--wait</c>) only when no next task came back, and
/// exits 0 once none arrives in time. A failing command fails its task and the loop goes on; a command that cannot be
/// found or started, an interruption or an unreachable server end it. Exit codes: the command's own; 127 (126) when it cannot be
/// found (started); <see cref="ExitCodes.LeaseLost"/> when the task was cancelled or its lease lost while the command ran;
/// 130 when interrupted; <see cref="ExitCodes.BadUsage"/> for bad options or credentials; <see cref="ExitCodes.Unavailable"/>
/// when the server cannot be reached.
/// </remarks>
public static class RunCommand
{
    public static Command Create()
    {
        var server = new Option<string?>("--server") { Description = "The Clarity server URL (env CLARITY_SERVER)." };
        var key = new Option<string?>("--key") { Description = "API key (env CLARITY_KEY)." };
        var org = new Option<string?>("--org") { Description = "Org slug (env CLARITY_ORG)." };
        var queue = new Option<string?>("--queue") { Description = "The queue of the task." };
        var title = new Option<string?>("--title") { Description = "Task title (default: the command line)." };
        var checkout = new Option<bool>("--checkout") { Description = "Take the next task from the queue instead of creating one; the command gets its input in CLARITY_TASK_INPUT." };
        var agent = new Option<string?>("--agent") { Description = "Agent name (default: run@<machine name>)." };
        var labels = new Option<string?>("--labels") { Description = "Comma-separated labels: the task's (without --checkout) and the agent's." };
        var loop = new Option<bool>("--loop") { Description = "With --checkout: keep taking tasks, each success completed and the next task claimed in one request; exits 0 when none arrives within --wait." };
        var wait = new Option<int>("--wait") { Description = "With --checkout: seconds to wait for a task; when none arrives, prints \"no task\" and exits 0.", DefaultValueFactory = _ => 30 };
        var command = new Argument<string[]>("command") { Description = "The command and its arguments, after --.", Arity = ArgumentArity.ZeroOrMore };

        var run = new Command("run", "Run a command as an agent task: stream its output as logs and report its exit code.\n"
            + "Example: clarity run --server URL --key KEY --org ORG --queue builds -- make test");
        foreach (var option in new Option[] { server, key, org, queue, title, checkout, loop, agent, labels, wait })
        {
            run.Options.Add(option);
        }

        run.Arguments.Add(command);
        run.SetAction(async (result, ct) =>
        {
            var settings = new RunSettings(
                Server: result.GetValue(server) ?? Env("CLARITY_SERVER"),
                Key: result.GetValue(key) ?? Env("CLARITY_KEY"),
                Org: result.GetValue(org) ?? Env("CLARITY_ORG"),
                Queue: result.GetValue(queue),
                Title: result.GetValue(title),
                Checkout: result.GetValue(checkout),
                Loop: result.GetValue(loop),
                Agent: result.GetValue(agent) ?? "run@" + Environment.MachineName,
                Labels: (result.GetValue(labels) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                WaitSeconds: result.GetValue(wait),
                Command: result.GetValue(command) ?? []);
            return await RunAsync(settings, ct);
        });
        return run;
    }

    private sealed record RunSettings(
        string? Server, string? Key, string? Org, string? Queue, string? Title, bool Checkout, bool Loop, string Agent, string[] Labels, int WaitSeconds, string[] Command);

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;

    private static async Task<int> RunAsync(RunSettings s, CancellationToken ct)
    {
        if (Validate(s) is { } problem)
        {
            await Console.Error.WriteLineAsync("clarity: " + problem);
            return ExitCodes.BadUsage;
        }

        using var client = new ClarityClient(new Uri(s.Server!), s.Key, s.Org);
        var (lease, failed) = await TryAcquireAsync(s, () => AcquireAsync(client, s, ct), ct);
        if (lease is null)
        {
            return failed ?? await NoTaskAsync(s, ran: 0);
        }

        if (!s.Loop)
        {
            return await new TaskRun(client, lease, s.Command, next: null).RunAsync(ct);
        }

        // The loop: each success hands back the agent's next task; a checkout (with its wait) only when none came back.
        var next = new NextTaskRequest([s.Queue!], s.Labels);
        for (var ran = 1; ; ran++)
        {
            var run = new TaskRun(client, lease, s.Command, next);
            var exitCode = await run.RunAsync(ct);
            if (ct.IsCancellationRequested || exitCode is ExitCodes.CommandNotFound or ExitCodes.CommandNotExecutable)
            {
                return exitCode;
            }

            (lease, failed) = run.Next is { } handedOver
                ? (handedOver, null)
                : await TryAcquireAsync(s, () => AcquireAsync(client, s, ct), ct);
            if (lease is null)
            {
                return failed ?? await NoTaskAsync(s, ran);
            }
        }
    }

    /// <summary>Gets a lease, or the exit code that reports why the server could not give one (null: no task arrived in time).</summary>
    private static async Task<(Lease? Lease, int? ExitCode)> TryAcquireAsync(RunSettings s, Func<Task<Lease?>> acquire, CancellationToken ct)
    {
        try
        {
            return (await acquire(), null);
        }
        catch (ClarityApiException ex)
        {
            await Console.Error.WriteLineAsync($"clarity: {s.Server} refused: {Describe(ex)}");
            return (null, (int)ex.StatusCode is >= 400 and < 500 ? ExitCodes.BadUsage : ExitCodes.Failure);
        }
        catch (Exception ex) when (ex is HttpRequestException or TimeoutException)
        {
            await Console.Error.WriteLineAsync($"clarity: cannot reach {s.Server}: {ex.Message}");
            return (null, ExitCodes.Unavailable);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return (null, ExitCodes.Interrupted);
        }
    }

    private static async Task<int> NoTaskAsync(RunSettings s, int ran)
    {
        await Console.Error.WriteLineAsync(!s.Checkout
            ? "clarity: the new task was taken by another agent before it could be checked out."
            : s.Loop
                ? $"clarity: no task in queue '{s.Queue}' within {s.WaitSeconds} s; ran {ran} task(s)."
                : $"clarity: no task in queue '{s.Queue}' within {s.WaitSeconds} s.");
        return s.Checkout ? ExitCodes.Ok : ExitCodes.Failure;
    }

    private static string? Validate(RunSettings s)
    {
        if (string.IsNullOrWhiteSpace(s.Server))
        {
            return "--server is required (or set CLARITY_SERVER).";
        }

        if (!Uri.TryCreate(s.Server, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            return $"--server must be an http or https URL, not '{s.Server}'.";
        }

        if (string.IsNullOrWhiteSpace(s.Key))
        {
            return "--key is required (or set CLARITY_KEY).";
        }

        if (string.IsNullOrWhiteSpace(s.Org))
        {
            return "--org is required (or set CLARITY_ORG).";
        }

        if (string.IsNullOrWhiteSpace(s.Queue))
        {
            return "--queue is required.";
        }

        if (s.Loop && !s.Checkout)
        {
            return "--loop works with --checkout only.";
        }

        if (s.WaitSeconds < 0)
        {
            return "--wait must be zero or more seconds.";
        }

        return s.Command.Length == 0 || string.IsNullOrWhiteSpace(s.Command[0])
            ? "no command to run; put it after --, e.g. clarity run --queue builds -- make test"
            : null;
    }

    /// <summary>Creates the task and checks out exactly it, or (with --checkout) takes the next task from the queue.</summary>
    private static async Task<Lease?> AcquireAsync(ClarityClient client, RunSettings s, CancellationToken ct)
    {
        if (s.Checkout)
        {
            return await client.CheckoutAsync(new CheckoutRequest(s.Agent, [s.Queue!], s.Labels, WaitSeconds: s.WaitSeconds), ct);
        }

        var commandLine = string.Join(' ', s.Command.Select(Quote));
        var title = s.Title ?? (commandLine.Length <= 200 ? commandLine : commandLine[..199] + "…");
        var input = new { command = s.Command[0], args = s.Command[1..], cwd = Environment.CurrentDirectory };
        var task = await client.CreateTaskAsync(new CreateTaskRequest(s.Queue!, title, input, s.Labels), ct);
        return await client.CheckoutAsync(new CheckoutRequest(s.Agent, [s.Queue!], s.Labels, TaskId: task.Id), ct);
    }

    private static string Quote(string arg) =>
        arg.Length > 0 && arg.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,@%+".Contains(c)) ? arg : "'" + arg.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    internal static string Describe(ClarityApiException ex) => ex.StatusCode switch
    {
        HttpStatusCode.Unauthorized => "the key was not accepted (401). Check --key.",
        HttpStatusCode.Forbidden => $"the key may not do this (403): {ex.Detail}",
        HttpStatusCode.NotFound => $"not found (404): {ex.Detail} Check --org and --server.",
        _ => $"{(int)ex.StatusCode} {ex.Problem ?? ex.Title}: {ex.Detail ?? ex.Title}",
    };

    /// <summary>One checked-out task running one child process.</summary>
    /// <param name="next">When set, a success is completed with <c>next</c>: the agent's next task comes back in the same answer.</param>
    private sealed class TaskRun(ClarityClient client, Lease lease, string[] command, NextTaskRequest? next)
    {
        private const int MaxOutputBytes = 1024 * 1024;

        private readonly Guid _taskId = lease.Task.Id;

        /// <summary>Where the command may write its output as a JSON object (CLARITY_OUTPUT); a fresh name per task, removed afterwards.</summary>
        private readonly string _outputFile = Path.Combine(Path.GetTempPath(), $"clarity-output-{lease.Task.Id:N}.json");
        private Process? _process;
        private volatile string? _leaseLost;

        /// <summary>The agent's next task, handed over by the complete (only when <c>next</c> was asked for and a task was waiting).</summary>
        public Lease? Next { get; private set; }

        public async Task<int> RunAsync(CancellationToken ct)
        {
            var logs = new RunLogShipper(client, _taskId);
            try
            {
                _process = Process.Start(StartInfo());
                if (_process is null)
                {
                    throw new Win32Exception($"could not start '{command[0]}'.");
                }
            }
            catch (Win32Exception ex)
            {
                var notFound = ex.NativeErrorCode == 2; // ENOENT
                var error = notFound ? $"command not found: {command[0]}" : $"cannot start {command[0]}: {ex.Message}";
                await Console.Error.WriteLineAsync("clarity: " + error);
                logs.Add(error, "stderr", LogLevels.Error);
                await logs.CompleteAsync();
                await FinishAsync(() => client.FailTaskAsync(_taskId, lease.LeaseToken, error, retryable: false, CancellationToken.None));
                return notFound ? ExitCodes.CommandNotFound : ExitCodes.CommandNotExecutable;
            }

            using var process = _process;
            using var stopHeartbeats = new CancellationTokenSource();
            var heartbeats = HeartbeatAsync(stopHeartbeats.Token);
            var stdout = PumpAsync(process.StandardOutput, Console.Out, "stdout", LogLevels.Info, logs);
            var stderr = PumpAsync(process.StandardError, Console.Error, "stderr", LogLevels.Info, logs);
            using (ct.Register(Kill))
            {
                await process.WaitForExitAsync(CancellationToken.None);
                await Task.WhenAll(stdout, stderr);
            }

            await stopHeartbeats.CancelAsync();
            await heartbeats;
            await logs.CompleteAsync();

            if (_leaseLost is { } reason)
            {
                await Console.Error.WriteLineAsync($"clarity: stopped the command: {reason}");
                return ExitCodes.LeaseLost;
            }

            if (ct.IsCancellationRequested)
            {
                await FinishAsync(() => client.FailTaskAsync(_taskId, lease.LeaseToken, "interrupted", retryable: true, CancellationToken.None));
                return ExitCodes.Interrupted;
            }

            var exitCode = process.ExitCode;
            var (output, outputError) = exitCode == 0 ? ReadOutput(exitCode) : (null, null);
            if (outputError is not null)
            {
                await Console.Error.WriteLineAsync("clarity: " + outputError);
                await FinishAsync(() => client.FailTaskAsync(_taskId, lease.LeaseToken, outputError, retryable: false, CancellationToken.None));
                return ExitCodes.BadOutput;
            }

            var finished = exitCode == 0
                ? await FinishAsync(() => CompleteAsync(output!))
                : await FinishAsync(() => client.FailTaskAsync(_taskId, lease.LeaseToken, $"exit code {exitCode}", retryable: false, CancellationToken.None));
            return finished ? exitCode : ExitCodes.LeaseLost;
        }

        /// <summary>
        /// The task's output: <c>{exitCode}</c>, merged into the JSON object the command wrote to the file named by
        /// <c>CLARITY_OUTPUT</c>, if it wrote one (a workflow's later steps read it as <c>steps.&lt;id&gt;.output</c>).
        /// </summary>
        private (JsonObject? Output, string? Error) ReadOutput(int exitCode)
        {
            try
            {
                var file = new FileInfo(_outputFile);
                if (!file.Exists || file.Length == 0)
                {
                    return (new JsonObject { ["exitCode"] = exitCode }, null);
                }

                if (file.Length > MaxOutputBytes)
                {
                    return (null, $"the output file (CLARITY_OUTPUT) holds {file.Length} bytes; at most {MaxOutputBytes} are allowed.");
                }

                if (JsonNode.Parse(File.ReadAllText(_outputFile)) is not JsonObject written)
                {
                    return (null, "the output file (CLARITY_OUTPUT) must hold one JSON object.");
                }

                written.TryAdd("exitCode", exitCode);
                return (written, null);
            }
            catch (JsonException ex)
            {
                return (null, "the output file (CLARITY_OUTPUT) is not valid JSON: " + ex.Message);
            }
            finally
            {
                File.Delete(_outputFile);
            }
        }

        private async Task<AgentTask> CompleteAsync(JsonObject output)
        {
            if (next is null)
            {
                return await client.CompleteTaskAsync(_taskId, lease.LeaseToken, output, CancellationToken.None);
            }

            var completed = await client.CompleteAndCheckoutAsync(_taskId, lease.LeaseToken, output, next, CancellationToken.None);
            Next = completed.Next;
            return completed.Task;
        }

        private ProcessStartInfo StartInfo()
        {
            var info = new ProcessStartInfo(command[0])
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var arg in command.Skip(1))
            {
                info.ArgumentList.Add(arg);
            }

            info.Environment["CLARITY_TASK_ID"] = _taskId.ToString();
            info.Environment["CLARITY_TASK_INPUT"] = lease.Task.Input is { } input ? input.GetRawText() : "null";
            info.Environment["CLARITY_LEASE_TOKEN"] = lease.LeaseToken;
            info.Environment["CLARITY_OUTPUT"] = _outputFile;
            return info;
        }

        /// <summary>Echoes each line of the command's output and queues it as a log line.</summary>
        private static async Task PumpAsync(StreamReader source, TextWriter echo, string stream, string level, RunLogShipper logs)
        {
            var echoing = true;
            while (await source.ReadLineAsync() is { } line)
            {
                logs.Add(line, stream, level);
                if (echoing)
                {
                    try
                    {
                        await echo.WriteLineAsync(line);
                    }
                    catch (IOException)
                    {
                        echoing = false; // our own output was closed (e.g. piped into head): keep logging
                    }
                }
            }
        }

        /// <summary>Heartbeats every third of the lease. When the lease is gone (task cancelled, or given away) it kills the command.</summary>
        private async Task HeartbeatAsync(CancellationToken stop)
        {
            var every = (lease.LeaseExpiresAt - DateTimeOffset.UtcNow) / 3;
            if (every < TimeSpan.FromSeconds(1))
            {
                every = TimeSpan.FromSeconds(1);
            }

            using var timer = new PeriodicTimer(every);
            try
            {
                while (await timer.WaitForNextTickAsync(stop))
                {
                    try
                    {
                        await client.HeartbeatAsync(_taskId, lease.LeaseToken, stop);
                    }
                    catch (ClarityApiException ex) when (ex.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.NotFound)
                    {
                        _leaseLost = ex.Detail ?? "the task's lease is gone.";
                        Kill();
                        return;
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TimeoutException or ClarityApiException)
                    {
                        await Console.Error.WriteLineAsync($"clarity: heartbeat failed, will retry: {ex.Message}");
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // The command exited.
            }
        }

        private void Kill()
        {
            try
            {
                _process?.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already exited.
            }
        }

        /// <summary>Reports the outcome; false when the task was no longer ours to finish (cancelled meanwhile, lease lost).</summary>
        private static async Task<bool> FinishAsync(Func<Task<AgentTask>> report)
        {
            try
            {
                await report();
                return true;
            }
            catch (ClarityApiException ex) when (ex.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.NotFound)
            {
                await Console.Error.WriteLineAsync($"clarity: could not report the result: {ex.Detail ?? ex.Message}");
                return false;
            }
            catch (Exception ex) when (ex is HttpRequestException or TimeoutException or ClarityApiException)
            {
                await Console.Error.WriteLineAsync($"clarity: could not report the result: {ex.Message}");
                return false;
            }
        }
    }
}
