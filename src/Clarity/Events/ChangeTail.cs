using Clarity.Events.Audit;
using Clarity.Storage;
using Npgsql;

namespace Clarity.Events;

/// <summary>What a change's tail wrote: its outbox rows (with their row ids) and whether it wrote audit entries.</summary>
internal readonly record struct ChangeTailResult(IReadOnlyList<EventRow> Rows, IReadOnlyList<long> RowIds, bool Audited, long ChainedThrough);

/// <summary>
/// The last writes of every unit of work, on either backend: its audit entries (written with the change's final state;
/// if they cannot be written, the change fails) and its outbox rows. On SQLite the single writer inserts them one by one
/// and chains each entry as it goes; on PostgreSQL both go to the server in one batch, with the COMMIT in the same round
/// trip when the change has no events (an event's row id must reach the bus before its commit: EventBus.ExpectCommit).
/// </summary>
internal sealed class ChangeTail(EventLog log, AuditLog audit)
{
    public async Task<ChangeTailResult> WriteAsync(Change change, InlineCommit commit)
    {
        IReadOnlyList<EventRow> rows = change.Events.Count == 0 ? [] : [.. change.Events.Select(e => EventRow.From(e, change.Now))];
        var audited = change.AuditRecords.Count > 0;
        if (rows.Count == 0 && !audited)
        {
            return new ChangeTailResult(rows, [], false, 0);
        }

        if (change.Connection is not NpgsqlConnection connection)
        {
            var chainedThrough = audited ? await audit.AppendChainedAsync(change, change.AuditRecords) : 0;
            var ids = rows.Count > 0 ? await log.AppendAsync(change, rows) : [];
            return new ChangeTailResult(rows, ids, audited, chainedThrough);
        }

        await using var batch = new NpgsqlBatch(connection, (NpgsqlTransaction)change.Transaction);
        if (rows.Count > 0)
        {
            batch.BatchCommands.Add(EventLog.PostgresInsert(rows));
        }

        if (audited)
        {
            batch.BatchCommands.Add(AuditLog.PostgresInsert(audit.RowsOf(change, change.AuditRecords)));
        }

        if (rows.Count == 0 && commit.Allowed)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand("COMMIT"));
            await batch.ExecuteNonQueryAsync(CancellationToken.None);
            commit.Sent();
            return new ChangeTailResult(rows, [], audited, 0);
        }

        await using var reader = await batch.ExecuteReaderAsync(CancellationToken.None);
        IReadOnlyList<long> rowIds = rows.Count > 0 ? await EventLog.ReadPostgresIdsAsync(reader, rows) : [];
        while (await reader.NextResultAsync(CancellationToken.None))
        {
            // The audit insert: nothing to read, but its error (if any) surfaces here.
        }

        return new ChangeTailResult(rows, rowIds, audited, 0);
    }
}
