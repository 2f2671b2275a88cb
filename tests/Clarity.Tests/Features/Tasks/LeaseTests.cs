using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Tasks;

public abstract class LeaseTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task Heartbeat_WithANewLeaseLength_ExtendsTheLease_SoTheTaskOutlivesItsFirstLease()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var lease = await client.StartTaskAsync(Org, leaseSeconds: 1);

        var beat = await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/heartbeat"), new { leaseToken = lease.Token, leaseSeconds = 60 }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("running", beat.Str("status"));
        var extended = beat.GetProperty("leaseExpiresAt").GetDateTimeOffset();
        Assert.True(extended > lease.ExpiresAt, $"The heartbeat did not extend the lease: {extended:O} <= {lease.ExpiresAt:O}");

        // Past the first lease's end, the task is still the agent's.
        await Work.PassAsync(lease.ExpiresAt.AddSeconds(1));
        var task = await client.GetTaskAsync(Org, lease.TaskId);
        Assert.Equal(("running", 1), (task.Str("status"), task.Int("attempts")));
        await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token }).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Heartbeat_ExtendsByTheLeaseLengthChosenAtCheckout()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var lease = await client.StartTaskAsync(Org, leaseSeconds: 3600);

        var beat = await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/heartbeat"), new { leaseToken = lease.Token }).ExpectAsync(HttpStatusCode.OK);
        var after = beat.GetProperty("leaseExpiresAt").GetDateTimeOffset();
        Assert.True(after >= lease.ExpiresAt, $"A heartbeat cut the one-hour lease short: {after:O} < {lease.ExpiresAt:O}");
        Assert.True(after > DateTimeOffset.UtcNow.AddMinutes(30), $"The heartbeat did not extend by the one-hour lease: {after:O}");
    }

    [Fact]
    public async Task ExpiredLease_RequeuedTaskGoesToAnAgentAlreadyWaiting()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        using var waiter = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var id = (await client.CreateTaskAsync(Org, new { queue, title = "t" })).Str("id");
        await client.CheckoutTaskAsync(Org, Work.Unique("dies"), queue, leaseSeconds: 1);

        var lease = await waiter.CheckoutAsync(Org, Work.Unique("waits"), queue, waitSeconds: 50).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal((id, 2), (lease.GetProperty("task").Str("id"), lease.GetProperty("task").Int("attempts")));
    }

    [Fact]
    public async Task ExpiredLease_RequeuesWithAttemptsPlusOne_ThenFailsAfterMaxAttempts()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var id = (await client.CreateTaskAsync(Org, new { queue, title = "flaky agent", maxAttempts = 2 })).Str("id");

        var first = await client.CheckoutTaskAsync(Org, Work.Unique("agent"), queue, leaseSeconds: 1);
        Assert.Equal(1, first.Task.Int("attempts"));
        var requeued = await client.WaitForStatusAsync(Org, id, "queued");
        Assert.Equal(1, requeued.Int("attempts"));
        Assert.True(requeued.IsNull("agentId"));

        var second = await client.CheckoutTaskAsync(Org, Work.Unique("agent"), queue, leaseSeconds: 1);
        Assert.Equal((id, 2), (second.TaskId, second.Task.Int("attempts")));
        var failed = await client.WaitForStatusAsync(Org, id, "failed");
        Assert.Equal(2, failed.Int("attempts"));
        Assert.Contains("Lease expired", failed.Str("error"), StringComparison.Ordinal);
        await client.CheckoutAsync(Org, "late", queue).ExpectAsync(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task StaleLeaseToken_Answers409_AndLeavesTheTaskAlone()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var id = (await client.CreateTaskAsync(Org, new { queue, title = "t" })).Str("id");
        var old = await client.CheckoutTaskAsync(Org, Work.Unique("slow"), queue, leaseSeconds: 1);
        await client.WaitForStatusAsync(Org, id, "queued");
        var current = await client.CheckoutTaskAsync(Org, Work.Unique("fast"), queue);

        await client.PostAsJsonAsync(Org.Api($"tasks/{id}/complete"), new { leaseToken = old.Token, output = "late" }).ExpectProblemAsync(HttpStatusCode.Conflict, "stale-lease");
        await client.PostAsJsonAsync(Org.Api($"tasks/{id}/fail"), new { leaseToken = old.Token, error = "late" }).ExpectProblemAsync(HttpStatusCode.Conflict, "stale-lease");
        await client.PostAsJsonAsync(Org.Api($"tasks/{id}/heartbeat"), new { leaseToken = old.Token }).ExpectProblemAsync(HttpStatusCode.Conflict, "stale-lease");
        await client.PostAsJsonAsync(Org.Api($"tasks/{id}/complete"), new { leaseToken = "cll_made-up" }).ExpectProblemAsync(HttpStatusCode.Conflict, "stale-lease");

        var task = await client.GetTaskAsync(Org, id);
        Assert.Equal(("running", 2, current.Task.Str("agentId")), (task.Str("status"), task.Int("attempts"), task.Str("agentId")));
        Assert.True(task.IsNull("output"));
        var done = await client.PostAsJsonAsync(Org.Api($"tasks/{id}/complete"), new { leaseToken = current.Token, output = "on time" }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("on time", done.Str("output"));
    }

    [Fact]
    public async Task Complete_AfterCancel_Answers409()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var lease = await client.StartTaskAsync(Org);
        await client.PostAsync(Org.Api($"tasks/{lease.TaskId}/cancel"), null).ExpectAsync(HttpStatusCode.OK);

        await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token }).ExpectProblemAsync(HttpStatusCode.Conflict, "invalid-transition");
        await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/heartbeat"), new { leaseToken = lease.Token }).ExpectProblemAsync(HttpStatusCode.Conflict, "invalid-transition");
        Assert.Equal("cancelled", (await client.GetTaskAsync(Org, lease.TaskId)).Str("status"));
    }

    [Fact]
    public async Task Fail_Retryable_RequeuesUntilMaxAttempts_ThenFails()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var id = (await client.CreateTaskAsync(Org, new { queue, title = "t", maxAttempts = 3 })).Str("id");

        for (var attempt = 1; attempt <= 3; attempt++)
        {
            var lease = await client.CheckoutTaskAsync(Org, Work.Unique("agent"), queue);
            Assert.Equal((id, attempt), (lease.TaskId, lease.Task.Int("attempts")));
            var failed = await client.PostAsJsonAsync(Org.Api($"tasks/{id}/fail"), new { leaseToken = lease.Token, error = $"boom {attempt}", retryable = true })
                .ExpectAsync(HttpStatusCode.OK);
            Assert.Equal(attempt < 3 ? "queued" : "failed", failed.Str("status"));
            Assert.Equal($"boom {attempt}", failed.Str("error"));
        }

        await client.CheckoutAsync(Org, "late", queue).ExpectAsync(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task Fail_NotRetryable_FailsAtOnce()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var lease = await client.StartTaskAsync(Org, new { maxAttempts = 5 });
        var failed = await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/fail"), new { leaseToken = lease.Token, error = "bad input" }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("failed", 1), (failed.Str("status"), failed.Int("attempts")));
    }

    [Fact]
    public async Task Timeout_WhenExceeded_FailsTheTaskSayingItTimedOut()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var lease = await client.StartTaskAsync(Org, new { timeoutSeconds = 1, maxAttempts = 3 });

        var failed = await client.WaitForStatusAsync(Org, lease.TaskId, "failed");
        Assert.Contains("Timed out", failed.Str("error"), StringComparison.Ordinal);
        Assert.Contains("timeoutSeconds", failed.Str("error"), StringComparison.Ordinal);
        await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token }).ExpectProblemAsync(HttpStatusCode.Conflict, "invalid-transition");
    }
}

public sealed class SqliteLeaseTests(SqliteHostFixture fixture) : LeaseTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresLeaseTests(PostgresHostFixture fixture) : LeaseTests(fixture), IClassFixture<PostgresHostFixture>;
