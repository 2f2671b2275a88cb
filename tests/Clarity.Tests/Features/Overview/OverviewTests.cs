using System.Net;
using System.Net.Http.Json;
using Clarity.Features.Overview;
using Clarity.Hosting;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;

namespace Clarity.Tests.Features.Overview;

/// <summary>
/// The overview's numbers over rows with known times. Each test works in a fresh org; rows are written straight into
/// the real database (the API stamps the wall clock), and the service reads them with a fixed clock.
/// </summary>
public abstract class OverviewTests(HostFixture fixture)
{
    private static readonly DateTimeOffset s_now = new(2026, 3, 10, 10, 30, 0, TimeSpan.Zero);

    private ClarityHost Host => fixture.Host;

    private Database Db => Host.Services.GetRequiredService<Database>();

    private OverviewService ServiceAt(DateTimeOffset now) =>
        new(new OverviewStore(Db), Host.Services.GetRequiredService<IOptions<ClarityOptions>>(), new FixedClock(now));

    private static DateTimeOffset At(int month, int day, int hour, int minute = 0) => new(2026, month, day, hour, minute, 0, TimeSpan.Zero);

    [Fact]
    public async Task Week_CountsTasksPerDayBucket_AndAveragesSucceededTasks()
    {
        var org = await NewOrgAsync();
        var other = await NewOrgAsync();
        foreach (var id in new[] { org, other })
        {
            await InsertTaskAsync(id, "succeeded", At(3, 4, 1), started: At(3, 4, 1, 10), finished: At(3, 4, 2));
            await InsertTaskAsync(id, "succeeded", At(3, 9, 12), started: At(3, 9, 12), finished: At(3, 10, 9));
            await InsertTaskAsync(id, "failed", At(3, 10, 8), started: At(3, 10, 8), finished: At(3, 10, 8, 30));
            await InsertTaskAsync(id, "cancelled", At(3, 3, 23), finished: At(3, 4, 0, 30));
            await InsertTaskAsync(id, "queued", At(3, 10, 10));
            await InsertTaskAsync(id, "running", At(3, 10, 10, 10), started: At(3, 10, 10, 15));
            await InsertTaskAsync(id, "succeeded", At(2, 20, 5), started: At(2, 20, 6), finished: At(2, 21, 5));
        }

        var overview = await ServiceAt(s_now).GetAsync(org, OverviewWindow.Week, CancellationToken.None);

        Assert.Equal(At(3, 4, 0), overview.From);
        Assert.Equal(s_now, overview.To);
        Assert.Equal(7, overview.Buckets.Count);
        Assert.Equal(Enumerable.Range(4, 7).Select(d => At(3, d, 0)), overview.Buckets.Select(b => b.Start));
        Assert.Equal(new[] { 1, 0, 0, 0, 0, 1, 3 }, overview.Buckets.Select(b => b.Created));
        Assert.Equal(new[] { 1, 0, 0, 0, 0, 0, 1 }, overview.Buckets.Select(b => b.Succeeded));
        Assert.Equal(new[] { 0, 0, 0, 0, 0, 0, 1 }, overview.Buckets.Select(b => b.Failed));
        Assert.Equal(new[] { 1, 0, 0, 0, 0, 0, 0 }, overview.Buckets.Select(b => b.Cancelled));
        Assert.Equal(TimeSpan.FromHours(1).TotalMilliseconds, overview.Buckets[0].AvgCompletionMs);
        Assert.Equal(TimeSpan.FromHours(21).TotalMilliseconds, overview.Buckets[6].AvgCompletionMs);
        Assert.Null(overview.Buckets[3].AvgCompletionMs);
        Assert.Equal(0.0, overview.Buckets[0].ErrorRate);
        Assert.Equal(0.5, overview.Buckets[6].ErrorRate);
        Assert.Null(overview.Buckets[3].ErrorRate);

        Assert.Equal(5, overview.Created);
        Assert.Equal(2, overview.Succeeded);
        Assert.Equal(1, overview.Failed);
        Assert.Equal(1, overview.Cancelled);
        Assert.Equal(TimeSpan.FromHours(11).TotalMilliseconds, overview.AvgCompletionMs);
        Assert.Equal((TimeSpan.FromMinutes(50) + TimeSpan.FromHours(21)).TotalMilliseconds / 2, overview.AvgRunMs);
        Assert.Equal(1.0 / 3, overview.ErrorRate!.Value, 12);
        Assert.Equal(5 / (s_now - At(3, 4, 0)).TotalDays, overview.TasksPerDay, 12);
        Assert.Equal(1, overview.Queued);
        Assert.Equal(1, overview.Running);
        Assert.Equal(0, overview.AwaitingResponse);
    }

