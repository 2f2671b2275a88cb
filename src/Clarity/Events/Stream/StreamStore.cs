using System.Data.Common;
using Clarity.Storage;
using Dapper;

namespace Clarity.Events.Stream;

/// <summary>One journaled event as stored: <see cref="Payload"/> is the event's <c>data</c> JSON (log lines are not stored; they are read from the log).</summary>
public sealed class StreamRow
{
    public long Id { get; set; }

    public Guid OrgId { get; set; }

    public string Topic { get; set; } = "";

    public string Kind { get; set; } = "";

    public string Payload { get; set; } = "";

    public string? CorrelationId { get; set; }

    public long CreatedAt { get; set; }
}

/// <summary>Where the journal stands: the newest id ever assigned, and the highest id retention has deleted.</summary>
public readonly record struct StreamPosition(long NewestId, long PrunedThrough);

/// <summary>The SQL of the stream journal (<c>stream_events</c>, <c>stream_state</c>), the same text for both backends.</summary>
public sealed class StreamStore(Database db)
{
    private const string Columns = "id AS Id, org_id AS OrgId, topic AS Topic, kind AS Kind, payload AS Payload, correlation_id AS CorrelationId, created_at AS CreatedAt";

    public const string InsertSql =
        "INSERT INTO stream_events (org_id, topic, kind, payload, correlation_id, created_at) VALUES (@OrgId, @Topic, @Kind, @Payload, @CorrelationId, @CreatedAt) RETURNING id";

    public Database Database => db;

    /// <summary>Inserts the rows in order inside the caller's transaction and sets each row's id.</summary>
    public static async Task InsertAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<StreamRow> rows)
    {
        foreach (var row in rows)
        {
            row.Id = await connection.ExecuteScalarAsync<long>(InsertSql, row, transaction);
        }
    }

    /// <summary>Rows after <paramref name="afterId"/> in id order: of one org and some topics (replay), or of everything (a node catching up).</summary>
    public async Task<IReadOnlyList<StreamRow>> ReadAfterAsync(long afterId, Guid? orgId, IReadOnlyList<string>? topics, int limit, CancellationToken ct)
    {
        var where = "id > @afterId";
        if (orgId is not null)
        {
            where += " AND org_id = @orgId";
        }

        if (topics is not null)
        {
            where += " AND " + db.Dialect.InList("topic", "@topics");
        }

        await using var c = await db.OpenReadAsync(ct);
        var rows = await c.QueryAsync<StreamRow>(new CommandDefinition(
            $"SELECT {Columns} FROM stream_events WHERE {where} ORDER BY id LIMIT @limit",
            new { afterId, orgId, topics = topics?.ToArray(), limit }, cancellationToken: ct));
        return rows.AsList();
    }

    public async Task<IReadOnlyList<StreamRow>> ReadByIdsAsync(IReadOnlyList<long> ids, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var rows = await c.QueryAsync<StreamRow>(new CommandDefinition(
            $"SELECT {Columns} FROM stream_events WHERE {db.Dialect.InList("id", "@ids")} ORDER BY id", new { ids = ids.ToArray() }, cancellationToken: ct));
        return rows.AsList();
    }

    public async Task<StreamPosition> PositionAsync(CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var (newest, pruned) = await c.QuerySingleAsync<(long, long)>(new CommandDefinition(
            "SELECT COALESCE((SELECT MAX(id) FROM stream_events), 0), pruned_through FROM stream_state", cancellationToken: ct));
        return new StreamPosition(Math.Max(newest, pruned), pruned);
    }

    /// <summary>
    /// Deletes every event up to the newest one created before <paramref name="cutoff"/> (epoch ms) and records that id
    /// as pruned, in one transaction. Deleting a prefix of ids keeps "older than pruned_through" exact.
    /// </summary>
    public async Task<int> PruneAsync(long cutoff, CancellationToken ct)
    {
        // Most ticks have nothing to prune: find that out on a read connection, without taking the writer.
        await using (var read = await db.OpenReadAsync(ct))
        {
            if (await read.ExecuteScalarAsync<long?>(new CommandDefinition("SELECT MIN(id) FROM stream_events WHERE created_at < @cutoff", new { cutoff }, cancellationToken: ct)) is null)
            {
                return 0;
            }
        }

        return await db.WriteAsync(async (c, t) =>
        {
            var through = await c.ExecuteScalarAsync<long?>("SELECT MAX(id) FROM stream_events WHERE created_at < @cutoff", new { cutoff }, t);
            if (through is not { } id)
            {
                return 0;
            }

            var deleted = await c.ExecuteAsync("DELETE FROM stream_events WHERE id <= @id", new { id }, t);
            await c.ExecuteAsync("UPDATE stream_state SET pruned_through = @id WHERE pruned_through < @id", new { id }, t);
            return deleted;
        }, ct);
    }
}
