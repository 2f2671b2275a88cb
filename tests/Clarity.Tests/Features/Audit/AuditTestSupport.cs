using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Clarity.Events.Audit;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Audit;

/// <summary>Reads the audit table directly (the instance's chain has no API here) and checks chains against the contract's formula, written out independently of the server's code.</summary>
public static class AuditTestSupport
{
    public const string Columns =
        "id AS Id, chain_id AS ChainId, seq AS Seq, position AS Position, at AS At, actor_kind AS ActorKind, actor_id AS ActorId, action AS Action, " +
        "target_type AS TargetType, target_id AS TargetId, entry AS Entry, digest AS Digest, hash AS Hash, pruned_at AS PrunedAt";

    public static async Task<IReadOnlyList<AuditRow>> RowsAsync(ClarityHost host, string action, string? targetId = null)
    {
        await using var c = await host.Services.GetRequiredService<Database>().OpenReadAsync();
        var sql = $"SELECT {Columns} FROM audit_entries WHERE action = @action" + (targetId is null ? "" : " AND target_id = @targetId") + " ORDER BY id";
        return (await c.QueryAsync<AuditRow>(sql, new { action, targetId })).AsList();
    }

    public static async Task<Guid> OrgIdAsync(ClarityHost host, string slug)
    {
        await using var c = await host.Services.GetRequiredService<Database>().OpenReadAsync();
        return await c.QuerySingleAsync<Guid>("SELECT id FROM orgs WHERE slug = @slug", new { slug });
    }

    /// <summary>Waits until no committed entry waits for the chainer (PostgreSQL; at once on SQLite, which chains inline).</summary>
    public static async Task WaitUntilChainedAsync(ClarityHost host)
    {
        var log = host.Services.GetRequiredService<AuditLog>();
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (await log.UnchainedAsync(CancellationToken.None) > 0)
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, "Audit entries were still unchained after 30 s.");
            await Task.Delay(50);
        }
    }

    /// <summary>Every chain's seq runs 1..N, positions are unique, and each digest and hash recomputes from the stored bytes.</summary>
    public static async Task<int> AssertChainsIntactAsync(ClarityHost host)
    {
        await using var c = await host.Services.GetRequiredService<Database>().OpenReadAsync();
        var rows = (await c.QueryAsync<AuditRow>($"SELECT {Columns} FROM audit_entries ORDER BY id")).AsList();
        Assert.All(rows, r => Assert.NotNull(r.Seq));
        Assert.Equal(rows.Count, rows.Select(r => r.Position).Distinct().Count());
        foreach (var chain in rows.GroupBy(r => r.ChainId))
        {
            var previous = new byte[32];
            var expected = 1L;
            foreach (var row in chain.OrderBy(r => r.Seq))
            {
                Assert.Equal(expected, row.Seq);
                if (row.Entry is not null)
                {
                    Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes(row.Entry)), row.Digest);
                }

                var input = new byte[72];
                previous.CopyTo(input, 0);
                BinaryPrimitives.WriteInt64BigEndian(input.AsSpan(32), row.Seq!.Value);
                row.Digest.CopyTo(input, 40);
                var hash = SHA256.HashData(input);
                Assert.Equal(hash, row.Hash);
                previous = hash;
                expected++;
            }
        }

        return rows.Count;
    }
}
