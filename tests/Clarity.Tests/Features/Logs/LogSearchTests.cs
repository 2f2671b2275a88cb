using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Logs;

/// <summary>
/// Search is confined to the searching org: what it finds, and what it costs. Each test makes its own orgs, so the
/// work a search does can be compared before and after another org's logs grow.
/// </summary>
public abstract class LogSearchTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    [Fact]
    public async Task Search_WorkDoesNotGrowWithAnotherOrgsMatchingLines()
    {
        var word = Work.UniqueWord("shared");
        var prefix = Work.UniqueWord("pfx");
        var (mine, mineId) = await NewOrgAsync("mine");
        var (theirs, _) = await NewOrgAsync("theirs");
        var (empty, emptyId) = await NewOrgAsync("empty");

        // Ballast, so that the table is big enough for PostgreSQL's planner to use indexes, as it would in production.
        var (ballast, _) = await NewOrgAsync("ballast");
        using var ballaster = Host.CreateClient(ballast.MemberKey);
        var ballastTask = await NewTaskAsync(ballaster, ballast);
        for (var batch = 0; batch < 2; batch++)
        {
            await AppendAsync(ballaster, ballast, ballastTask, Enumerable.Range(1, 1000).Select(i => $"ballast {batch}.{i} unrelated words only").ToArray());
        }

        using var me = Host.CreateClient(mine.MemberKey);
        var myTask = await NewTaskAsync(me, mine);
        await AppendAsync(me, mine, myTask, Enumerable.Range(1, 300).Select(i => i % 100 == 0
            ? $"line {i} {word} {prefix}tail{i} filler words here"
            : $"line {i} ordinary filler words here").ToArray());

        string[][] queries = [[word], [$"{prefix}*"], [word, "filler"], [$"{prefix}*", word]];
        await SearchWork.SettleAsync(Host);
        var before = await MeasureAllAsync(mineId, queries);
        var emptyBefore = await MeasureAllAsync(emptyId, queries);

        // Another org logs the same words, many times over.
        using var they = Host.CreateClient(theirs.MemberKey);
        var theirTask = await NewTaskAsync(they, theirs);
        for (var batch = 0; batch < 4; batch++)
        {
            await AppendAsync(they, theirs, theirTask, Enumerable.Range(1, 1000).Select(i => $"theirs {batch}.{i} {word} {prefix}x{i % 50} filler").ToArray());
        }

        await SearchWork.SettleAsync(Host);
        var after = await MeasureAllAsync(mineId, queries);
        var emptyAfter = await MeasureAllAsync(emptyId, queries);
        var (mineOwn, emptyOwn) = Host.Backend == Backend.Postgres
            ? (await SearchWork.OwnLinesAsync(Host, mineId), await SearchWork.OwnLinesAsync(Host, emptyId))
            : (0, 0);

        for (var q = 0; q < queries.Length; q++)
        {
            var what = $"'{string.Join(' ', queries[q])}'\nbefore:\n{before[q].Plan}\nafter:\n{after[q].Plan}";
            Assert.Equal(before[q].Rows, after[q].Rows);
            Assert.Equal(0, emptyAfter[q].Rows);
            if (Host.Backend == Backend.Sqlite)
            {
                // The same statement over the same per-org table. Its page count may only grow by a level of the
                // task_logs B-tree in the two rowid lookups per hit (the row, and the text for the snippet).
                Assert.Equal(before[q].Steps, after[q].Steps);
                Assert.True(after[q].Pages <= before[q].Pages + (2 * before[q].Rows), $"A search read {before[q].Pages} pages, then {after[q].Pages} after another org logged 4,000 matching lines: {what}");
                Assert.Equal(emptyBefore[q], emptyAfter[q]);
            }
            else
            {
                // The planner may pick another plan once the word is common in all logs, but every plan it may pick
                // reads only this org's entries: at most what reading all its lines costs, plus a GIN tree level for
                // each key (the org and each word).
                var slack = queries[q].Length + 1;
                Assert.True(after[q].Pages <= Math.Max(before[q].Pages, mineOwn) + slack, $"A search read {before[q].Pages} pages, then {after[q].Pages} after another org logged 4,000 matching lines (all of this org's lines take {mineOwn}): {what}");
                Assert.True(emptyAfter[q].Pages <= Math.Max(emptyBefore[q].Pages, emptyOwn) + slack, $"A search in an org with no logs read {emptyBefore[q].Pages} pages, then {emptyAfter[q].Pages}: {emptyAfter[q].Plan}");
            }
        }

        Assert.Equal(3, before[0].Rows);
        if (Host.Backend == Backend.Sqlite)
        {
            // An org that never logged has no table, and a search there runs no statement at all.
            Assert.All(emptyAfter, w => Assert.Same(SearchWork.None, w));
        }

        using var nobody = Host.CreateClient(empty.MemberKey);
        Assert.Empty(await SearchWork.SearchAsync(nobody, empty, word));
    }

    [Fact]
    public async Task Search_FromAnOrgWithNoLogs_FindsNothing_WhileAnotherOrgMatches()
    {
        var word = Work.UniqueWord("lonely");
        var (busy, _) = await NewOrgAsync("busy");
        var (quiet, _) = await NewOrgAsync("quiet");
        using var b = Host.CreateClient(busy.MemberKey);
        await AppendAsync(b, busy, await NewTaskAsync(b, busy), $"{word} here", $"{word}suffix there", "and more");

        using var q = Host.CreateClient(quiet.MemberKey);
        foreach (var query in new[] { word, $"{word}*", $"{word} here", "and" })
        {
            var page = await q.GetAsync(quiet.Api($"logs/search?q={Uri.EscapeDataString(query)}")).ExpectAsync(HttpStatusCode.OK);
            Assert.Empty(page.GetProperty("results").EnumerateArray());
            Assert.True(page.IsNull("nextCursor"));
        }

        Assert.Equal(2, (await SearchWork.SearchAsync(b, busy, $"{word}*")).Count);
    }

    [Fact]
    public async Task Search_PrefixTwoWordsTaskFilterAndPaging_StayInsideTheOrg()
    {
        var word = Work.UniqueWord("both");
        var (mine, _) = await NewOrgAsync("mine");
        var (theirs, _) = await NewOrgAsync("theirs");
        using var me = Host.CreateClient(mine.MemberKey);
        using var they = Host.CreateClient(theirs.MemberKey);
        var a = await NewTaskAsync(me, mine);
        var b = await NewTaskAsync(me, mine);
        var t = await NewTaskAsync(they, theirs);

        // Interleave the two orgs' appends, so that their lines' ids interleave too.
        await AppendAsync(me, mine, a, $"{word} alpha one", $"{word}ish alpha two");
        await AppendAsync(they, theirs, t, $"{word} alpha theirs", $"{word}ish theirs");
        await AppendAsync(me, mine, b, $"{word} beta three");
        await AppendAsync(they, theirs, t, $"{word} beta theirs");
        await AppendAsync(me, mine, a, $"{word}ish beta four");

        Assert.Equal([(a, 3L), (b, 1L), (a, 2L), (a, 1L)], SearchWork.Hits(await SearchWork.SearchAsync(me, mine, $"{word}*")));
        Assert.Equal([(b, 1L), (a, 1L)], SearchWork.Hits(await SearchWork.SearchAsync(me, mine, word)));
        Assert.Equal([(a, 3L), (b, 1L)], SearchWork.Hits(await SearchWork.SearchAsync(me, mine, $"{word}* beta")));
        Assert.Equal([(a, 2L), (a, 1L)], SearchWork.Hits(await SearchWork.SearchAsync(me, mine, $"alpha {word}*")));
        Assert.Equal([(a, 3L), (a, 2L), (a, 1L)], SearchWork.Hits(await SearchWork.SearchAsync(me, mine, $"{word}*", $"&taskId={a}")));
        Assert.Empty(await SearchWork.SearchAsync(me, mine, $"{word}*", $"&taskId={t}"));
        Assert.Empty(await SearchWork.SearchAsync(me, mine, "theirs"));
        Assert.Equal([(t, 3L), (t, 2L), (t, 1L)], SearchWork.Hits(await SearchWork.SearchAsync(they, theirs, $"{word}*")));

        var paged = new List<(string, long)>();
        string? cursor = null;
        do
        {
            var page = await me.GetAsync(mine.Api($"logs/search?q={word}*&limit=1{(cursor is null ? "" : $"&cursor={cursor}")}")).ExpectAsync(HttpStatusCode.OK);
            paged.AddRange(SearchWork.Hits(page.GetProperty("results").EnumerateArray().ToList()));
            cursor = page.OptStr("nextCursor");
        }
        while (cursor is not null);
        Assert.Equal([(a, 3L), (b, 1L), (a, 2L), (a, 1L)], paged);
    }

    [Fact]
    public async Task Search_MarkerCharactersInTheLogText_NeverBecomeMarkup()
    {
        var word = Work.UniqueWord("marked");
        using var client = Host.CreateClient(fixture.Org.MemberKey);
        var id = await NewTaskAsync(client, fixture.Org);
        // Six words, so that both engines' snippets show the whole line.
        await AppendAsync(client, fixture.Org, id, $"\uE000start\uE001 \uE002x> {word} \uE003 \uE003\uE004 <mark>");

        var snippet = Assert.Single(await SearchWork.SearchAsync(client, fixture.Org, word)).Str("snippet");
        Assert.Equal($"\uE000start\uE001 \uE002x&gt; <mark>{word}</mark> \uE003 \uE003\uE004 &lt;mark&gt;", snippet);
    }

    [Fact]
    public async Task Search_ForAWordContainingMarkerCharacters_FindsAndMarksTheWholeWord()
    {
        var head = Work.UniqueWord("pua");
        var word = $"{head}\uE000mid\uE003\uE001end";
        using var client = Host.CreateClient(fixture.Org.MemberKey);
        var id = await NewTaskAsync(client, fixture.Org);
        await AppendAsync(client, fixture.Org, id, $"before {word} after", $"{head} alone");

        var exact = Assert.Single(await SearchWork.SearchAsync(client, fixture.Org, word));
        Assert.Equal(1, exact.Int("seq"));
        Assert.Equal($"before <mark>{word}</mark> after", exact.Str("snippet"));
        var prefix = await SearchWork.SearchAsync(client, fixture.Org, $"{head}\uE000mi*");
        Assert.Equal([1L], prefix.Select(h => h.GetProperty("seq").GetInt64()));
        Assert.Equal($"before <mark>{word}</mark> after", prefix[0].Str("snippet"));
    }

    private async Task<SearchWork[]> MeasureAllAsync(Guid orgId, string[][] queries)
    {
        var work = new SearchWork[queries.Length];
        for (var i = 0; i < queries.Length; i++)
        {
            work[i] = await SearchWork.MeasureAsync(Host, orgId, queries[i]);
        }

        return work;
    }

    private async Task<(OrgSession Org, Guid Id)> NewOrgAsync(string prefix)
    {
        var org = await Host.CreateOrgAsync(fixture.Org, Work.Unique(prefix));
        return (org, await SearchWork.OrgIdAsync(Host, org.Org));
    }

    private static async Task AppendAsync(HttpClient client, OrgSession org, string taskId, params string[] lines) =>
        await client.PostAsJsonAsync(org.Api($"tasks/{taskId}/logs"), lines.Select(text => new { text }).ToArray()).ExpectAsync(HttpStatusCode.OK);

    private static async Task<string> NewTaskAsync(HttpClient client, OrgSession org) =>
        (await client.CreateTaskAsync(org, new { queue = Work.Unique("search"), title = "searching" })).Str("id");
}

public sealed class SqliteLogSearchTests(SqliteHostFixture fixture) : LogSearchTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresLogSearchTests(PostgresHostFixture fixture) : LogSearchTests(fixture), IClassFixture<PostgresHostFixture>;
