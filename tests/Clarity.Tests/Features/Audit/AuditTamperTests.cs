using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using Clarity.Features.Audit;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace Clarity.Tests.Features.Audit;

/// <summary>
/// The tamper test: a database made by real traffic is copied once (the SQLite file; a PostgreSQL database through
/// CREATE DATABASE … TEMPLATE), and 1,000 random tamperings are made on the copy, each in a transaction that is rolled
/// back afterwards (so every tampering starts from the same copy). Every one must be detected against a checkpoint;
/// without one, truncation and a recomputed tail cannot be seen, and every other kind still is.
/// </summary>
public abstract class AuditTamperTests(Backend backend, ITestOutputHelper output)
{
    private const int Tamperings = 1000;

    private enum Tamper
    {
        FlipEntryByte,
        FlipDigestByte,
        FlipHashByte,
        EditFilterColumn,
        Delete,
        DeleteAndRenumber,
        InsertAndRenumber,
        Reorder,
        Truncate,
        RecomputeTail,
    }

    [Fact]
    public async Task Verify_ThousandRandomTamperings_AllDetectedAgainstCheckpoint_AndWithoutOneAllButTruncationAndRecomputedTails()
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        // A real database: API traffic (tasks, verifications) plus entries through the unit of work.
        var host = await ClarityHost.StartAsync(backend);
        var org = await host.SetupAsync("acme");
        var orgId = await host.OrgIdAsync("acme");
        using (var client = host.CreateClient(org.OwnerToken))
        {
            for (var i = 0; i < 10; i++)
            {
                await client.CreateTaskAsync(org, new { queue = "q", title = $"t{i}" });
                await host.WriteEntriesAsync(orgId, 20);
                (await client.GetAsync(org.Api("audit/verify"))).EnsureSuccessStatusCode();
            }
        }

        await host.WaitChainedAsync();
        var verification = host.Services.GetRequiredService<AuditVerification>();
        var head = await verification.Store.HeadAsync(orgId, CancellationToken.None);
        var checkpoint = new AuditCheckpoint(orgId, head.Seq, head.Hash, DateTimeOffset.UtcNow, "acme");
        Assert.True(head.Seq >= 200, $"the source chain has {head.Seq} entries");

