using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Features.Logs;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Logs;

/// <summary>
/// An org whose lines fill several SQLite full-text tables (five lines each here; a million by default) is searched
/// as one: every match, newest first across the tables, paged without a gap or a duplicate. On PostgreSQL, where one
/// index holds every line, the setting does nothing and the same searches give the same answers.
/// </summary>
public abstract class LogSearchTablesTests(HostFixture fixture)
{
    public const int TableLines = 5;

    public static readonly Dictionary<string, string?> Overrides = new()
    {
        ["Clarity:SqliteSearchTableLines"] = TableLines.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private ClarityHost Host => fixture.Host;

    [Fact]
    public async Task Search_OverAnOrgsSeveralTables_FindsEveryMatchNewestFirst_AndPagesWithoutGapOrDuplicate()
    {
        var word = Work.UniqueWord("tabled");
        var oldest = Work.UniqueWord("oldest");
        var org = await Host.CreateOrgAsync(fixture.Org, Work.Unique("tables"));
        using var client = Host.CreateClient(org.MemberKey);
        var a = await NewTaskAsync(client, org);
        var b = await NewTaskAsync(client, org);

        // Batches of 5, 5, 5 and 3 lines: a full table each on SQLite, the last one partly filled.
        var expected = new List<(string Task, long Seq)>();
        (string Task, int Lines)[] batches = [(a, 5), (b, 5), (a, 5), (b, 3)];
        var seqs = new Dictionary<string, long> { [a] = 0, [b] = 0 };
        foreach (var (task, count) in batches)
        {
            var lines = new List<string>();
            for (var i = 0; i < count; i++)
            {
                var seq = ++seqs[task];
                expected.Add((task, seq));
                lines.Add(expected.Count == 1 ? $"{word} {oldest} line {seq}" : $"{word} {word}x{seq} line {seq}");
            }

            await client.PostAsJsonAsync(org.Api($"tasks/{task}/logs"), lines.Select(text => new { text }).ToArray()).ExpectAsync(HttpStatusCode.OK);
        }

        expected.Reverse();
        Assert.Equal(expected, SearchWork.Hits(await SearchWork.SearchAsync(client, org, word, "&limit=100")));
        Assert.Equal(expected, await PagedAsync(client, org, $"{word}*", 4));
        Assert.Equal(expected, await PagedAsync(client, org, word, 5));
        Assert.Equal(expected.Where(h => h.Task == a).ToList(), await PagedAsync(client, org, $"{word}*", 3, $"&taskId={a}"));

        // A word only the first line holds, in the oldest table, and a prefix only the newer lines hold.
        Assert.Equal([(a, 1L)], SearchWork.Hits(await SearchWork.SearchAsync(client, org, oldest)));
        Assert.Equal(expected.Take(expected.Count - 1).ToList(), SearchWork.Hits(await SearchWork.SearchAsync(client, org, $"{word}x*", "&limit=100")));
        Assert.Equal($"{word} <mark>{oldest}</mark> line 1", Assert.Single(await SearchWork.SearchAsync(client, org, oldest)).Str("snippet"));

        if (Host.Backend == Backend.Sqlite)
        {
            var id = await SearchWork.OrgIdAsync(Host, org.Org);
            var orgId = id.ToString("N");
            await using var c = new SqliteConnection($"Data Source={Path.Combine(Host.DataDirectory, "clarity.db")};Mode=ReadOnly;Pooling=false");
            Assert.Equal(
                [$"log_search_{orgId}", $"log_search_{orgId}_1", $"log_search_{orgId}_2", $"log_search_{orgId}_3"],
                (await c.QueryAsync<string>("SELECT name FROM sqlite_schema WHERE name LIKE @like AND sql LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name", new { like = $"log_search_{orgId}%" })).AsList());
            Assert.Equal(
                [(0L, 5L), (1L, 5L), (2L, 5L), (3L, 3L)],
                (await c.QueryAsync<(long, long)>("SELECT part, lines FROM log_search_tables WHERE org_id = @org ORDER BY part", new { org = id.ToString().ToUpperInvariant() })).AsList());
        }
    }

    [Fact]
    public async Task Search_WithACursorOlderThanTheNewerTables_ReadsOnFromTheTableThatHoldsIt()
    {
        var word = Work.UniqueWord("cursor");
        var org = await Host.CreateOrgAsync(fixture.Org, Work.Unique("cursor"));
        using var client = Host.CreateClient(org.MemberKey);
        var task = await NewTaskAsync(client, org);
        for (var batch = 0; batch < 4; batch++)
        {
            await client.PostAsJsonAsync(org.Api($"tasks/{task}/logs"), Enumerable.Range(1, TableLines).Select(i => new { text = $"{word}{batch} {word} {i}" }).ToArray()).ExpectAsync(HttpStatusCode.OK);
        }

        // The first page ends inside the third table from the end; a word the newer tables also hold finds only older lines after it.
        var first = await client.GetAsync(org.Api($"logs/search?q={word}&limit=12")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(Enumerable.Range(9, 12).Reverse().Select(s => (long)s), first.GetProperty("results").EnumerateArray().Select(h => h.GetProperty("seq").GetInt64()));
        var cursor = first.Str("nextCursor");
        var rest = await client.GetAsync(org.Api($"logs/search?q={word}*&limit=100&cursor={cursor}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(Enumerable.Range(1, 8).Reverse().Select(s => (long)s), rest.GetProperty("results").EnumerateArray().Select(h => h.GetProperty("seq").GetInt64()));
        Assert.Null(rest.OptStr("nextCursor"));
    }

    [Fact]
    public async Task Search_OverMoreTablesThanOneStatementReads_FindsTheOldestLines_AndPagesThroughAll()
    {
        // 102 batches: on SQLite 102 tables, more than the 100 one search statement reads.
        var word = Work.UniqueWord("many");
        var oldest = Work.UniqueWord("first");
        var org = await Host.CreateOrgAsync(fixture.Org, Work.Unique("many"));
        using var client = Host.CreateClient(org.MemberKey);
        var task = await NewTaskAsync(client, org);
        const int Batches = 102;
        for (var batch = 0; batch < Batches; batch++)
        {
            await client.PostAsJsonAsync(org.Api($"tasks/{task}/logs"), Enumerable.Range(1, TableLines).Select(i => new { text = batch == 0 && i == 1 ? $"{oldest} {word}" : $"{word} {i}" }).ToArray()).ExpectAsync(HttpStatusCode.OK);
        }

        Assert.Equal([(task, 1L)], SearchWork.Hits(await SearchWork.SearchAsync(client, org, oldest)));
        Assert.Equal([(task, 1L)], SearchWork.Hits(await SearchWork.SearchAsync(client, org, $"{oldest[..^2]}*")));
        var all = Enumerable.Range(1, Batches * TableLines).Reverse().Select(s => (task, (long)s)).ToList();
        Assert.Equal(all, await PagedAsync(client, org, word, 200));
        Assert.Equal(all, await PagedAsync(client, org, $"{word}*", 7));
    }

    [Fact]
    public async Task Appends_OfTwoOrgsPostedAtOnce_AreEachFoundInTheirOwnOrgOnly_OncePerLine_AcrossTableBoundaries()
    {
        // 12 batches of 3 lines per org, all posted at once: on SQLite several commit in one group, whose lines are indexed
        // at its end, one statement per table, with the other org's lines in between and tables filling up (5 lines each).
        var sides = new List<(OrgSession Org, HttpClient Client, string Word, string[] Tasks)>();
        foreach (var name in new[] { "ours", "theirs" })
        {
            var org = await Host.CreateOrgAsync(fixture.Org, Work.Unique(name));
            var client = Host.CreateClient(org.MemberKey);
            sides.Add((org, client, Work.UniqueWord(name), [await NewTaskAsync(client, org), await NewTaskAsync(client, org)]));
        }

        try
        {
            const int Batches = 12;
            var marked = Work.UniqueWord("marked");
            // On SQLite the writer is held until every append has been queued: they then commit as one group.
            var db = Host.Services.GetRequiredService<Database>() as SqliteDatabase;
            (SemaphoreSlim Gate, Task Held)? writer = db is null ? null : await SqliteWriterHold.HoldAsync(db);
            var posts = new List<Task>();
            for (var batch = 0; batch < Batches; batch++)
            {
                foreach (var (org, client, word, tasks) in sides)
                {
                    var texts = Enumerable.Range(1, 3).Select(i => batch == 5 && i == 2 && word == sides[0].Word
                        ? $"{word} {marked} \uE000not a mark\uE001"
                        : $"{word} batch {batch} line {i}");
                    posts.Add(client.PostAsJsonAsync(org.Api($"tasks/{tasks[batch % 2]}/logs"), texts.Select(text => new { text }).ToArray()).ExpectAsync(HttpStatusCode.OK));
                }
            }

            if (writer is { } held)
            {
                using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                while (db!.QueuedRequestWrites < posts.Count)
                {
                    await Task.Delay(10, deadline.Token);
                }

                held.Gate.Release();
                await held.Held;
            }

            await Task.WhenAll(posts);

            for (var side = 0; side < sides.Count; side++)
            {
                var (org, client, word, tasks) = sides[side];
                var expected = tasks.SelectMany(task => Enumerable.Range(1, Batches / 2 * 3).Select(seq => (task, (long)seq))).OrderBy(hit => hit).ToList();
                var found = await PagedAsync(client, org, word, 50);
                Assert.Equal(expected, found.OrderBy(hit => hit).ToList());
                Assert.Equal(expected, (await PagedAsync(client, org, $"{word[..^2]}*", 50)).OrderBy(hit => hit).ToList());
                Assert.Empty(await SearchWork.SearchAsync(client, org, sides[1 - side].Word));
            }

            var hit = Assert.Single(await SearchWork.SearchAsync(sides[0].Client, sides[0].Org, marked));
            Assert.Equal($"{sides[0].Word} <mark>{marked}</mark> \uE000not a mark\uE001", hit.Str("snippet"));
            Assert.Empty(await SearchWork.SearchAsync(sides[1].Client, sides[1].Org, marked));

            if (Host.Backend == Backend.Sqlite)
            {
                // Each org's tables index its own lines, each once, and none of the other org's (which the search would
                // leave out anyway, as it reads only the org's rows); and merge their segments as
                // LogStore.SqliteSearchAutomerge says.
                await using var c = new SqliteConnection($"Data Source={Path.Combine(Host.DataDirectory, "clarity.db")};Mode=ReadOnly;Pooling=false");
                for (var side = 0; side < sides.Count; side++)
                {
                    var (org, _, word, _) = sides[side];
                    var id = await SearchWork.OrgIdAsync(Host, org.Org);
                    var parts = (await c.QueryAsync<long>("SELECT part FROM log_search_tables WHERE org_id = @org", new { org = id.ToString().ToUpperInvariant() })).AsList();
                    Assert.Equal(Enumerable.Range(0, parts.Count).Select(p => (long)p), parts.Order());
                    Assert.InRange(parts.Count, Batches * 3 / (TableLines + 2), Batches * 3 / TableLines + 1);
                    var indexed = new List<long>();
                    foreach (var part in parts)
                    {
                        var table = LogStore.SqliteSearchTable(id, part);
                        indexed.AddRange(await c.QueryAsync<long>($"SELECT rowid FROM {table} WHERE {table} MATCH @word", new { word }));
                        Assert.Empty(await c.QueryAsync<long>($"SELECT rowid FROM {table} WHERE {table} MATCH @word", new { word = sides[1 - side].Word }));
                        Assert.Equal(LogStore.SqliteSearchAutomerge, await c.ExecuteScalarAsync<long>($"SELECT v FROM {table}_config WHERE k = 'automerge'"));
                    }

                    Assert.Equal(Batches * 3, indexed.Count);
                    Assert.Equal(Batches * 3, indexed.Distinct().Count());
                }
            }
        }
        finally
        {
            foreach (var side in sides)
            {
                side.Client.Dispose();
            }
        }
    }

    private static async Task<List<(string, long)>> PagedAsync(HttpClient client, OrgSession org, string q, int limit, string extra = "")
    {
        var paged = new List<(string, long)>();
        string? cursor = null;
        do
        {
            var page = await client.GetAsync(org.Api($"logs/search?q={Uri.EscapeDataString(q)}&limit={limit}{extra}" + (cursor is null ? "" : $"&cursor={cursor}"))).ExpectAsync(HttpStatusCode.OK);
            var results = page.GetProperty("results").EnumerateArray().ToList();
            Assert.InRange(results.Count, 1, limit);
            paged.AddRange(SearchWork.Hits(results));
            cursor = page.OptStr("nextCursor");
        }
        while (cursor is not null);
        return paged;
    }

    private static async Task<string> NewTaskAsync(HttpClient client, OrgSession org) =>
        (await client.CreateTaskAsync(org, new { queue = Work.Unique("tables"), title = "searching" })).Str("id");
}

public sealed class SqliteLogSearchTablesHostFixture() : HostFixture(Backend.Sqlite, LogSearchTablesTests.Overrides);

public sealed class PostgresLogSearchTablesHostFixture() : HostFixture(Backend.Postgres, LogSearchTablesTests.Overrides);

public sealed class SqliteLogSearchTablesTests(SqliteLogSearchTablesHostFixture fixture) : LogSearchTablesTests(fixture), IClassFixture<SqliteLogSearchTablesHostFixture>;

public sealed class PostgresLogSearchTablesTests(PostgresLogSearchTablesHostFixture fixture) : LogSearchTablesTests(fixture), IClassFixture<PostgresLogSearchTablesHostFixture>;
