using System.Runtime.CompilerServices;
using Clarity.Events.Audit;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Audit;

/// <summary>What an audit list or export asks for: one chain, and the filters (each optional).</summary>
public sealed record AuditQuery(
    Guid ChainId, string? ActorKind, Guid? ActorId, string? Action, string? ActionPrefix, string? TargetType, string? TargetId, long? From, long? To)
{
    /// <summary>The WHERE clause of the query (parameters named after the properties; <c>@Before</c> for the cursor).</summary>
    public string Where(bool before)
    {
        var where = "chain_id = @ChainId";
        if (ActorKind is not null)
        {
            where += " AND actor_kind = @ActorKind";
        }

        if (ActorId is not null)
        {
            where += " AND actor_id = @ActorId";
        }

        if (Action is not null)
        {
            where += " AND action = @Action";
        }

        if (ActionPrefix is not null)
        {
            where += " AND action LIKE @ActionLike ESCAPE '\\'";
        }

        if (TargetType is not null)
        {
            where += " AND target_type = @TargetType";
        }

        if (TargetId is not null)
        {
            where += " AND target_id = @TargetId";
        }

        if (From is not null)
        {
            where += " AND at >= @From";
        }

        if (To is not null)
        {
            where += " AND at < @To";
        }

        return before ? where + " AND id < @Before" : where;
    }

    /// <summary>The action prefix as a LIKE pattern, its wildcards escaped.</summary>
    public string? ActionLike => ActionPrefix is null ? null : ActionPrefix.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal) + "%";
}

/// <summary>Reads the audit log: pages newest first, and whole filtered streams for export (read as they are sent, never held whole).</summary>
public sealed class AuditStore(Database db)
{
    private const string Columns =
        "id AS Id, chain_id AS ChainId, seq AS Seq, position AS Position, at AS At, actor_kind AS ActorKind, actor_id AS ActorId, action AS Action, " +
        "target_type AS TargetType, target_id AS TargetId, entry AS Entry, digest AS Digest, hash AS Hash, pruned_at AS PrunedAt";

    public async Task<IReadOnlyList<AuditRow>> ListAsync(AuditQuery query, long? before, int limit, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var rows = await c.QueryAsync<AuditRow>(new CommandDefinition(
            $"SELECT {Columns} FROM audit_entries WHERE {query.Where(before is not null)} ORDER BY id DESC LIMIT @limit",
            Parameters(query, before, limit), cancellationToken: ct));
        return rows.AsList();
    }

    /// <summary>Every matching entry, oldest first, read in batches by id as the caller consumes them.</summary>
    public async IAsyncEnumerable<AuditRow> StreamAsync(AuditQuery query, [EnumeratorCancellation] CancellationToken ct)
    {
        const int batch = 1000;
        long after = 0;
        while (true)
        {
            IReadOnlyList<AuditRow> rows;
            await using (var c = await db.OpenReadAsync(ct))
            {
                var parameters = Parameters(query, null, batch);
                parameters.Add("After", after);
                rows = (await c.QueryAsync<AuditRow>(new CommandDefinition(
                    $"SELECT {Columns} FROM audit_entries WHERE {query.Where(false)} AND id > @After ORDER BY id LIMIT @limit",
                    parameters, cancellationToken: ct))).AsList();
            }

            foreach (var row in rows)
            {
                yield return row;
            }

            if (rows.Count < batch)
            {
                yield break;
            }

            after = rows[^1].Id;
        }
    }

    private static DynamicParameters Parameters(AuditQuery query, long? before, int limit)
    {
        var parameters = new DynamicParameters(query);
        parameters.Add("ActionLike", query.ActionLike);
        parameters.Add("Before", before);
        parameters.Add("limit", limit);
        return parameters;
    }
}
