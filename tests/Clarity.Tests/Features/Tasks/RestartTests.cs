using System.Net;
using System.Net.Http.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Tasks;

/// <summary>State lives in the database: a new server on the same SQLite file or PostgreSQL database carries on.</summary>
public abstract class RestartTests(Backend backend) : IAsyncLifetime
{
    private ClarityHost _host = null!;

    public async Task InitializeAsync() =>
        // The first server sweeps once at start and then not for a minute, so a lease can only expire while it is down.
        _host = await ClarityHost.StartAsync(backend, new Dictionary<string, string?> { ["Clarity:Tasks:SweepIntervalMilliseconds"] = "60000" });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Restart_LeaseThatExpiredWhileServerWasDown_IsRequeuedBySweepAfterRestart()
    {
        var org = await _host.SetupAsync();
        var queue = Work.Unique("q");
        string id;
        Lease lease;
        using (var client = _host.CreateClient(org.MemberKey))
        {
            id = (await client.CreateTaskAsync(org, new { queue, title = "survives", input = new { n = 42 }, maxAttempts = 3 })).Str("id");
            await client.PostAsJsonAsync(org.Api($"tasks/{id}/logs"), new[] { new { text = "before the restart" } }).ExpectAsync(HttpStatusCode.OK);
            lease = await client.CheckoutTaskAsync(org, "agent-before", queue, leaseSeconds: 1);
        }

        await _host.RestartAsync(
            whileStopped: () => Work.PassAsync(lease.ExpiresAt.AddMilliseconds(500)),
            overrides: new Dictionary<string, string?> { ["Clarity:Tasks:SweepIntervalMilliseconds"] = "100" });

        using var after = _host.CreateClient(org.MemberKey);
        var requeued = await after.WaitForStatusAsync(org, id, "queued");
        Assert.Equal(1, requeued.Int("attempts"));
        Assert.Equal(42, requeued.GetProperty("input").Int("n"));
        await after.PostAsJsonAsync(org.Api($"tasks/{id}/complete"), new { leaseToken = lease.Token }).ExpectProblemAsync(HttpStatusCode.Conflict, "stale-lease");

        var again = await after.CheckoutTaskAsync(org, "agent-after", queue);
        Assert.Equal((id, 2), (again.TaskId, again.Task.Int("attempts")));
        var logs = await after.GetAsync(org.Api($"tasks/{id}/logs")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("before the restart", Assert.Single(logs.GetProperty("entries").EnumerateArray()).Str("text"));
        await after.PostAsJsonAsync(org.Api($"tasks/{id}/complete"), new { leaseToken = again.Token }).ExpectAsync(HttpStatusCode.OK);

        // The owner's session also survives: signing keys are stored in the database.
        using var owner = _host.CreateClient(org.OwnerToken);
        await owner.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
    }
}

public sealed class SqliteRestartTests() : RestartTests(Backend.Sqlite);

public sealed class PostgresRestartTests() : RestartTests(Backend.Postgres);
