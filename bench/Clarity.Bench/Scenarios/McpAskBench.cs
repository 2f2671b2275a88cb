using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Bench.Harness;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// #15: what MCP adds to a question's round trip. One agent asks, one person answers at once, and the sample is the time
/// from the agent sending its question to the agent holding the answer:
/// - REST: POST …/tasks/{id}/clarifications, then GET …/clarifications/{id}?waitSeconds=30 (the long poll that returns
///   with the answer);
/// - MCP: one tools/call of ask_human (wait) over Streamable HTTP, by the official C# SDK's client in a 2025-11-25
///   session (the question on the session's own task).
/// The person is the same loop for both: it lists the pending questions (GET …/clarifications?status=pending) as fast as
/// it can and answers each one it finds with its sign-in token. Asks alternate between the two paths, one at a time,
/// so both meet the same server state.
/// </summary>
public static class McpAskBench
{
    public const string Name = "15. ask_human over MCP vs the same round trip over REST";

    public static async Task RunAsync(BenchServer server, BenchOptions options, Report report)
    {
        using var stop = new CancellationTokenSource();
        var answerer = Task.Run(() => AnswerAsync(server, stop.Token));

        var api = new AgentApi(server.Http);
        var queue = "mcp-bench";
        await api.CreateTaskAsync(queue, "rest asker");
        var lease = await api.CheckoutAsync("rest-asker", queue, 5) ?? throw new InvalidOperationException("no task for the REST asker");

        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(server.BaseAddress, "mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + server.ApiKey },
        });
        await using var mcp = await McpClient.CreateAsync(transport, new McpClientOptions
        {
            ClientInfo = new Implementation { Name = "bench-agent", Version = "1" },
            ProtocolVersion = "2025-11-25",
        });
        await mcp.ListToolsAsync();

        var rest = new Samples();
        var viaMcp = new Samples();
        var samples = options.Quick ? 50 : 300;
        var warmup = options.Quick ? 10 : 30;
        for (var i = 0; i < warmup + samples; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            await AskOverRestAsync(server, lease, $"rest {i}");
            if (i >= warmup)
            {
                rest.AddSince(t0);
            }

            t0 = Stopwatch.GetTimestamp();
            var result = await mcp.CallToolAsync("ask_human", new Dictionary<string, object?> { ["question"] = $"mcp {i}" });
            if (result.IsError == true || result.StructuredContent?.GetProperty("status").GetString() != "answered")
            {
                throw new InvalidOperationException("ask_human did not come back answered: " + result.StructuredContent);
            }

            if (i >= warmup)
            {
                viaMcp.AddSince(t0);
            }
        }

        await stop.CancelAsync();
        await answerer;

        var b = server.Backend;
        report.Add(Name, b, "REST ask → answered → returned, p50", rest.Percentile(50), "ms", notes: $"{rest.Count} samples; p99 {Report.Format(rest.Percentile(99))} ms");
        report.Add(Name, b, "MCP ask_human → answered → returned, p50", viaMcp.Percentile(50), "ms", notes: $"{viaMcp.Count} samples; p99 {Report.Format(viaMcp.Percentile(99))} ms");
        report.Add(Name, b, "MCP overhead, p50 / p99", viaMcp.Percentile(50) - rest.Percentile(50), "ms",
            notes: $"p99 {Report.Format(viaMcp.Percentile(99) - rest.Percentile(99))} ms");
    }

    private static async Task AskOverRestAsync(BenchServer server, AgentApi.Claimed lease, string question)
    {
        using var asked = await server.Http.PostAsync(BenchServer.Api($"tasks/{lease.Id}/clarifications"),
            BenchServer.Json(new { leaseToken = lease.LeaseToken, question }));
        var id = (await BenchServer.ReadJsonAsync(asked)).GetProperty("id").GetString();
        while (true)
        {
            using var got = await server.Http.GetAsync(BenchServer.Api($"clarifications/{id}?waitSeconds=30"));
            if ((await BenchServer.ReadJsonAsync(got)).GetProperty("status").GetString() != "pending")
            {
                return;
            }
        }
    }

    /// <summary>The person: lists the pending questions and answers each one at once, until stopped.</summary>
    private static async Task AnswerAsync(BenchServer server, CancellationToken ct)
    {
        using var person = new HttpClient { BaseAddress = server.BaseAddress };
        person.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", server.OwnerToken);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var page = await person.GetFromJsonAsync<JsonElement>(BenchServer.Api("clarifications?status=pending&limit=10"), ct);
                foreach (var item in page.GetProperty("items").EnumerateArray())
                {
                    using var answered = await person.PostAsync(BenchServer.Api($"clarifications/{item.GetProperty("id").GetString()}/answer"),
                        BenchServer.Json(new { answer = "yes" }), ct);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
        }
    }
}
