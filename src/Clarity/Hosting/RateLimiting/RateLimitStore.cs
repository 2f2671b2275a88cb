using Clarity.Storage;
using Dapper;

namespace Clarity.Hosting.RateLimiting;

/// <summary>What one node admitted from one bucket since its last sync.</summary>
public sealed record SharedBucketPush(string Key, double PermitsPerSecond, int Burst, double Used);

/// <summary>
/// The shared token buckets of several nodes: one row per bucket in <c>rate_limit_buckets</c> (PostgreSQL only; a
/// single SQLite node has nothing to share). A row holds the level at <c>updated_at</c>, both measured on the
/// database's clock, so that the nodes' clocks never matter; the level refills on read.
/// </summary>
public sealed class RateLimitStore(Database db)
{
    // The database's clock, in the milliseconds every time column uses.
    private const string NowMs = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

    /// <summary>True when buckets are shared between nodes (PostgreSQL).</summary>
    public bool Shared => db.Kind == DatabaseKind.Postgres;

    /// <summary>The shared level of a bucket now, or null when no node has used it lately (a full bucket).</summary>
    public async Task<double?> ReadLevelAsync(string key, double permitsPerSecond, int burst, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<double?>(
            $"SELECT LEAST(@burst, level + @rate * GREATEST({NowMs} - updated_at, 0) / 1000.0) FROM rate_limit_buckets WHERE bucket = @key",
            new { key, rate = permitsPerSecond, burst = (double)burst });
    }

    /// <summary>
    /// Subtracts what this node admitted from each bucket's refilled level and returns the new levels, in one
    /// statement. Rows are locked in key order, so two nodes syncing the same buckets never deadlock.
    /// </summary>
    public Task<IReadOnlyDictionary<string, double>> SyncAsync(IReadOnlyList<SharedBucketPush> pushes, CancellationToken ct)
    {
        var sorted = pushes.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        return db.WriteAsync<IReadOnlyDictionary<string, double>>(async (c, t) =>
        {
            // A new row starts full; the level column of the proposed row carries (burst - used), from which the
            // update takes "used" back out: ON CONFLICT can see only the proposed row's columns.
            var rows = await c.QueryAsync<(string Key, double Level)>(
                $"""
                INSERT INTO rate_limit_buckets AS b (bucket, level, rate, burst, updated_at)
                SELECT x.bucket, x.burst - x.used, x.rate, x.burst, {NowMs}
                FROM unnest(@keys, @rates, @bursts, @used) AS x(bucket, rate, burst, used)
                ORDER BY x.bucket
                ON CONFLICT (bucket) DO UPDATE SET
                    level = LEAST(EXCLUDED.burst, b.level + EXCLUDED.rate * GREATEST(EXCLUDED.updated_at - b.updated_at, 0) / 1000.0)
                            - (EXCLUDED.burst - EXCLUDED.level),
                    rate = EXCLUDED.rate,
                    burst = EXCLUDED.burst,
                    updated_at = GREATEST(b.updated_at, EXCLUDED.updated_at)
                RETURNING b.bucket, b.level
                """,
                new
                {
                    keys = sorted.Select(p => p.Key).ToArray(),
                    rates = sorted.Select(p => p.PermitsPerSecond).ToArray(),
                    bursts = sorted.Select(p => (double)p.Burst).ToArray(),
                    used = sorted.Select(p => p.Used).ToArray(),
                },
                t);
            return rows.ToDictionary(r => r.Key, r => r.Level, StringComparer.Ordinal);
        }, ct);
    }

    /// <summary>Deletes rows that have refilled to full: a missing row reads as a full bucket, so nothing changes.</summary>
    public Task<int> PruneAsync(CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync(
            $"DELETE FROM rate_limit_buckets WHERE level + rate * GREATEST({NowMs} - updated_at, 0) / 1000.0 >= burst", transaction: t), ct);
}
