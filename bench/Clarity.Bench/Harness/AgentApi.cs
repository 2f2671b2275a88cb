using System.Net;
using System.Text.Json;

namespace Clarity.Bench.Harness;

/// <summary>The few calls an agent makes, over plain HttpClient with small hand-built JSON bodies. Counts requests.</summary>
public sealed class AgentApi(HttpClient http)
{
    private long _requests;

    public long Requests => Interlocked.Read(ref _requests);

    public HttpClient Http => http;

    public sealed record Claimed(Guid Id, string Title, string LeaseToken);

    public async Task<Guid> CreateTaskAsync(string queue, string title, CancellationToken ct = default)
    {
        using var response = await SendAsync(HttpMethod.Post, BenchServer.Api("tasks"), $"{{\"queue\":\"{queue}\",\"title\":\"{title}\"}}", ct);
        await BenchServer.ExpectAsync(response, HttpStatusCode.Created);
        return (await BenchServer.ReadJsonAsync(response)).GetProperty("id").GetGuid();
    }

    /// <summary>Checks out the next task from <paramref name="queue"/>, long-polling up to <paramref name="waitSeconds"/>; null on 204.</summary>
    public async Task<Claimed?> CheckoutAsync(string agent, string queue, int waitSeconds, CancellationToken ct = default)
    {
        using var response = await SendAsync(HttpMethod.Post, BenchServer.Api("work/checkout"), $"{{\"agent\":\"{agent}\",\"queues\":[\"{queue}\"],\"waitSeconds\":{waitSeconds}}}", ct);
        if (response.StatusCode == HttpStatusCode.NoContent)
        {
            return null;
        }

        await BenchServer.ExpectAsync(response, HttpStatusCode.OK);
        var body = await BenchServer.ReadJsonAsync(response);
        var task = body.GetProperty("task");
        return new Claimed(task.GetProperty("id").GetGuid(), task.GetProperty("title").GetString()!, body.GetProperty("leaseToken").GetString()!);
    }

    /// <summary>Checks out up to <paramref name="maxTasks"/> tasks from <paramref name="queue"/> in one request (batch checkout), long-polling up to <paramref name="waitSeconds"/>; empty on 204.</summary>
    public async Task<IReadOnlyList<Claimed>> CheckoutManyAsync(string agent, string queue, int maxTasks, int waitSeconds, CancellationToken ct = default)
    {
        using var response = await SendAsync(HttpMethod.Post, BenchServer.Api("work/checkout"),
            $"{{\"agent\":\"{agent}\",\"queues\":[\"{queue}\"],\"waitSeconds\":{waitSeconds},\"maxTasks\":{maxTasks}}}", ct);
        if (response.StatusCode == HttpStatusCode.NoContent)
        {
            return [];
        }

        await BenchServer.ExpectAsync(response, HttpStatusCode.OK);
        var leases = (await BenchServer.ReadJsonAsync(response)).GetProperty("leases");
        var claimed = new List<Claimed>(leases.GetArrayLength());
        foreach (var lease in leases.EnumerateArray())
        {
            var task = lease.GetProperty("task");
            claimed.Add(new Claimed(task.GetProperty("id").GetGuid(), task.GetProperty("title").GetString()!, lease.GetProperty("leaseToken").GetString()!));
        }

        return claimed;
    }

    public async Task<long> AppendLogsAsync(Guid taskId, string jsonArray, CancellationToken ct = default)
    {
        using var response = await SendAsync(HttpMethod.Post, BenchServer.Api($"tasks/{taskId}/logs"), jsonArray, ct);
        await BenchServer.ExpectAsync(response, HttpStatusCode.OK);
        return (await BenchServer.ReadJsonAsync(response)).GetProperty("count").GetInt64();
    }

    /// <summary>
    /// Appends as a patient agent would: on 503 (the database did not answer in time) it waits for Retry-After and sends
    /// again, up to 10 times. Returns the lines appended and the retries it took (a retried batch may have been stored twice).
    /// </summary>
    public async Task<(long Count, int Retries)> AppendLogsPatientlyAsync(Guid taskId, string jsonArray)
    {
        for (var retries = 0; ; retries++)
        {
            using var response = await SendAsync(HttpMethod.Post, BenchServer.Api($"tasks/{taskId}/logs"), jsonArray, CancellationToken.None);
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable && retries < 10)
            {
                await Task.Delay(response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1));
                continue;
            }

            await BenchServer.ExpectAsync(response, HttpStatusCode.OK);
            return ((await BenchServer.ReadJsonAsync(response)).GetProperty("count").GetInt64(), retries);
        }
    }

    public async Task CompleteAsync(Claimed claimed, CancellationToken ct = default)
    {
        using var response = await SendAsync(HttpMethod.Post, BenchServer.Api($"tasks/{claimed.Id}/complete"), $"{{\"leaseToken\":\"{claimed.LeaseToken}\",\"output\":{{\"ok\":true}}}}", ct);
        await BenchServer.ExpectAsync(response, HttpStatusCode.OK);
    }

    /// <summary>Completes the task and asks for the agent's next task from <paramref name="queue"/> in the same request (eager dispatch); null when none was waiting.</summary>
    public async Task<Claimed?> CompleteWithNextAsync(Claimed claimed, string queue, CancellationToken ct = default)
    {
        using var response = await SendAsync(HttpMethod.Post, BenchServer.Api($"tasks/{claimed.Id}/complete"),
            $"{{\"leaseToken\":\"{claimed.LeaseToken}\",\"output\":{{\"ok\":true}},\"next\":{{\"queues\":[\"{queue}\"]}}}}", ct);
        await BenchServer.ExpectAsync(response, HttpStatusCode.OK);
        var next = (await BenchServer.ReadJsonAsync(response)).GetProperty("next");
        if (next.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        var task = next.GetProperty("task");
        return new Claimed(task.GetProperty("id").GetGuid(), task.GetProperty("title").GetString()!, next.GetProperty("leaseToken").GetString()!);
    }

    /// <summary>Searches the org's logs (newest first) and returns the number of hits on the first page.</summary>
    public async Task<int> SearchAsync(string q, int limit = 20, CancellationToken ct = default)
    {
        Interlocked.Increment(ref _requests);
        using var response = await http.GetAsync(BenchServer.Api($"logs/search?q={Uri.EscapeDataString(q)}&limit={limit}"), ct);
        await BenchServer.ExpectAsync(response, HttpStatusCode.OK);
        var bytes = await response.Content.ReadAsByteArrayAsync(ct);
        using var doc = JsonDocument.Parse(bytes);
        return doc.RootElement.GetProperty("results").GetArrayLength();
    }

    private Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string json, CancellationToken ct)
    {
        Interlocked.Increment(ref _requests);
        var request = new HttpRequestMessage(method, path) { Content = BenchServer.JsonText(json) };
        return http.SendAsync(request, ct);
    }
}
