using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using Clarity.Bench.Harness;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// #17: the server's memory (resident set, <c>VmRSS</c>), with the server in its own process and fresh, no warm-up load:
/// idle after first-run setup; with 1,000 agents long-polling <c>POST …/work/checkout</c> at once (each on its own
/// connection); and, on a second fresh server, with 1,000 WebSocket stream subscribers. Each step's cost per connection
/// is the RSS with all of them connected minus the RSS just before the step (after a few unreported ones), over 1,000. The long-poll step ends by creating 1,000 tasks, and fails
/// unless every waiting agent is handed one: the agents really were waiting, and none had given up before.
/// </summary>
public static class MemoryBench
{
    public const string Name = "17. Memory: idle, 1,000 agents long-polling, 1,000 stream subscribers";
    private const string Queue = "memory";

    /// <summary>How long a step's connections are left to settle before the server's RSS is read.</summary>
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(10);

    /// <summary>What one fresh server measures: its idle RSS and then either step, never both (the first would leave
    /// pooled memory behind that the second reuses, and understate it).</summary>
    public enum Step
    {
        LongPolls,
        Subscribers,
    }

    public static async Task RunAsync(BenchServer server, BenchOptions options, Report report, Step step)
    {
        var connections = options.Quick ? 200 : 1000;
        var b = server.Backend;
        await Task.Delay(TimeSpan.FromSeconds(5));
        if (step == Step.Subscribers)
        {
            // A few first, unreported: the code they run is compiled once, and that is not a cost per connection.
            await SubscribeAsync(server, Warm);
            await Task.Delay(TimeSpan.FromSeconds(5));
            var (unsubscribed, subscribed) = await SubscribeAsync(server, connections);
            report.Add(Name, b, $"RSS with {connections:N0} stream subscribers", subscribed / 1024.0, "MB",
                notes: $"{(subscribed - unsubscribed) / 1024.0:F1} MB over the {unsubscribed / 1024.0:F1} MB just before (another fresh server); WebSocket, subscribed to tasks");
            report.Add(Name, b, "memory per stream subscriber", (subscribed - unsubscribed) / (double)connections, "KB");
            return;
        }

        report.Add(Name, b, "RSS idle", server.ServerRssKb / 1024.0, "MB", notes: "fresh server process after first-run setup, no load; server GC");

        // One connection per waiting agent, as 1,000 agent processes would have.
        using var http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections + 16,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            UseCookies = false,
        })
        {
            BaseAddress = server.BaseAddress,
            Timeout = TimeSpan.FromSeconds(120),
        };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", server.ApiKey);
        var api = new AgentApi(http);

        await LongPollAsync(server, api, Warm, "warm");
        await Task.Delay(TimeSpan.FromSeconds(5));
        var (before, polling, waitingCpu) = await LongPollAsync(server, api, connections, "waiting");
        report.Add(Name, b, $"RSS with {connections:N0} agents long-polling", polling / 1024.0, "MB",
            notes: $"{(polling - before) / 1024.0:F1} MB over the {before / 1024.0:F1} MB just before; all {connections:N0} then handed a task");
        report.Add(Name, b, "memory per long-polling agent", (polling - before) / (double)connections, "KB",
            notes: $"server CPU while they wait: {100 * waitingCpu:F1} % of one core (each waiter looks again every 2 s)");
    }

    /// <summary>How many long-polls and subscribers run first, unreported.</summary>
    private const int Warm = 20;

    /// <summary>
    /// <paramref name="count"/> agents long-poll at once; the server's RSS before and while they wait, and its CPU (in cores)
    /// while they wait. Then a task for each, and every one must be handed one.
    /// </summary>
    private static async Task<(long Before, long Waiting, double Cpu)> LongPollAsync(BenchServer server, AgentApi api, int count, string prefix)
    {
        var before = server.ServerRssKb;
        var polls = Enumerable.Range(0, count).Select(i => api.CheckoutAsync($"{prefix}-{i}", Queue, 60)).ToArray();
        await Task.Delay(Settle);
        var cpu0 = server.ServerCpu!.Value;
        var t0 = Stopwatch.GetTimestamp();
        await Task.Delay(TimeSpan.FromSeconds(5));
        var cpu = (server.ServerCpu!.Value - cpu0).TotalMilliseconds / Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        var waiting = server.ServerRssKb;
        var early = polls.Count(p => p.IsCompleted);
        if (early > 0)
        {
            throw new InvalidOperationException($"{early} of {count} long-polls ended before any task existed: the measurement is void.");
        }

        await Task.WhenAll(Enumerable.Range(0, count).Select(i => api.CreateTaskAsync(Queue, $"{prefix} {i}")));
        var claimed = await Task.WhenAll(polls).WaitAsync(TimeSpan.FromSeconds(60));
        var handed = claimed.Count(c => c is not null);
        if (handed != count)
        {
            throw new InvalidOperationException($"Only {handed} of {count} waiting agents were handed a task.");
        }

        return (before, waiting, cpu);
    }

    /// <summary><paramref name="count"/> WebSocket stream subscribers at once; the server's RSS before and with all subscribed. Closed after.</summary>
    private static async Task<(long Before, long Subscribed)> SubscribeAsync(BenchServer server, int count)
    {
        var uri = new Uri(server.BaseAddress.ToString().Replace("http://", "ws://", StringComparison.Ordinal) + BenchServer.Api("stream"));
        var before = server.ServerRssKb;
        var opening = new List<Task<ClientWebSocket>>(count);
        using var gate = new SemaphoreSlim(64);
        for (var i = 0; i < count; i++)
        {
            opening.Add(SubscribeAsync(uri, server.ApiKey, gate));
        }

        try
        {
            await Task.WhenAll(opening);
            await Task.Delay(Settle);
            return (before, server.ServerRssKb);
        }
        finally
        {
            foreach (var socket in opening.Where(o => o.IsCompletedSuccessfully).Select(o => o.Result))
            {
                socket.Abort();
                socket.Dispose();
            }
        }
    }

    private static async Task<ClientWebSocket> SubscribeAsync(Uri uri, string apiKey, SemaphoreSlim gate)
    {
        await gate.WaitAsync();
        try
        {
            var socket = new ClientWebSocket();
            socket.Options.SetRequestHeader("Authorization", "Bearer " + apiKey);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await socket.ConnectAsync(uri, timeout.Token);
            await socket.SendAsync("{\"type\":\"subscribe\",\"topics\":[\"tasks\"]}"u8.ToArray(), WebSocketMessageType.Text, true, timeout.Token);
            var buffer = new byte[4096];
            while (true)
            {
                var received = await socket.ReceiveAsync(buffer, timeout.Token);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    throw new InvalidOperationException($"The stream closed before subscribing: {socket.CloseStatus} {socket.CloseStatusDescription}");
                }

                if (Encoding.UTF8.GetString(buffer, 0, received.Count).Contains("\"subscribed\"", StringComparison.Ordinal))
                {
                    return socket;
                }
            }
        }
        finally
        {
            gate.Release();
        }
    }
}
