using System.Net;
using Clarity.Events.Audit;
using Clarity.Features.Audit;
using Clarity.Hosting;
using Clarity.Storage;
using Clarity.Tests.Cli;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Audit;

/// <summary>GET …/audit/verify and the <c>clarity audit</c> commands against a real host.</summary>
public abstract class AuditVerifyTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    /// <summary>A new org (whose creation writes entries of its own: <c>Base</c> of them) and <paramref name="entries"/> more.</summary>
    private async Task<(OrgSession Org, Guid Id, long Base)> FreshOrgAsync(int entries)
    {
        var org = await Host.CreateOrgAsync(fixture.Org, Work.UniqueWord("audit"));
        var id = await Host.OrgIdAsync(org.Org);
        await Host.WaitChainedAsync();
        var head = await Host.Services.GetRequiredService<AuditVerifyStore>().HeadAsync(id, CancellationToken.None);
        await Host.WriteEntriesAsync(id, entries);
        return (org, id, head.Seq);
    }

    private Task<int> SqlAsync(string sql, object args) =>
        Host.Services.GetRequiredService<Database>().WriteAsync((c, t) => c.ExecuteAsync(sql, args, t));

    [Fact]
    public async Task Verify_IntactChain_AnswersIntact_AndAuditsTheRun()
    {
        var (org, id, n) = await FreshOrgAsync(7);
        using var client = Host.CreateClient(org.OwnerToken);

        var answer = await client.GetAsync(org.Api("audit/verify")).ExpectAsync(HttpStatusCode.OK);

        Assert.True(answer.GetProperty("intact").GetBoolean());
        Assert.Equal(n + 7, answer.GetProperty("entries").GetInt64());
        Assert.Equal(n + 7, answer.GetProperty("verifiedSeq").GetInt64());
        Assert.False(answer.TryGetProperty("damage", out _)); // null: left out
        Assert.Equal(["truncated", "recomputed"], answer.GetProperty("unseen").EnumerateArray().Select(e => e.GetString()));

        await Host.WaitChainedAsync();
        var again = await client.GetAsync(org.Api("audit/verify")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(n + 8, again.GetProperty("entries").GetInt64()); // the first run's audit.verified entry, chained and verified
        await using var c = await Host.Services.GetRequiredService<Database>().OpenReadAsync();
        Assert.Equal(AuditActions.AuditVerified,
            await c.ExecuteScalarAsync<string>("SELECT action FROM audit_entries WHERE chain_id = @id AND seq = @seq", new { id, seq = n + 8 }));
    }

    [Fact]
    public async Task Verify_AfterAnEntryWasEdited_NamesChangedAndTheFirstBadSeq()
    {
        var (org, id, n) = await FreshOrgAsync(6);
        await SqlAsync("UPDATE audit_entries SET entry = REPLACE(entry, 'item', 'itEm') WHERE chain_id = @id AND seq = @seq", new { id, seq = n + 4 });
        using var client = Host.CreateClient(org.OwnerToken);

        var answer = await client.GetAsync(org.Api("audit/verify")).ExpectAsync(HttpStatusCode.OK);

        Assert.False(answer.GetProperty("intact").GetBoolean());
        Assert.Equal("changed", answer.Str("damage"));
        Assert.Equal(n + 4, answer.GetProperty("firstBadSeq").GetInt64());
        Assert.Equal(n + 3, answer.GetProperty("verifiedSeq").GetInt64());
    }

    [Fact]
    public async Task Verify_AnotherOrgsChain_Answers404()
    {
        using var client = Host.CreateClient(fixture.Org.Keys[BuiltInRoles.Admin]);
        await client.GetAsync(fixture.OtherOrg.Api("audit/verify")).ExpectProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Verify_AsMember_Answers403()
    {
        using var client = Host.CreateClient(fixture.Org.MemberKey);
        await client.GetAsync(fixture.Org.Api("audit/verify")).ExpectProblemAsync(HttpStatusCode.Forbidden);
    }

    private string[] DatabaseArgs => Host.Backend == Backend.Sqlite
        ? ["--data", Host.DataDirectory]
        : ["--database", Host.Settings["Clarity:Database"]!];

    private Task<(int ExitCode, string Stdout, string Stderr)> ClarityAsync(params string[] args) =>
        ClarityProcess.RunAsync([.. args, .. DatabaseArgs]);

    [Fact]
    public async Task Cli_KeygenCheckpointVerify_PassesIntact_ThenNamesTruncationAgainstTheCheckpoint()
    {
        var (org, id, n) = await FreshOrgAsync(10);
        var dir = TestDatabases.NewTempDirectory();
        var key = Path.Combine(dir, "audit.key");
        var cp = Path.Combine(dir, "acme.checkpoint");

        var keygen = await ClarityAsync("audit", "keygen", "--out", key);
        Assert.Equal(0, keygen.ExitCode);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        }

        var verifierKey = File.ReadAllText(key + ".pub").Trim();
        Assert.Equal(verifierKey, keygen.Stdout.Trim());
        Assert.StartsWith("clarity-audit+", verifierKey, StringComparison.Ordinal);

        var checkpoint = await ClarityAsync("audit", "checkpoint", "--org", org.Org, "--key", key, "--out", cp);
        Assert.True(checkpoint.ExitCode == 0, checkpoint.Stderr);
        var note = File.ReadAllText(cp);
        Assert.StartsWith($"clarity.audit/{id:D}\n{n + 10}\n", note, StringComparison.Ordinal);
        Assert.Contains("\n\n\u2014 clarity-audit ", note, StringComparison.Ordinal);

        var intact = await ClarityAsync("audit", "verify", "--org", org.Org, "--checkpoint", cp, "--key", key + ".pub");
        Assert.True(intact.ExitCode == 0, intact.Stdout + intact.Stderr);
        Assert.Contains("intact", intact.Stdout, StringComparison.Ordinal);
        Assert.Contains("entries/s", intact.Stdout, StringComparison.Ordinal);

        await Host.WaitChainedAsync();
        await SqlAsync("DELETE FROM audit_entries WHERE chain_id = @id AND seq >= @seq", new { id, seq = n + 8 });

        var without = await ClarityAsync("audit", "verify", "--org", org.Org);
        Assert.Equal(0, without.ExitCode);
        Assert.Contains("cannot see truncation", without.Stdout, StringComparison.Ordinal);

        var damaged = await ClarityAsync("audit", "verify", "--org", org.Org, "--checkpoint", cp, "--key", key + ".pub");
        Assert.Equal(Clarity.Cli.ExitCodes.AuditDamaged, damaged.ExitCode);
        Assert.Contains("DAMAGED at seq", damaged.Stdout, StringComparison.Ordinal);
        Assert.Contains("truncated", damaged.Stdout, StringComparison.Ordinal);
        TestDatabases.DeleteDirectory(dir);
    }

    [Fact]
    public async Task Cli_Verify_CheckpointOfAnotherOrgOrWithBadSignature_OneLineAndNonZeroExit()
    {
        var (a, _, _) = await FreshOrgAsync(3);
        var (b, _, _) = await FreshOrgAsync(3);
        var dir = TestDatabases.NewTempDirectory();
        var key = Path.Combine(dir, "k");
        Assert.Equal(0, (await ClarityAsync("audit", "keygen", "--out", key)).ExitCode);
        var cp = Path.Combine(dir, "a.checkpoint");
        Assert.Equal(0, (await ClarityAsync("audit", "checkpoint", "--org", a.Org, "--key", key, "--out", cp)).ExitCode);

        var otherOrg = await ClarityAsync("audit", "verify", "--org", b.Org, "--checkpoint", cp, "--key", key + ".pub");
        Assert.NotEqual(0, otherOrg.ExitCode);
        Assert.Single(otherOrg.Stderr.Trim().Split('\n'));
        Assert.Contains("another chain", otherOrg.Stderr, StringComparison.Ordinal);

        var lines = File.ReadAllText(cp).Split('\n');
        lines[1] = (long.Parse(lines[1], System.Globalization.CultureInfo.InvariantCulture) - 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        File.WriteAllText(cp, string.Join('\n', lines));
        var forged = await ClarityAsync("audit", "verify", "--checkpoint", cp, "--key", key + ".pub");
        Assert.NotEqual(0, forged.ExitCode);
        Assert.Single(forged.Stderr.Trim().Split('\n'));
        Assert.Contains("does not verify", forged.Stderr, StringComparison.Ordinal);

        var noOrg = await ClarityAsync("audit", "verify", "--org", "no-such-org");
        Assert.Equal(2, noOrg.ExitCode);
        Assert.Equal("clarity: no org 'no-such-org'.", noOrg.Stderr.Trim());

        var overwrite = await ClarityAsync("audit", "keygen", "--out", key);
        Assert.Equal(2, overwrite.ExitCode);
        Assert.Single(overwrite.Stderr.Trim().Split('\n'));
        TestDatabases.DeleteDirectory(dir);
    }

    [Fact]
    public async Task Cli_Export_WritesTheOrgsEntriesAsJsonLinesOrCsv_AndRefusesAnUnknownFormat()
    {
        var (org, _, _) = await FreshOrgAsync(4);
        var dir = TestDatabases.NewTempDirectory();
        var jsonl = Path.Combine(dir, "audit.jsonl");

        var run = await ClarityAsync("audit", "export", "--org", org.Org, "--out", jsonl);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var lines = File.ReadAllLines(jsonl);
        Assert.True(lines.Length >= 4);
        Assert.Equal(4, lines.Count(l => l.Contains("test.recorded", StringComparison.Ordinal)));

        var csv = await ClarityAsync("audit", "export", "--org", org.Org, "--format", "csv");
        Assert.Equal(0, csv.ExitCode);
        Assert.StartsWith("id,seq,position,at,", csv.Stdout, StringComparison.Ordinal);

        var bad = await ClarityAsync("audit", "export", "--format", "xml");
        Assert.Equal(2, bad.ExitCode);
        Assert.Single(bad.Stderr.Trim().Split('\n'));
        TestDatabases.DeleteDirectory(dir);
    }
}

public sealed class SqliteAuditVerifyTests(SqliteHostFixture fixture) : AuditVerifyTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresAuditVerifyTests(PostgresHostFixture fixture) : AuditVerifyTests(fixture), IClassFixture<PostgresHostFixture>;
