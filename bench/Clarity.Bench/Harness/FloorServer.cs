using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Clarity.Bench.Harness;

/// <summary>
/// The floor of #1 (scenario <c>floor</c>): a bare ASP.NET Core app, run as its own process
/// (<c>dotnet Clarity.Bench.dll floor-serve</c>), that answers the four requests of a task lifecycle on the same routes,
/// with the same request bodies and answers of the same shape as Clarity's, and keeps its tasks in memory: no database,
/// no middleware, no authentication, no events or audit. The same load generator runs against it as against Clarity, so
/// its lifecycles/s and CPU per request are what Kestrel, System.Text.Json, loopback TCP and the load generator cost on
/// this machine by themselves: the most any server on this stack could reach here. It is a measuring stick, not a peer.
/// </summary>
public static class FloorServer
{
    public const string Command = "floor-serve";

    private sealed record CreateTask(string Queue, string Title);

    private sealed record Checkout(string Agent, string[] Queues, int WaitSeconds, int? MaxTasks);

    private sealed record NextOptions(string[] Queues);

    private sealed record Complete(string LeaseToken, JsonElement Output, NextOptions? Next);

    private sealed record LogLine(string Text, string? Level, string? Stream);

    private sealed record TaskView(Guid Id, string Queue, string Title, string Status, DateTimeOffset CreatedAt, string? ClaimedBy);

    private sealed record LeaseView(TaskView Task, string LeaseToken, DateTimeOffset ExpiresAt);

    public static async Task<int> RunAsync()
    {
        var url = Environment.GetEnvironmentVariable("CLARITY_URLS") ?? "http://127.0.0.1:5099";
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(url);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.CamelCase);
        var app = builder.Build();

        var queues = new ConcurrentDictionary<string, Channel<TaskView>>(StringComparer.Ordinal);
        var leases = new ConcurrentDictionary<Guid, string>();
        Channel<TaskView> QueueOf(string name) => queues.GetOrAdd(name, _ => Channel.CreateUnbounded<TaskView>());

        LeaseView Lease(TaskView task, string agent)
        {
            var token = Guid.NewGuid().ToString("N");
            leases[task.Id] = token;
            return new LeaseView(task with { Status = "running", ClaimedBy = agent }, token, DateTimeOffset.UtcNow.AddMinutes(5));
        }

        app.MapGet("/api/v1/setup", () => Results.Ok(new { needed = false }));
        app.MapPost("/api/v1/orgs/{org}/tasks", (string org, CreateTask body) =>
        {
            var task = new TaskView(Guid.NewGuid(), body.Queue, body.Title, "queued", DateTimeOffset.UtcNow, null);
            QueueOf(body.Queue).Writer.TryWrite(task);
            return Results.Created($"/api/v1/orgs/{org}/tasks/{task.Id}", task);
        });
        app.MapPost("/api/v1/orgs/{org}/work/checkout", async (string org, Checkout body, CancellationToken ct) =>
        {
            var queue = QueueOf(body.Queues[0]);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
            wait.CancelAfter(TimeSpan.FromSeconds(body.WaitSeconds));
            try
            {
                var task = await queue.Reader.ReadAsync(wait.Token);
                return Results.Ok(Lease(task, body.Agent));
            }
            catch (OperationCanceledException)
            {
                return Results.NoContent();
            }
        });
        app.MapPost("/api/v1/orgs/{org}/tasks/{id:guid}/logs", (string org, Guid id, LogLine[] lines) =>
            Results.Ok(new { count = lines.Length, firstSeq = 1, lastSeq = lines.Length }));
        app.MapPost("/api/v1/orgs/{org}/tasks/{id:guid}/complete", (string org, Guid id, Complete body) =>
        {
            if (!leases.TryRemove(new KeyValuePair<Guid, string>(id, body.LeaseToken)))
            {
                return Results.Conflict();
            }

            var done = new TaskView(id, "", "", "succeeded", DateTimeOffset.UtcNow, null);
            LeaseView? next = body.Next is { } n && QueueOf(n.Queues[0]).Reader.TryRead(out var queued) ? Lease(queued, "agent") : null;
            return Results.Ok(new { task = done, next });
        });

        await app.RunAsync();
        return 0;
    }
}