    [Fact]
    public async Task Day_BucketsByUtcHour_IncludingTheCurrentHourUpToNow()
    {
        var org = await NewOrgAsync();
        await InsertTaskAsync(org, "queued", At(3, 9, 10, 59));
        await InsertTaskAsync(org, "queued", At(3, 9, 11, 0));
        await InsertTaskAsync(org, "queued", At(3, 9, 11, 59));
        await InsertTaskAsync(org, "queued", At(3, 10, 10, 29));
        await InsertTaskAsync(org, "queued", s_now);
        await InsertTaskAsync(org, "queued", s_now.AddMinutes(1));

        var overview = await ServiceAt(s_now).GetAsync(org, OverviewWindow.Day, CancellationToken.None);

        Assert.Equal(24, overview.Buckets.Count);
        Assert.Equal(At(3, 9, 11), overview.Buckets[0].Start);
        Assert.Equal(At(3, 10, 10), overview.Buckets[^1].Start);
        Assert.Equal(2, overview.Buckets[0].Created);
        Assert.Equal(2, overview.Buckets[^1].Created);
        Assert.Equal(4, overview.Created);
        Assert.Equal(0, overview.Buckets.Skip(1).Take(22).Sum(b => b.Created));
    }

    [Fact]
    public async Task Month_HasThirtyDailyBuckets()
    {
        var org = await NewOrgAsync();
        await InsertTaskAsync(org, "failed", At(2, 9, 0), started: At(2, 9, 0), finished: At(2, 9, 0, 1));
        await InsertTaskAsync(org, "failed", At(2, 8, 23), started: At(2, 8, 23), finished: At(2, 8, 23, 59));

        var overview = await ServiceAt(s_now).GetAsync(org, OverviewWindow.Month, CancellationToken.None);

        Assert.Equal(30, overview.Buckets.Count);
        Assert.Equal(At(2, 9, 0), overview.From);
        Assert.Equal(1, overview.Created);
        Assert.Equal(1, overview.Failed);
        Assert.Equal(1.0, overview.ErrorRate);
        Assert.Null(overview.AvgCompletionMs);
    }

    [Fact]
    public async Task EmptyOrg_ReportsZeroCountsAndNoAverages()
    {
        var org = await NewOrgAsync();

        foreach (var window in OverviewWindow.All)
        {
            var overview = await ServiceAt(s_now).GetAsync(org, window, CancellationToken.None);

            Assert.Equal(window.Buckets, overview.Buckets.Count);
            Assert.All(overview.Buckets, b => Assert.Equal((0, 0, 0, 0), (b.Created, b.Succeeded, b.Failed, b.Cancelled)));
            Assert.Equal((0, 0, 0, 0), (overview.Created, overview.Succeeded, overview.Failed, overview.Cancelled));
            Assert.Equal(0, overview.TasksPerDay);
            Assert.Null(overview.AvgCompletionMs);
            Assert.Null(overview.AvgRunMs);
            Assert.Null(overview.ErrorRate);
            Assert.Equal(new AgentUtilization(0, 0, 0), overview.Agents);
            Assert.Null(overview.Agents.Ratio);
            Assert.Equal(0, overview.PendingClarifications);
            Assert.Equal((0, 0, 0), (overview.Queued, overview.Running, overview.AwaitingResponse));
        }
    }

    [Fact]
    public async Task Agents_AreBusyWhileHoldingATask_IdleWhenSeenRecently_ElseOffline()
    {
        var org = await NewOrgAsync();
        var other = await NewOrgAsync();
        var working = await InsertAgentAsync(org, "working", s_now.AddSeconds(-10));
        var waiting = await InsertAgentAsync(org, "waiting", s_now.AddHours(-3));
        await InsertAgentAsync(org, "idle", s_now.AddSeconds(-30));
        await InsertAgentAsync(org, "gone", s_now.AddHours(-2));
        var finished = await InsertAgentAsync(org, "finished", s_now.AddHours(-2));
        await InsertTaskAsync(org, "running", At(3, 10, 10), started: At(3, 10, 10), agent: working);
        await InsertTaskAsync(org, "awaiting_response", At(3, 10, 7), started: At(3, 10, 7), agent: waiting);
        await InsertTaskAsync(org, "succeeded", At(3, 10, 7), started: At(3, 10, 7), finished: At(3, 10, 8), agent: finished);
        await InsertAgentAsync(other, "idle-elsewhere", s_now.AddSeconds(-1));

        var overview = await ServiceAt(s_now).GetAsync(org, OverviewWindow.Day, CancellationToken.None);

        Assert.Equal(new AgentUtilization(Busy: 2, Idle: 1, Offline: 2), overview.Agents);
        Assert.Equal(2.0 / 3, overview.Agents.Ratio!.Value, 12);
        Assert.Equal(1, overview.Running);
        Assert.Equal(1, overview.AwaitingResponse);
    }

