using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Events.Audit;
using Clarity.Features.Audit;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Audit;

/// <summary>The audit API: filters, cursor paging, bad input, other orgs, exports, and retention's tombstones.</summary>
public abstract class AuditApiTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task List_FiltersByActionPrefixTargetAndActor_NewestFirst_AndPagesByCursor()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add((await agent.CreateTaskAsync(Org, new { queue, title = "listed " + i })).Str("id"));
        }

        using var owner = Host.CreateClient(Org.OwnerToken);
        var page = await owner.GetAsync(Org.Api("audit?action=task.created&limit=2")).ExpectAsync(HttpStatusCode.OK);
        var first = page.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(2, first.Count);
        Assert.True(first[0].GetProperty("id").GetInt64() > first[1].GetProperty("id").GetInt64(), "The list is not newest first.");
        Assert.Equal(ids[^1], first[0].GetProperty("target").Str("id"));

        // Following the cursor visits every entry once, in order.
        var seen = new List<long>();
        string? cursor = null;
        do
        {
            var url = Org.Api("audit?action=task.*&limit=2") + (cursor is null ? "" : "&cursor=" + cursor);
            var next = await owner.GetAsync(url).ExpectAsync(HttpStatusCode.OK);
            seen.AddRange(next.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetInt64()));
            Assert.All(next.GetProperty("items").EnumerateArray(), e => Assert.StartsWith("task.", e.Str("action"), StringComparison.Ordinal));
            cursor = next.OptStr("nextCursor");
        }
        while (cursor is not null);
        Assert.Equal(seen.OrderDescending(), seen);
        Assert.Equal(seen.Distinct().Count(), seen.Count);
        Assert.True(seen.Count >= 5);

        var one = await owner.GetAsync(Org.Api($"audit?target=task:{ids[2]}")).ExpectAsync(HttpStatusCode.OK);
        var only = Assert.Single(one.GetProperty("items").EnumerateArray());
        Assert.Equal(("task.created", "listed 2"), (only.Str("action"), only.GetProperty("entry").GetProperty("after").Str("title")));

        var byKeys = await owner.GetAsync(Org.Api("audit?actor=apikey&action=task.created&limit=200")).ExpectAsync(HttpStatusCode.OK);
        Assert.All(byKeys.GetProperty("items").EnumerateArray(), e => Assert.Equal("apikey", e.GetProperty("actor").Str("kind")));
        var actorId = only.GetProperty("actor").Str("id");
        var byKey = await owner.GetAsync(Org.Api($"audit?actor=apikey:{actorId}&target=task:{ids[0]}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Single(byKey.GetProperty("items").EnumerateArray());

        var future = await owner.GetAsync(Org.Api("audit?from=2999-01-01T00:00:00Z")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(future.GetProperty("items").EnumerateArray());
        var past = await owner.GetAsync(Org.Api("audit?to=2000-01-01T00:00:00Z")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(past.GetProperty("items").EnumerateArray());
    }

    [Theory]
    [InlineData("actor=robot:1", "actor")]
    [InlineData("actor=user:not-a-uuid", "actor")]
    [InlineData("action=Task.Created", "action")]
    [InlineData("action=task.*.*", "action")]
    [InlineData("target=:123", "target")]
    [InlineData("from=yesterday", "from")]
    [InlineData("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to")]
    [InlineData("cursor=not-a-cursor!", "cursor")]
    [InlineData("cursor=AAAAAAAAAAA", "cursor")]
    [InlineData("limit=0", "limit")]
    public async Task List_WithABadFilterOrCursor_Answers400NamingIt(string query, string field)
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var problem = await owner.GetAsync(Org.Api("audit?" + query)).ExpectProblemAsync(HttpStatusCode.BadRequest);
        Assert.Contains(field, problem.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnotherOrgsAudit_Answers404_AndAMemberWithoutAuditRead_Answers403()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        using var stranger = Host.CreateClient(Org.Keys["admin"]);
        await stranger.GetAsync(fixture.OtherOrg.Api("audit")).ExpectProblemAsync(HttpStatusCode.NotFound);
        await stranger.GetAsync(fixture.OtherOrg.Api("audit/export")).ExpectProblemAsync(HttpStatusCode.NotFound);
        using var member = Host.CreateClient(Org.MemberKey);
        await member.GetAsync(Org.Api("audit")).ExpectProblemAsync(HttpStatusCode.Forbidden);
        await stranger.GetAsync(Org.Api("audit")).ExpectAsync(HttpStatusCode.OK);
        await owner.GetAsync(Org.Api("audit/export?format=xml")).ExpectProblemAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Export_Jsonl_StreamsTheMatchingEntriesOldestFirst_ByteForByte_AndIsItselfAudited()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var task = await agent.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "exported \"quoted\", with commas\nand lines" });
        using var owner = Host.CreateClient(Org.OwnerToken);
        var exportsBefore = (await AuditTestSupport.RowsAsync(Host, AuditActions.AuditExported)).Count;

        using var response = await owner.GetAsync(Org.Api("audit/export?format=jsonl&action=task.*"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("application/jsonl", response.Content.Headers.ContentType!.ToString(), StringComparison.Ordinal);
        var lines = (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var items = lines.Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        Assert.All(items, i => Assert.StartsWith("task.", i.Str("action"), StringComparison.Ordinal));
        Assert.Equal(items.Select(i => i.GetProperty("id").GetInt64()).Order(), items.Select(i => i.GetProperty("id").GetInt64()));
        var mine = Assert.Single(items, i => i.GetProperty("target").OptStr("id") == task.Str("id"));
        var stored = Assert.Single(await AuditTestSupport.RowsAsync(Host, AuditActions.TaskCreated, task.Str("id")));
        Assert.Equal(stored.Entry, mine.GetProperty("entry").GetRawText());
        Assert.Equal(Convert.ToHexStringLower(stored.Digest), mine.Str("digest"));

        var exports = await AuditTestSupport.RowsAsync(Host, AuditActions.AuditExported);
        Assert.Equal(exportsBefore + 1, exports.Count);
        var exported = JsonDocument.Parse(exports[^1].Entry!).RootElement;
        Assert.Equal(("jsonl", "task.*", "user"), (exported.GetProperty("after").Str("format"), exported.GetProperty("after").Str("action"), exports[^1].ActorKind));
    }

    [Fact]
    public async Task Export_Csv_QuotesEveryField_AndHoldsTheStoredEntry()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var task = await agent.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "csv \"quoted\", with commas\nand lines" });
        using var owner = Host.CreateClient(Org.OwnerToken);
        using var response = await owner.GetAsync(Org.Api($"audit/export?format=csv&target=task:{task.Str("id")}"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/csv", response.Content.Headers.ContentType!.ToString(), StringComparison.Ordinal);
        var text = await response.Content.ReadAsStringAsync();
        Assert.StartsWith("id,seq,position,at,actorKind,actorId,action,targetType,targetId,entry,digest,hash,prunedAt\r\n", text, StringComparison.Ordinal);
        var stored = Assert.Single(await AuditTestSupport.RowsAsync(Host, AuditActions.TaskCreated, task.Str("id")));
        // RFC 4180: the entry is one quoted field with its quotes doubled.
        Assert.Contains("\"" + stored.Entry!.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"", text, StringComparison.Ordinal);
        Assert.Contains(Convert.ToHexStringLower(stored.Digest), text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Retention_PrunesOldEntriesToTombstones_ThatKeepTheirDigestAndHash_SoTheChainStillVerifies()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var task = await agent.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "to be pruned" });
        await AuditTestSupport.WaitUntilChainedAsync(Host);
        var before = Assert.Single(await AuditTestSupport.RowsAsync(Host, AuditActions.TaskCreated, task.Str("id")));

        // Everything written until now is older than a cutoff just ahead of now.
        var log = Host.Services.GetRequiredService<AuditLog>();
        var now = DbTime.ToDb(DateTimeOffset.UtcNow) + 1;
        while (await log.PruneAsync(now, now, 10_000, CancellationToken.None) > 0)
        {
        }

        var after = Assert.Single(await AuditTestSupport.RowsAsync(Host, AuditActions.TaskCreated, task.Str("id")));
        Assert.Null(after.Entry);
        Assert.NotNull(after.PrunedAt);
        Assert.Equal(before.Digest, after.Digest);
        Assert.Equal(before.Hash, after.Hash);
        Assert.Equal((before.Seq, before.Action, before.TargetId), (after.Seq, after.Action, after.TargetId));
        await AuditTestSupport.AssertChainsIntactAsync(Host);

        using var owner = Host.CreateClient(Org.OwnerToken);
        var listed = await owner.GetAsync(Org.Api($"audit?target=task:{task.Str("id")}")).ExpectAsync(HttpStatusCode.OK);
        var item = Assert.Single(listed.GetProperty("items").EnumerateArray());
        Assert.True(item.IsNull("entry"));
        Assert.Equal(Convert.ToHexStringLower(before.Hash!), item.Str("hash"));
        Assert.False(item.IsNull("prunedAt"));
    }

    [Fact]
    public async Task RetentionSweep_IsOffByDefault()
    {
        var sweep = new AuditRetention(Host.Services.GetRequiredService<AuditLog>(),
            Host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Clarity.Hosting.ClarityOptions>>());
        Assert.Equal(0, await sweep.SweepAsync(DateTimeOffset.UtcNow.AddYears(100), CancellationToken.None));
    }
}

public sealed class SqliteAuditApiTests(SqliteHostFixture fixture) : AuditApiTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresAuditApiTests(PostgresHostFixture fixture) : AuditApiTests(fixture), IClassFixture<PostgresHostFixture>;
