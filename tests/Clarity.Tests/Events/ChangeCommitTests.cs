using System.Net;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Tasks;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Events;

/// <summary>
/// How a change ends: its state, its outbox rows and its audit entries commit together or not at all, whether the
/// database rejects an entry as it is written or only at commit (on PostgreSQL a change without events sends its
/// COMMIT in the same round trip as its audit entries, so a rejection at commit must still fail the change).
/// </summary>
public abstract class ChangeCommitTests(HostFixture fixture)
{
    private const string Rejected = "test.rejected";
    private const string RejectedAtCommit = "test.rejected_at_commit";

    private ClarityHost Host => fixture.Host;

    private Changes Changes => Host.Services.GetRequiredService<Changes>();

    [Fact]
    public async Task AnAuditedChangeWithoutEvents_CommitsItsRowAndItsEntry_AndItsConnectionServesTheNextChanges()
    {
        var orgId = await OrgIdAsync();
        var ids = new List<Guid>();

        // More changes than the pool keeps busy at once: connections that committed inline come back and serve again.
        for (var i = 0; i < 30; i++)
        {
            var row = NewTask(orgId);
            ids.Add(row.Id);
            await Changes.RunAsync(Actor.System, async change =>
            {
                await TaskStore.InsertAsync(change, row, null);
                change.Audit(new AuditRecord(orgId, AuditActions.TaskCreated, new AuditTarget("task", row.Id)));
            });
        }

        foreach (var id in ids)
        {
            Assert.True(await TaskExistsAsync(id));
            Assert.Equal(1, await EntriesAsync(id));
        }
    }

    [Fact]
    public async Task AChangeWithEventsAndAnEntry_CommitsAllThree()
    {
        var orgId = await OrgIdAsync();
        var row = NewTask(orgId);

        await Changes.RunAsync(Actor.System, async change =>
        {
            await TaskStore.InsertAsync(change, row, null);
            change.Emit(TaskService.Changed(row));
            change.Audit(new AuditRecord(orgId, AuditActions.TaskCreated, new AuditTarget("task", row.Id)));
        });

        Assert.True(await TaskExistsAsync(row.Id));
        Assert.Equal(1, await EntriesAsync(row.Id));
        Assert.Equal(1, await EventsAsync(row.Id));
    }

    [Fact]
    public async Task APartThatFailsInsideTryAsync_IsUndoneWithItsEventsAndEntry_WhileTheRestOfTheChangeCommits()
    {
        var orgId = await OrgIdAsync();
        var (kept, undone, after) = (NewTask(orgId), NewTask(orgId), NewTask(orgId));
        var afterCommit = new List<string>();

        var failure = await Changes.RunAsync(Actor.System, async change =>
        {
            await TaskStore.InsertAsync(change, kept, null);
            change.Emit(TaskService.Changed(kept));
            var failed = await change.TryAsync(async () =>
            {
                await TaskStore.InsertAsync(change, undone, null);
                change.Emit(TaskService.Changed(undone));
                change.Audit(new AuditRecord(orgId, AuditActions.TaskCreated, new AuditTarget("task", undone.Id)));
                change.AfterCommit(() => afterCommit.Add("undone"));

                // A statement the database refuses (the same id again), as a failing part would hit: on PostgreSQL it
                // leaves the transaction aborted until the savepoint is rolled back.
                await TaskStore.InsertAsync(change, undone, null);
            });

            // The change goes on after the failed part, on the same transaction.
            await TaskStore.InsertAsync(change, after, null);
            change.Audit(new AuditRecord(orgId, AuditActions.TaskCreated, new AuditTarget("task", after.Id)));
            change.AfterCommit(() => afterCommit.Add("after"));
            return failed;
        });

        Assert.NotNull(failure);
        Assert.True(await TaskExistsAsync(kept.Id));
        Assert.True(await TaskExistsAsync(after.Id));
        Assert.False(await TaskExistsAsync(undone.Id));
        Assert.Equal((1, 0, 0, 1), (await EventsAsync(kept.Id), await EventsAsync(undone.Id), await EntriesAsync(undone.Id), await EntriesAsync(after.Id)));
        Assert.Equal(["after"], afterCommit);
    }

