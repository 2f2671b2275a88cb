using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Events;
using Clarity.Features.Tasks;
using Clarity.Storage;
using Clarity.Tests.Features.Stream;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Events;

/// <summary>
/// Every change commits with its events, in one unit of work, on both backends: a change that fails leaves neither,
/// each event carries who made it and the request it came from, and identity changes and cancelled questions are no
/// longer silent.
/// </summary>
public abstract class OutboxTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task AChangeThatFails_LeavesNeitherItsRowsNorItsEvents()
    {
        var changes = Host.Services.GetRequiredService<Changes>();
        var orgId = await OrgIdAsync(Org);
        var id = Guid.CreateVersion7();
        var row = new TaskRow
        {
            Id = id, OrgId = orgId, Queue = "doomed", Title = "never", Status = "queued", Labels = "[]", MaxAttempts = 1, TimeoutSeconds = 60,
            CreatedAt = DbTime.ToDb(DateTimeOffset.UtcNow), UpdatedAt = DbTime.ToDb(DateTimeOffset.UtcNow),
        };

        await Assert.ThrowsAsync<InvalidOperationException>(() => changes.RunAsync(Actor.System, async change =>
        {
            await TaskStore.InsertAsync(change, row, null);
            change.Emit(TaskService.Changed(row));
            throw new InvalidOperationException("the change fails after writing");
        }));

        using var client = Host.CreateClient(Org.MemberKey);
        await client.GetAsync(Org.Api($"tasks/{id}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        Assert.Empty(await EventsAsync(r => r.Subject == $"task:{id}"));
    }

    [Fact]
    public async Task AChangesEvents_CarryItsActorAndCorrelationId()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var keyId = (await client.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK)).GetProperty("apiKey").Str("id");
        using var request = new HttpRequestMessage(HttpMethod.Post, Org.Api("tasks")) { Content = JsonContent.Create(new { queue = Work.Unique("outbox"), title = "attributed" }) };
        request.Headers.Add("X-Correlation-Id", "outbox-corr-1");
        var task = await client.SendAsync(request).ExpectAsync(HttpStatusCode.Created);

        var row = Assert.Single(await EventsAsync(r => r.Subject == $"task:{task.Str("id")}"));
        Assert.Equal(("task", "tasks", "apikey", Guid.Parse(keyId), "outbox-corr-1"), (row.Kind, row.Topic, row.ActorKind, row.ActorId, row.CorrelationId));
        var payload = JsonDocument.Parse(row.Payload).RootElement;
        Assert.Equal(("queued", "attributed"), (payload.Str("status"), payload.Str("title")));
    }

    [Fact]
    public async Task CancellingATaskWithAPendingQuestion_CancelsTheQuestion_AndSaysSoOnTheStream()
    {
        await using var socket = await StreamSocket.ConnectAsync(Host.BaseAddress, Org.Org, Org.MemberKey);
        await socket.SubscribeAsync(["clarifications", "tasks"]);
        using var agent = Host.CreateClient(Org.MemberKey);
        var lease = await agent.StartTaskAsync(Org);
        var question = await agent.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/clarifications"), new { leaseToken = lease.Token, question = "which?", expiresInSeconds = 600 })
            .ExpectAsync(HttpStatusCode.Created);

        await agent.PostAsync(Org.Api($"tasks/{lease.TaskId}/cancel"), null).ExpectAsync(HttpStatusCode.OK);

        var cancelled = await socket.NextAsync(
            m => m.IsEvent("clarification") && m.GetProperty("data").Str("clarificationId") == question.Str("id") && m.GetProperty("data").Str("status") == "cancelled",
            "the question's cancellation");
        var task = await socket.NextAsync(m => m.IsTaskEvent(lease.TaskId) && m.GetProperty("data").Str("status") == "cancelled", "the task's cancellation");
        // One unit of work: both events came from the same request.
        Assert.Equal(cancelled.Str("correlationId"), task.Str("correlationId"));
        var read = await agent.GetAsync(Org.Api($"clarifications/{question.Str("id")}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("cancelled", read.Str("status"));
    }

    [Fact]
    public async Task IdentityChanges_EmitTheirEvents()
    {
        var slug = Work.Unique("events");
        using var owner = Host.CreateClient(Org.OwnerToken);
        await owner.PostAsJsonAsync("api/v1/orgs", new { slug, name = slug }).ExpectAsync(HttpStatusCode.Created);
        var org = Org with { Org = slug };
        var orgId = await OrgIdAsync(org);
        var person = await Host.AddPersonAsync(org, "admin");
        using var admin = Host.CreateClient(person.Token);
        await admin.PostAsJsonAsync(org.Api("api-keys"), new { name = "theirs", role = "admin" }).ExpectAsync(HttpStatusCode.Created);
        await owner.PutAsJsonAsync(org.Api($"members/{person.UserId}"), new { role = "member" }).ExpectAsync(HttpStatusCode.OK);
        await owner.DeleteAsync(org.Api($"members/{person.UserId}")).ExpectAsync(HttpStatusCode.OK);
        await admin.PostAsync("api/v1/auth/logout", null).ExpectAsync(HttpStatusCode.NoContent);

        var kinds = (await EventsAsync(r => r.OrgId == orgId)).Select(r => r.Kind).ToList();
        Assert.Equal(
            ["org.created", "member.joined", "invitation", "invitation", "member.joined", "apikey.created", "member.role-changed", "apikey.capped", "member.removed", "apikey.revoked"],
            kinds);
        var signedOut = await EventsAsync(r => r.Kind == "session.revoked" && r.Subject == $"user:{person.UserId}");
        Assert.Equal(("user", person.UserId), (signedOut.Single().ActorKind, signedOut.Single().ActorId!.Value));
    }

    [Fact]
    public async Task ConcurrentChanges_GetContiguousSeqs_ThatTheFeedDeliversInOrder()
    {
        var log = Host.Services.GetRequiredService<EventLog>();
        var start = (await log.PositionAsync(CancellationToken.None)).NewestId;
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("burst");
        await Task.WhenAll(Enumerable.Range(0, 60).Select(i => client.CreateTaskAsync(Org, new { queue, title = $"t{i}" })));

        // Every event of the burst is sequenced (on PostgreSQL by the leader's sequencer) with no gap and no repeat.
        var feed = Host.Services.GetRequiredService<EventFeed>();
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        IReadOnlyList<EventRow> rows;
        while (true)
        {
            rows = await log.ReadAfterAsync(start, null, null, 10_000, CancellationToken.None);
            if (rows.Count(r => JsonDocument.Parse(r.Payload).RootElement.TryGetProperty("queue", out var q) && q.GetString() == queue) == 60 && feed.Cursor >= rows[^1].Seq)
            {
                break;
            }

            Assert.True(DateTimeOffset.UtcNow < deadline, "The burst's events were not all sequenced and read.");
            await Task.Delay(50);
        }

        Assert.Equal(Enumerable.Range(0, rows.Count).Select(i => start + 1 + i), rows.Select(r => r.Seq));
        Assert.Equal(0, await log.UnsequencedAsync(CancellationToken.None));
    }

    [Fact]
    public async Task TheFeedsTail_HoldsExactlyTheSequencedRows_ThatTheTableHolds_AfterAConcurrentBurst()
    {
        // The consumers on this node read their batches from the tail once caught up, so it must be the table's rows
        // after its start, every one, in order, with nothing extra: checked against the table after a concurrent burst.
        var log = Host.Services.GetRequiredService<EventLog>();
        var feed = Host.Services.GetRequiredService<EventFeed>();
        var start = feed.Cursor;
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("tail");
        await Task.WhenAll(Enumerable.Range(0, 60).Select(i => client.CreateTaskAsync(Org, new { queue, title = $"t{i}" })));

        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        IReadOnlyList<EventRow> table;
        while (true)
        {
            table = await log.ReadAfterAsync(start, null, null, 10_000, CancellationToken.None);
            if (await log.UnsequencedAsync(CancellationToken.None) == 0 && table.Count > 0 && feed.Cursor >= table[^1].Seq)
            {
                break;
            }

            Assert.True(DateTimeOffset.UtcNow < deadline, "The burst's events were not all sequenced and read by the feed.");
            await Task.Delay(50);
        }

        Assert.True(log.Tail.TryRead(start, 10_000, out var tail), "The tail does not cover the feed's cursor before the burst.");
        Assert.Equal(table.Select(r => (r.Seq, r.Kind, r.Payload)), tail.Take(table.Count).Select(r => (r.Seq, r.Kind, r.Payload)));
        Assert.Equal(60, tail.Count(r => r.Payload.Contains(queue, StringComparison.Ordinal)));
        Assert.True(log.Tail.TryRead(tail[^1].Seq, 10, out var none) && none.Count == 0, "A cursor at the tail's end reads an empty batch.");
    }

    [Fact]
    public async Task AConsumerWithNothingToDo_FollowsABurstInMemory_AndWritesItsCursorAboutOnceASecond()
    {
        // No webhook endpoint exists here, so every event means nothing to the webhook fan-out. A trigger counts the
        // writes of its cursor while a burst of changes spread over many of its passes goes by.
        var db = Host.Services.GetRequiredService<Database>();
        var log = Host.Services.GetRequiredService<EventLog>();
        var setup = db.Kind == DatabaseKind.Sqlite
            ? "CREATE TABLE test_cursor_writes (n INTEGER); " +
              "CREATE TRIGGER test_cursor_writes_t AFTER UPDATE ON consumer_cursors WHEN NEW.name = 'webhooks' BEGIN INSERT INTO test_cursor_writes VALUES (1); END;"
            : "CREATE TABLE test_cursor_writes (n int); " +
              "CREATE FUNCTION test_cursor_writes_f() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN INSERT INTO test_cursor_writes VALUES (1); RETURN NEW; END $f$; " +
              "CREATE TRIGGER test_cursor_writes_t AFTER UPDATE ON consumer_cursors FOR EACH ROW WHEN (NEW.name = 'webhooks') EXECUTE FUNCTION test_cursor_writes_f();";
        await db.WriteAsync((c, t) => c.ExecuteAsync(setup, transaction: t));
        try
        {
            var started = DateTimeOffset.UtcNow;
            using var client = Host.CreateClient(Org.MemberKey);
            var queue = Work.Unique("idle-consumer");
            const int Burst = 40;
            for (var i = 0; i < Burst; i++)
            {
                await client.CreateTaskAsync(Org, new { queue, title = $"t{i}" });
                await Task.Delay(20);
            }

            // The durable cursor still reaches the newest event: the first pass a second after its last write writes it.
            var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
            while (true)
            {
                var newest = await log.UnsequencedAsync(CancellationToken.None) == 0 ? (await log.PositionAsync(CancellationToken.None)).NewestId : long.MaxValue;
                await using var c = await db.OpenReadAsync();
                if (await c.ExecuteScalarAsync<long>("SELECT seq FROM consumer_cursors WHERE name = 'webhooks'") >= newest)
                {
                    break;
                }

                Assert.True(DateTimeOffset.UtcNow < deadline, "The webhook fan-out's durable cursor did not catch up with the newest event.");
                await Task.Delay(100);
            }

            await using var read = await db.OpenReadAsync();
            var writes = await read.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM test_cursor_writes");
            var seconds = (DateTimeOffset.UtcNow - started).TotalSeconds;

            // One write per pass would be one per creation or so; here, about one per second of the burst (plus the last).
            Assert.InRange(writes, 1, Math.Min(Burst - 1, (long)Math.Ceiling(seconds / OutboxConsumer.IdleFlush.TotalSeconds) + 2));
        }
        finally
        {
            var teardown = db.Kind == DatabaseKind.Sqlite
                ? "DROP TRIGGER test_cursor_writes_t; DROP TABLE test_cursor_writes;"
                : "DROP TRIGGER test_cursor_writes_t ON consumer_cursors; DROP FUNCTION test_cursor_writes_f(); DROP TABLE test_cursor_writes;";
            await db.WriteAsync((c, t) => c.ExecuteAsync(teardown, transaction: t));
        }
    }

    private async Task<Guid> OrgIdAsync(OrgSession org)
    {
        using var owner = Host.CreateClient(org.OwnerToken);
        return Guid.Parse((await owner.GetAsync($"api/v1/orgs/{org.Org}").ExpectAsync(HttpStatusCode.OK)).Str("id"));
    }

    private async Task<List<EventRow>> EventsAsync(Func<EventRow, bool> which)
    {
        await using var c = await Host.Services.GetRequiredService<Database>().OpenReadAsync();
        return [.. (await EventLog.ReadAllAsync(c)).Where(which)];
    }
}

public sealed class SqliteOutboxTests(SqliteHostFixture fixture) : OutboxTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresOutboxTests(PostgresHostFixture fixture) : OutboxTests(fixture), IClassFixture<PostgresHostFixture>;

/// <summary>
/// PostgreSQL commits transactions out of id order; the sequencer numbers rows only once they are committed, so a
/// transaction that commits late is delivered after it commits and never skipped, on every node.
/// </summary>
public sealed class OutboxOrderTests
{
    [Fact]
    public async Task ATransactionThatCommitsLate_IsSequencedAfterItCommits_AndReachesEveryNodesStream()
    {
        await using var first = await ClarityHost.StartAsync(Backend.Postgres);
        var org = await first.SetupAsync("acme");
        await using var second = await ClarityHost.StartNodeAsync(first);
        await using var onSecond = await StreamSocket.ConnectAsync(second.BaseAddress, org.Org, org.MemberKey);
        await onSecond.SubscribeAsync(["agents", "tasks"]);
        var orgId = Guid.Parse((await first.CreateClient(org.OwnerToken).GetAsync("api/v1/orgs/acme").ExpectAsync(HttpStatusCode.OK)).Str("id"));

        // A change that writes its event (taking a low row id), then waits before committing.
        var release = new TaskCompletionSource();
        var written = new TaskCompletionSource();
        var late = first.Services.GetRequiredService<Changes>().RunAsync(Actor.System, async change =>
        {
            // Appended directly, so the row exists (with its id) long before the transaction commits.
            var evt = new AgentSeen(orgId, Guid.CreateVersion7(), "late-agent");
            await first.Services.GetRequiredService<EventLog>().AppendAsync(change, [EventRow.From(evt, change.Now)]);
            written.TrySetResult();
            await release.Task;
        });
        await written.Task;

        // Meanwhile other changes commit and are delivered.
        using var client = first.CreateClient(org.MemberKey);
        var early = await StreamTests.NewTaskAsync(client, org);
        var earlyEvent = await onSecond.NextAsync(m => m.IsTaskEvent(early), "the early task");

        release.SetResult();
        await late;
        var lateEvent = await onSecond.NextAsync(m => m.IsEvent("agent") && m.GetProperty("data").Str("name") == "late-agent", "the late transaction's event");
        Assert.True(lateEvent.Id() > earlyEvent.Id(), "The late event comes after the early one in the agreed order.");
    }
}
