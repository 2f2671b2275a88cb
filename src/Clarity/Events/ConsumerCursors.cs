using System.Data.Common;
using Clarity.Storage;
using Dapper;

namespace Clarity.Events;

/// <summary>
/// The durable cursors of the outbox's consumers (<c>consumer_cursors</c>): one row per consumer, named by it and
/// created by the migration that adds it, holding the seq it has consumed through. Retention never prunes an event a
/// cursor has still to pass (<see cref="EventLog.PruneAsync(long, CancellationToken)"/>). The SQL is the same on both backends.
/// </summary>
public sealed class ConsumerCursors(Database db, Changes changes)
{
    /// <summary>The seq the consumer <paramref name="name"/> has consumed through.</summary>
    public async Task<long> ReadAsync(string name, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.ExecuteScalarAsync<long>(new CommandDefinition("SELECT seq FROM consumer_cursors WHERE name = @name", new { name }, cancellationToken: ct));
    }

    /// <summary>
    /// In one (background) transaction: moves the cursor <paramref name="name"/> from <paramref name="from"/> to
    /// <paramref name="to"/> and runs <paramref name="write"/>, what the consumer writes for the events in between, then
    /// <paramref name="change"/> when given, which makes the transaction a unit of work by the system. False, and nothing
    /// written, when the cursor is no longer at <paramref name="from"/>: another pass (a former leader's) got there first.
    /// </summary>
    public Task<bool> AdvanceAsync(
        string name, long from, long to, long now, Func<DbConnection, DbTransaction, Task>? write, Func<Change, Task>? change, CancellationToken ct)
    {
        async Task<bool> MoveAsync(DbConnection c, DbTransaction t)
        {
            if (await c.ExecuteAsync("UPDATE consumer_cursors SET seq = @to, updated_at = @now WHERE name = @name AND seq = @from", new { to, from, now, name }, t) != 1)
            {
                return false;
            }

            if (write is not null)
            {
                await write(c, t);
            }

            return true;
        }

        return change is null
            ? db.WriteBackgroundAsync(MoveAsync, ct)
            : changes.RunAsync(Actor.System, async unit =>
            {
                if (!await MoveAsync(unit.Connection, unit.Transaction))
                {
                    return false;
                }

                await change(unit);
                return true;
            }, ct);
    }
}