    [Theory]
    [InlineData(Rejected, false)]
    [InlineData(Rejected, true)]
    [InlineData(RejectedAtCommit, false)]
    [InlineData(RejectedAtCommit, true)]
    public async Task AChangeWhoseEntryTheDatabaseRejects_Fails_AndLeavesNeitherItsRowNorItsEventsNorItsEntry(string action, bool withEvents)
    {
        await InstallRejectionAsync();
        var orgId = await OrgIdAsync();
        var row = NewTask(orgId);

        await Assert.ThrowsAnyAsync<Exception>(() => Changes.RunAsync(Actor.System, async change =>
        {
            await TaskStore.InsertAsync(change, row, null);
            if (withEvents)
            {
                change.Emit(TaskService.Changed(row));
            }

            change.Audit(new AuditRecord(orgId, action, new AuditTarget("task", row.Id)));
        }));

        Assert.False(await TaskExistsAsync(row.Id));
        Assert.Equal(0, await EntriesAsync(row.Id));
        Assert.Equal(0, await EventsAsync(row.Id));

        // The failed change's connection is healthy again: the next change on the pool commits.
        var next = NewTask(orgId);
        await Changes.RunAsync(Actor.System, async change =>
        {
            await TaskStore.InsertAsync(change, next, null);
            change.Audit(new AuditRecord(orgId, AuditActions.TaskCreated, new AuditTarget("task", next.Id)));
        });
        Assert.True(await TaskExistsAsync(next.Id));
    }

    private static TaskRow NewTask(Guid orgId) => new()
    {
        Id = Guid.CreateVersion7(), OrgId = orgId, Queue = "commit-path", Title = "commit path", Status = "queued", Labels = "[]", MaxAttempts = 1,
        TimeoutSeconds = 60, CreatedAt = DbTime.ToDb(DateTimeOffset.UtcNow), UpdatedAt = DbTime.ToDb(DateTimeOffset.UtcNow),
    };

    /// <summary>
    /// Makes the database refuse this class's test actions: as the entry is inserted, and (on PostgreSQL, with a deferred
    /// constraint trigger) only when the transaction commits. SQLite has no deferred triggers: both refuse on insert.
    /// </summary>
    private async Task InstallRejectionAsync()
    {
        var db = Host.Services.GetRequiredService<Database>();
        await db.WriteAsync((c, t) => c.ExecuteAsync(db.Kind == DatabaseKind.Postgres
            ? $"""
               CREATE OR REPLACE FUNCTION test_reject_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'rejected: %', NEW.action; END $$;
               DROP TRIGGER IF EXISTS test_reject_now ON audit_entries;
               CREATE TRIGGER test_reject_now BEFORE INSERT ON audit_entries FOR EACH ROW WHEN (NEW.action = '{Rejected}') EXECUTE FUNCTION test_reject_audit();
               DROP TRIGGER IF EXISTS test_reject_at_commit ON audit_entries;
               CREATE CONSTRAINT TRIGGER test_reject_at_commit AFTER INSERT ON audit_entries DEFERRABLE INITIALLY DEFERRED
                   FOR EACH ROW WHEN (NEW.action = '{RejectedAtCommit}') EXECUTE FUNCTION test_reject_audit();
               """
            : $"""
               CREATE TRIGGER IF NOT EXISTS test_reject BEFORE INSERT ON audit_entries WHEN NEW.action IN ('{Rejected}', '{RejectedAtCommit}')
               BEGIN SELECT RAISE(ABORT, 'rejected'); END;
               """, transaction: t));
    }

    private async Task<Guid> OrgIdAsync()
    {
        using var owner = Host.CreateClient(fixture.Org.OwnerToken);
        return Guid.Parse((await owner.GetAsync($"api/v1/orgs/{fixture.Org.Org}").ExpectAsync(HttpStatusCode.OK)).Str("id"));
    }

    private async Task<bool> TaskExistsAsync(Guid id)
    {
        await using var c = await Host.Services.GetRequiredService<Database>().OpenReadAsync();
        return await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM tasks WHERE id = @id", new { id }) == 1;
    }

    private async Task<long> EntriesAsync(Guid id)
    {
        await using var c = await Host.Services.GetRequiredService<Database>().OpenReadAsync();
        return await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM audit_entries WHERE target_type = 'task' AND target_id = @id", new { id = id.ToString() });
    }

    private async Task<long> EventsAsync(Guid id)
    {
        await using var c = await Host.Services.GetRequiredService<Database>().OpenReadAsync();
        return await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM events WHERE subject = @subject", new { subject = $"task:{id}" });
    }
}

public sealed class SqliteChangeCommitTests(SqliteHostFixture fixture) : ChangeCommitTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresChangeCommitTests(PostgresHostFixture fixture) : ChangeCommitTests(fixture), IClassFixture<PostgresHostFixture>;