        output.WriteLine($"source made in {watch.Elapsed}");
        var (copy, cleanup) = await CopyAsync(host);
        output.WriteLine($"copied by {watch.Elapsed}");
        try
        {
            await using var c = await OpenAsync(copy);
            var random = new Random(20261129);
            var seenWith = new Dictionary<Tamper, int>();
            var seenWithout = new Dictionary<Tamper, int>();
            var made = new Dictionary<Tamper, int>();
            var kinds = Enum.GetValues<Tamper>();
            for (var i = 0; i < Tamperings; i++)
            {
                var kind = kinds[random.Next(kinds.Length)];
                await using var t = await c.BeginTransactionAsync();
                await ApplyAsync(c, t, orgId, head.Seq, kind, random);
                var (with, without) = await VerifyBothAsync(c, t, orgId, checkpoint);
                await t.RollbackAsync();

                made[kind] = made.GetValueOrDefault(kind) + 1;
                Assert.False(with.Intact, $"tampering #{i} ({kind}) was not detected against the checkpoint");
                seenWith[kind] = seenWith.GetValueOrDefault(kind) + 1;
                if (!without.Intact)
                {
                    seenWithout[kind] = seenWithout.GetValueOrDefault(kind) + 1;
                }
            }

            // The untouched copy still verifies: the rollbacks left it as it was.
            Assert.True((await VerifyBothAsync(c, null, orgId, checkpoint)).With.Intact);

            output.WriteLine($"{backend}: {Tamperings} tamperings of a {head.Seq}-entry chain, done by {watch.Elapsed}");
            output.WriteLine("kind                made  detected with checkpoint  detected without");
            foreach (var kind in kinds)
            {
                output.WriteLine($"{kind,-18} {made.GetValueOrDefault(kind),5}  {seenWith.GetValueOrDefault(kind),24}  {seenWithout.GetValueOrDefault(kind),16}");
            }

            // Without a checkpoint: every kind but truncation and a recomputed tail is still seen, and those two never are.
            foreach (var kind in kinds)
            {
                var expected = kind is Tamper.Truncate or Tamper.RecomputeTail ? 0 : made.GetValueOrDefault(kind);
                Assert.Equal(expected, seenWithout.GetValueOrDefault(kind));
            }
        }
        finally
        {
            await cleanup();
            await host.DisposeAsync();
        }
    }

    /// <summary>One read of the chain, verified against the checkpoint and without one.</summary>
    private static async Task<(ChainVerdict With, ChainVerdict Without)> VerifyBothAsync(DbConnection c, DbTransaction? t, Guid orgId, AuditCheckpoint checkpoint)
    {
        var with = new ChainVerifier(orgId, checkpoint);
        var without = new ChainVerifier(orgId);
        await foreach (var row in AuditVerifyStore.ReadChainAsync(c, t, orgId, 0, CancellationToken.None))
        {
            with.Add(row);
            without.Add(row);
        }

        return (with.Finish(), without.Finish());
    }

    private static async Task ApplyAsync(DbConnection c, DbTransaction t, Guid chain, long size, Tamper kind, Random random)
    {
        var seq = random.NextInt64(1, size + 1);
        switch (kind)
        {
            case Tamper.FlipEntryByte:
            {
                var entry = await c.QuerySingleAsync<string>("SELECT entry FROM audit_entries WHERE chain_id = @chain AND seq = @seq", new { chain, seq }, t);
                var chars = entry.ToCharArray();
                int at;
                do
                {
                    at = random.Next(chars.Length);
                }
                while (chars[at] is < '0' or > 'z'); // an ASCII letter or digit: the text stays valid UTF-8 on both engines
                chars[at] = chars[at] == 'a' ? 'b' : 'a';
                if (new string(chars) == entry)
                {
                    chars[at] = 'c';
                }

                await c.ExecuteAsync("UPDATE audit_entries SET entry = @entry WHERE chain_id = @chain AND seq = @seq", new { chain, seq, entry = new string(chars) }, t);
                break;
            }

            case Tamper.FlipDigestByte:
            case Tamper.FlipHashByte:
            {
                var column = kind == Tamper.FlipDigestByte ? "digest" : "hash";
                var bytes = await c.QuerySingleAsync<byte[]>($"SELECT {column} FROM audit_entries WHERE chain_id = @chain AND seq = @seq", new { chain, seq }, t);
                bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                await c.ExecuteAsync($"UPDATE audit_entries SET {column} = @bytes WHERE chain_id = @chain AND seq = @seq", new { chain, seq, bytes }, t);
                break;
            }

            case Tamper.EditFilterColumn:
                await c.ExecuteAsync("UPDATE audit_entries SET action = 'nothing.happened' WHERE chain_id = @chain AND seq = @seq", new { chain, seq }, t);
                break;

            case Tamper.Delete:
                seq = random.NextInt64(1, size); // not the newest: deleting that is truncation
                await c.ExecuteAsync("DELETE FROM audit_entries WHERE chain_id = @chain AND seq = @seq", new { chain, seq }, t);
                break;

            case Tamper.DeleteAndRenumber:
                seq = random.NextInt64(1, size);
                await c.ExecuteAsync("DELETE FROM audit_entries WHERE chain_id = @chain AND seq = @seq", new { chain, seq }, t);
                await ShiftAsync(c, t, chain, seq, -1);
                break;

            case Tamper.InsertAndRenumber:
            {
                await ShiftAsync(c, t, chain, seq, +1);
                // A plausible entry: a real one's bytes, slightly changed, with its own correct digest and an invented hash.
                var entry = (await c.QuerySingleAsync<string>("SELECT entry FROM audit_entries WHERE chain_id = @chain AND seq = @other",
                    new { chain, other = seq == 1 ? 2 : 1 }, t)).Replace("\"n\":", "\"n\":9", StringComparison.Ordinal);
                var digest = SHA256.HashData(Encoding.UTF8.GetBytes(entry));
                var hash = RandomNumberGenerator.GetBytes(32);
                await c.ExecuteAsync(
                    "INSERT INTO audit_entries (chain_id, seq, position, at, actor_kind, actor_id, action, target_type, target_id, entry, digest, hash) " +
                    "SELECT chain_id, @seq, -1, at, actor_kind, actor_id, action, target_type, target_id, @entry, @digest, @hash FROM audit_entries WHERE chain_id = @chain AND seq = @other",
                    new { chain, seq, entry, digest, hash, other = seq == 1 ? 2 : 1 }, t);
                break;
            }

            case Tamper.Reorder:
            {
                var other = seq;
                while (other == seq)
                {
                    other = random.NextInt64(1, size + 1);
                }

                await c.ExecuteAsync("UPDATE audit_entries SET seq = -1 WHERE chain_id = @chain AND seq = @seq", new { chain, seq }, t);
                await c.ExecuteAsync("UPDATE audit_entries SET seq = @seq WHERE chain_id = @chain AND seq = @other", new { chain, seq, other }, t);
                await c.ExecuteAsync("UPDATE audit_entries SET seq = @other WHERE chain_id = @chain AND seq = -1", new { chain, other }, t);
                break;
            }

            case Tamper.Truncate:
                // Keep at least one entry before the cut; delete everything from there on.
                seq = random.NextInt64(Math.Min(2, size), size + 1);
                await c.ExecuteAsync("DELETE FROM audit_entries WHERE chain_id = @chain AND seq >= @seq", new { chain, seq }, t);
                break;

            case Tamper.RecomputeTail:
            {
                // Someone with write access rewrites an entry and recomputes every hash after it, correctly.
                var rows = (await c.QueryAsync<(long Seq, string Entry)>(
                    "SELECT seq, entry FROM audit_entries WHERE chain_id = @chain AND seq >= @seq ORDER BY seq", new { chain, seq }, t)).AsList();
                var prev = seq == 1
                    ? new byte[32]
                    : await c.QuerySingleAsync<byte[]>("SELECT hash FROM audit_entries WHERE chain_id = @chain AND seq = @before", new { chain, before = seq - 1 }, t);
                for (var i = 0; i < rows.Count; i++)
                {
                    var entry = i == 0 ? rows[i].Entry.Replace("\"action\":\"", "\"action\":\"x", StringComparison.Ordinal) : rows[i].Entry;
                    var digest = SHA256.HashData(Encoding.UTF8.GetBytes(entry));
                    var hash = ChainVerifier.LinkHash(prev, rows[i].Seq, digest);
                    await c.ExecuteAsync(
                        "UPDATE audit_entries SET entry = @entry, digest = @digest, hash = @hash, action = CASE WHEN @first THEN 'x' || action ELSE action END " +
                        "WHERE chain_id = @chain AND seq = @s", new { chain, s = rows[i].Seq, entry, digest, hash, first = i == 0 }, t);
                    prev = hash;
                }

                break;
            }
        }
    }

    /// <summary>Moves every entry from <paramref name="from"/> on by <paramref name="by"/> (through negative numbers: the unique index is checked row by row).</summary>
    private static async Task ShiftAsync(DbConnection c, DbTransaction t, Guid chain, long from, int by)
    {
        await c.ExecuteAsync("UPDATE audit_entries SET seq = -(seq + @by) WHERE chain_id = @chain AND seq >= @from", new { chain, from, by }, t);
        await c.ExecuteAsync("UPDATE audit_entries SET seq = -seq WHERE chain_id = @chain AND seq < 0", new { chain }, t);
    }

    /// <summary>Copies the host's database while its server is stopped: the SQLite file, or a PostgreSQL database by template.</summary>
    private async Task<(string Copy, Func<Task> Cleanup)> CopyAsync(ClarityHost host)
    {
        (string, Func<Task>) result = default;
        await host.RestartAsync(async () => result = await CopyStoppedAsync(host));
        return result;
    }

    private async Task<(string Copy, Func<Task> Cleanup)> CopyStoppedAsync(ClarityHost host)
    {
        if (backend == Backend.Sqlite)
        {
            SqliteConnection.ClearAllPools();
            var copy = Path.Combine(TestDatabases.NewTempDirectory(), "tamper.db");
            File.Copy(Path.Combine(host.DataDirectory, "clarity.db"), copy);
            return (copy, () =>
            {
                SqliteConnection.ClearAllPools();
                TestDatabases.DeleteDirectory(Path.GetDirectoryName(copy)!);
                return Task.CompletedTask;
            });
        }

        NpgsqlConnection.ClearAllPools();
        var source = new NpgsqlConnectionStringBuilder(host.PostgresConnectionString ?? host.Settings["Clarity:Database"]);
        var name = "clarity_tamper_" + Guid.NewGuid().ToString("N")[..12];
        await using (var admin = new NpgsqlConnection(TestDatabases.PostgresServer))
        {
            await admin.OpenAsync();
            await admin.ExecuteAsync($"CREATE DATABASE {name} TEMPLATE {source.Database}");
        }

        // Like every test database, the copy stays on test.sh's throwaway cluster: dropping it forces a checkpoint, which
        // on a loaded CI machine outlasted the command timeout and failed a test whose assertions had all passed.
        return (new NpgsqlConnectionStringBuilder(source.ConnectionString) { Database = name, Pooling = false }.ConnectionString, () => Task.CompletedTask);
    }

    private async Task<DbConnection> OpenAsync(string copy)
    {
        DbConnection c = backend == Backend.Sqlite
            ? new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = copy, Pooling = false }.ConnectionString)
            : new NpgsqlConnection(copy);
        await c.OpenAsync();
        return c;
    }
}

public sealed class SqliteAuditTamperTests(ITestOutputHelper output) : AuditTamperTests(Backend.Sqlite, output);

public sealed class PostgresAuditTamperTests(ITestOutputHelper output) : AuditTamperTests(Backend.Postgres, output);