    [Fact]
    public async Task PendingClarifications_CountsOnlyPendingOnesOfTheOrg()
    {
        var org = await NewOrgAsync();
        var other = await NewOrgAsync();
        var task = await InsertTaskAsync(org, "awaiting_response", At(3, 10, 7), started: At(3, 10, 7));
        var theirs = await InsertTaskAsync(other, "awaiting_response", At(3, 10, 7), started: At(3, 10, 7));
        await InsertClarificationAsync(org, task, "pending");
        await InsertClarificationAsync(org, task, "pending");
        await InsertClarificationAsync(org, task, "answered");
        await InsertClarificationAsync(org, task, "expired");
        await InsertClarificationAsync(other, theirs, "pending");

        var overview = await ServiceAt(s_now).GetAsync(org, OverviewWindow.Week, CancellationToken.None);

        Assert.Equal(2, overview.PendingClarifications);
    }

    [Fact]
    public async Task TasksRunThroughTheApi_AreCountedInTheCurrentBucket()
    {
        var session = await Host.CreateOrgAsync(fixture.Org, Work.Unique("ov"));
        var org = await OrgIdAsync(session.Org);
        using var agent = Host.CreateClient(session.MemberKey);
        var done = await agent.StartTaskAsync(session);
        await agent.PostAsJsonAsync(session.Api($"tasks/{done.TaskId}/complete"), new { leaseToken = done.Token }).ExpectAsync(HttpStatusCode.OK);
        var failed = await agent.StartTaskAsync(session);
        await agent.PostAsJsonAsync(session.Api($"tasks/{failed.TaskId}/fail"), new { leaseToken = failed.Token, error = "boom" }).ExpectAsync(HttpStatusCode.OK);
        await agent.CreateTaskAsync(session, new { title = "waits", queue = Work.Unique("q") });

        var overview = await Host.Services.GetRequiredService<OverviewService>().GetAsync(org, OverviewWindow.Day, CancellationToken.None);

        Assert.Equal(3, overview.Created);
        Assert.Equal(1, overview.Succeeded);
        Assert.Equal(1, overview.Failed);
        Assert.Equal(0.5, overview.ErrorRate);
        Assert.True(overview.AvgCompletionMs >= 0);
        Assert.Equal(1, overview.Queued);
        Assert.Equal(3, overview.Buckets.Sum(b => b.Created));
        Assert.Equal((0, 2), (overview.Agents.Busy, overview.Agents.Idle));
    }

    private async Task<Guid> NewOrgAsync() => await OrgIdAsync((await Host.CreateOrgAsync(fixture.Org, Work.Unique("ov"))).Org);

    private async Task<Guid> OrgIdAsync(string slug)
    {
        await using var c = await Db.OpenReadAsync();
        return await c.QuerySingleAsync<Guid>("SELECT id FROM orgs WHERE slug = @slug", new { slug });
    }

    private Task<Guid> InsertTaskAsync(Guid orgId, string status, DateTimeOffset created, DateTimeOffset? started = null, DateTimeOffset? finished = null, Guid? agent = null)
    {
        var id = Guid.CreateVersion7();
        return Db.WriteAsync(async (c, t) =>
        {
            await c.ExecuteAsync(
                "INSERT INTO tasks (id, org_id, queue, title, status, max_attempts, timeout_seconds, agent_id, created_at, started_at, finished_at, updated_at) " +
                "VALUES (@id, @orgId, 'default', 'seeded', @status, 3, 3600, @agent, @created, @started, @finished, @created)",
                new { id, orgId, status, agent, created = DbTime.ToDb(created), started = DbTime.ToDb(started), finished = DbTime.ToDb(finished) }, t);
            return id;
        });
    }

    private Task<Guid> InsertAgentAsync(Guid orgId, string name, DateTimeOffset lastSeen)
    {
        var id = Guid.CreateVersion7();
        return Db.WriteAsync(async (c, t) =>
        {
            await c.ExecuteAsync(
                "INSERT INTO agents (id, org_id, name, labels, created_at, last_seen_at) VALUES (@id, @orgId, @name, '[]', @seen, @seen)",
                new { id, orgId, name, seen = DbTime.ToDb(lastSeen) }, t);
            return id;
        });
    }

    // Expiring in the real future: the host's expiry sweep runs on the wall clock.
    private Task InsertClarificationAsync(Guid orgId, Guid taskId, string status) =>
        Db.WriteAsync((c, t) => c.ExecuteAsync(
            "INSERT INTO clarifications (id, org_id, task_id, question, status, on_expiry, created_at, expires_at) " +
            "VALUES (@id, @orgId, @taskId, 'why?', @status, 'fail', @at, @expires)",
            new { id = Guid.CreateVersion7(), orgId, taskId, status, at = DbTime.ToDb(s_now), expires = DbTime.ToDb(DateTimeOffset.UtcNow.AddDays(1)) }, t));

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}

public sealed class SqliteOverviewTests(SqliteHostFixture fixture) : OverviewTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresOverviewTests(PostgresHostFixture fixture) : OverviewTests(fixture), IClassFixture<PostgresHostFixture>;
