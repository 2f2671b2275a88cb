using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit;

namespace Clarity.Tests.Infrastructure;

/// <summary>Small helpers for the task API, so tests read as the behaviour they check.</summary>
public static class Work
{
    /// <summary>A name no other test uses (queues, agents, slugs, search words).</summary>
    public static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..10];

    /// <summary>A word of letters only, so that both full-text engines see it as one token.</summary>
    public static string UniqueWord(string prefix) =>
        prefix + new string(Guid.NewGuid().ToString("N").Select(c => (char)('a' + (Convert.ToInt32(c.ToString(), 16) % 26))).ToArray());

    public static string Str(this JsonElement json, string property) => json.GetProperty(property).GetString()!;

    public static int Int(this JsonElement json, string property) => json.GetProperty(property).GetInt32();

    /// <summary>True when the property is null or left out (the API omits null properties).</summary>
    public static bool IsNull(this JsonElement json, string property) =>
        !json.TryGetProperty(property, out var value) || value.ValueKind == JsonValueKind.Null;

    /// <summary>The string property, or null when it is null or left out.</summary>
    public static string? OptStr(this JsonElement json, string property) => json.IsNull(property) ? null : json.Str(property);

    public static Task<JsonElement> CreateTaskAsync(this HttpClient client, OrgSession org, object body) =>
        client.PostAsJsonAsync(org.Api("tasks"), body).ExpectAsync(HttpStatusCode.Created);

    public static Task<HttpResponseMessage> CheckoutAsync(this HttpClient client, OrgSession org, string agent, string queue, int waitSeconds = 0, int? leaseSeconds = null, string[]? labels = null) =>
        client.PostAsJsonAsync(org.Api("work/checkout"), new { agent, queues = new[] { queue }, waitSeconds, leaseSeconds, labels });

    /// <summary>Checks out the next task of the queue and asserts there was one.</summary>
    public static async Task<Lease> CheckoutTaskAsync(this HttpClient client, OrgSession org, string agent, string queue, int? leaseSeconds = null, string[]? labels = null)
    {
        var json = await client.CheckoutAsync(org, agent, queue, 0, leaseSeconds, labels).ExpectAsync(HttpStatusCode.OK);
        return new Lease(json.GetProperty("task"), json.Str("leaseToken"), json.GetProperty("leaseExpiresAt").GetDateTimeOffset());
    }

    /// <summary>Creates a task in its own queue and checks it out: a running task and its lease.</summary>
    public static async Task<Lease> StartTaskAsync(this HttpClient client, OrgSession org, object? extra = null, int? leaseSeconds = null)
    {
        var queue = Unique("q");
        var body = new Dictionary<string, object?> { ["queue"] = queue, ["title"] = "work" };
        foreach (var p in extra?.GetType().GetProperties() ?? [])
        {
            body[p.Name] = p.GetValue(extra);
        }

        await client.CreateTaskAsync(org, body);
        return await client.CheckoutTaskAsync(org, Unique("agent"), queue, leaseSeconds);
    }

    /// <summary>The org's agent with this name, read page by page from GET …/agents; null when there is none.</summary>
    public static async Task<JsonElement?> FindAgentAsync(this HttpClient client, OrgSession org, string name)
    {
        string? cursor = null;
        do
        {
            var page = await client.GetAsync(org.Api("agents?limit=200" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor)))).ExpectAsync(HttpStatusCode.OK);
            foreach (var agent in page.GetProperty("items").EnumerateArray())
            {
                if (agent.Str("name") == name)
                {
                    return agent;
                }
            }

            cursor = page.OptStr("nextCursor");
        }
        while (cursor is not null);
        return null;
    }

    public static Task<JsonElement> GetTaskAsync(this HttpClient client, OrgSession org, string id) =>
        client.GetAsync(org.Api($"tasks/{id}")).ExpectAsync(HttpStatusCode.OK);

    /// <summary>Polls the task until <paramref name="done"/> holds (the sweeps run in the background) or a generous deadline passes.</summary>
    public static async Task<JsonElement> WaitForTaskAsync(this HttpClient client, OrgSession org, string id, Func<JsonElement, bool> done, string what)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        while (true)
        {
            var task = await client.GetTaskAsync(org, id);
            if (done(task))
            {
                return task;
            }

            Assert.True(DateTimeOffset.UtcNow < deadline, $"Gave up waiting for the task to be {what}; it is: {task}");
            await Task.Delay(100);
        }
    }

    public static Task<JsonElement> WaitForStatusAsync(this HttpClient client, OrgSession org, string id, string status) =>
        client.WaitForTaskAsync(org, id, t => t.Str("status") == status, status);

    /// <summary>Waits until the wall clock has passed <paramref name="moment"/> (for leases that must have expired).</summary>
    public static async Task PassAsync(DateTimeOffset moment)
    {
        while (DateTimeOffset.UtcNow <= moment)
        {
            await Task.Delay(moment - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(20));
        }
    }
}

/// <summary>A checked-out task and the lease that fences its completion.</summary>
public sealed record Lease(JsonElement Task, string Token, DateTimeOffset ExpiresAt)
{
    public string TaskId => Task.Str("id");
}
