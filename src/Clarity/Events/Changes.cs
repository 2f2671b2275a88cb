using Clarity.Events.Audit;
using Clarity.Storage;

namespace Clarity.Events;

/// <summary>
/// Runs units of work: every state change in Clarity goes through <see cref="RunAsync{T}"/>. The work runs in one
/// transaction (on SQLite inside the writer's group-commit savepoint) with a <see cref="Change"/> that store methods
/// take; the events it emits are written to the outbox just before the commit. After the commit this node's
/// subscribers hear of the events at once (wake-ups, cache evictions), and the outbox carries them to every node in
/// the agreed order (<see cref="EventFeed"/>): the stream, and other nodes' subscribers.
/// </summary>
public sealed partial class Changes(
    Database db, EventLog log, EventBus bus, EventFeed feed, AuditLog audit, AuditSignal auditSignal, TimeProvider clock, ILogger<Changes> logger,
    EventSequencer? sequencer = null, AuditChainer? chainer = null)
{
    private readonly ChangeTail _tail = new(log, audit);

    public Database Database => db;

    /// <summary>Runs <paramref name="work"/> as one unit of work by <paramref name="actor"/>; returns once it has committed.</summary>
    public async Task<T> RunAsync<T>(Actor actor, Func<Change, Task<T>> work, CancellationToken ct = default)
    {
        Change? change = null;
        IReadOnlyList<long> rowIds = [];
        IReadOnlyList<EventRow> rows = [];
        var correlationId = CorrelationContext.Current;
        var client = RequestClient.Current;
        var audited = false;
        long chainedThrough = 0;
        T result;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                result = await db.WriteAsync(async (c, t, commit) =>
                {
                    change = new Change(c, t, db.Dialect, actor, correlationId, DbTime.ToDb(clock.GetUtcNow()), client);
                    var value = await work(change);
                    var written = await _tail.WriteAsync(change, commit);
                    (rows, rowIds, audited, chainedThrough) = (written.Rows, written.RowIds, written.Audited, written.ChainedThrough);
                    if (rowIds.Count > 0)
                    {
                        bus.ExpectCommit(rowIds);
                    }

                    return value;
                }, ct);
                break;
            }
            catch (Exception ex) when (attempt < MaxDeadlockAttempts && IsDeadlock(ex))
            {
                // PostgreSQL broke a lock cycle by rolling this change back (two changes took the same rows in opposite
                // orders, e.g. a task's completion and its run's cancellation): nothing of it was written, so run it again.
                bus.ForgetCommit(rowIds);
                rowIds = [];
                Log.DeadlockRetried(logger, attempt);
            }
            catch
            {
                bus.ForgetCommit(rowIds);
                throw;
            }
        }

        // Committed: this node's in-memory hints. Nothing here may fail the change, which is already durable.
        if (rowIds.Count > 0)
        {
            bus.DeliverCommitted(change!.Events);
            if (sequencer is not null)
            {
                // PostgreSQL: the rows get their seq from the leader's sequencer, whose NOTIFY wakes every node's feed.
                sequencer.Appended();
            }
            else
            {
                // SQLite: the rows have their seq already, and commit order is seq order.
                feed.Offer(rows);
            }
        }

        if (audited)
        {
            if (chainer is not null)
            {
                // PostgreSQL: the leader's chainer chains the entries, and announces them itself.
                chainer.Appended();
            }
            else
            {
                auditSignal.Chained(chainedThrough);
            }
        }

        foreach (var action in change!.CommitActions)
        {
            try
            {
                action();
            }
            catch (Exception ex)
            {
                Log.AfterCommitFailed(logger, ex);
            }
        }

        return result;
    }

    public Task RunAsync(Actor actor, Func<Change, Task> work, CancellationToken ct = default) =>
        RunAsync(actor, async change =>
        {
            await work(change);
            return true;
        }, ct);

    /// <summary>How often a change rolled back by a deadlock is tried, in all.</summary>
    private const int MaxDeadlockAttempts = 3;

    private static bool IsDeadlock(Exception ex) =>
        Hosting.ErrorHandlingMiddleware.InChain(ex, e => e is Npgsql.PostgresException { SqlState: Npgsql.PostgresErrorCodes.DeadlockDetected });

    private static partial class Log
    {
        [LoggerMessage(2, LogLevel.Warning, "A change was rolled back by a deadlock (attempt {Attempt}); running it again")]
        public static partial void DeadlockRetried(ILogger logger, int attempt);

        [LoggerMessage(1, LogLevel.Error, "An after-commit action failed; the change itself committed")]
        public static partial void AfterCommitFailed(ILogger logger, Exception error);
    }
}
