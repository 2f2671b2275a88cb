using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Logs;

public abstract class LogTests(HostFixture fixture)
{
    public const int MaxLineBytes = 256;

    public const int MaxBatchLines = 100;

    public const int MaxBodyBytes = 64 * 1024;

    public static readonly Dictionary<string, string?> Overrides = new()
    {
        ["Clarity:Limits:MaxLogLineBytes"] = MaxLineBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Clarity:Limits:MaxLogBatchLines"] = MaxBatchLines.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Clarity:Limits:MaxRequestBodyBytes"] = MaxBodyBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task Append_ReturnsTheSeqRange_AndReadPagesInOrderWithAfterSeqAndLimit()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var id = await NewTaskAsync(client, Org);

        var first = await AppendAsync(client, Org, id, "one", "two", "three").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal((1, 3, 3), (first.Int("firstSeq"), first.Int("lastSeq"), first.Int("count")));
        var second = await client.PostAsJsonAsync(Org.Api($"tasks/{id}/logs"), new object[]
        {
            new { text = "four", level = "warn", stream = "stderr" },
            new { text = "five", ts = DateTimeOffset.Parse("2030-01-02T03:04:05Z", System.Globalization.CultureInfo.InvariantCulture) },
        }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal((4, 5, 2), (second.Int("firstSeq"), second.Int("lastSeq"), second.Int("count")));

        var all = await client.GetAsync(Org.Api($"tasks/{id}/logs")).ExpectAsync(HttpStatusCode.OK);
        var entries = all.GetProperty("entries").EnumerateArray().ToList();
        Assert.Equal(["one", "two", "three", "four", "five"], entries.Select(e => e.Str("text")));
        Assert.Equal([1L, 2, 3, 4, 5], entries.Select(e => e.GetProperty("seq").GetInt64()));
        Assert.Equal(("warn", "stderr"), (entries[3].Str("level"), entries[3].Str("stream")));
        Assert.Equal(("info", "stdout"), (entries[0].Str("level"), entries[0].Str("stream")));
        Assert.Equal(2030, entries[4].GetProperty("ts").GetDateTimeOffset().Year);
        Assert.Equal(5, all.Int("lastSeq"));

        var page = await client.GetAsync(Org.Api($"tasks/{id}/logs?afterSeq=2&limit=2")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(["three", "four"], page.GetProperty("entries").EnumerateArray().Select(e => e.Str("text")));
        Assert.Equal(4, page.Int("nextAfterSeq"));
        var last = await client.GetAsync(Org.Api($"tasks/{id}/logs?afterSeq={page.Int("nextAfterSeq")}&limit=2")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(["five"], last.GetProperty("entries").EnumerateArray().Select(e => e.Str("text")));
        Assert.True(last.IsNull("nextAfterSeq"));
        Assert.Equal(5, (await client.GetTaskAsync(Org, id)).Int("logCount"));
    }

    [Fact]
    public async Task Append_ConcurrentBatches_GetDistinctContiguousSeqRanges()
    {
        using var creator = Host.CreateClient(Org.MemberKey);
        var id = await NewTaskAsync(creator, Org);
        var ranges = await Task.WhenAll(Enumerable.Range(0, 8).Select(async batch =>
        {
            using var client = Host.CreateClient(Org.MemberKey);
            var lines = Enumerable.Range(0, 10).Select(i => $"batch {batch} line {i}").ToArray();
            var appended = await AppendAsync(client, Org, id, lines).ExpectAsync(HttpStatusCode.OK);
            return (Batch: batch, First: appended.Int("firstSeq"), Last: appended.Int("lastSeq"));
        }));

        Assert.All(ranges, r => Assert.Equal(9, r.Last - r.First));
        Assert.Equal(Enumerable.Range(1, 80), ranges.SelectMany(r => Enumerable.Range(r.First, 10)).Order());
        var entries = (await creator.GetAsync(Org.Api($"tasks/{id}/logs")).ExpectAsync(HttpStatusCode.OK)).GetProperty("entries").EnumerateArray().ToList();
        Assert.Equal(Enumerable.Range(1, 80), entries.Select(e => e.Int("seq")));
        foreach (var (batch, first, _) in ranges)
        {
            Assert.Equal($"batch {batch} line 0", entries[first - 1].Str("text"));
        }
    }

    [Fact]
    public async Task Append_ToAnotherOrgsTask_Answers404()
    {
        using var other = Host.CreateClient(fixture.OtherOrg.MemberKey);
        var theirs = await NewTaskAsync(other, fixture.OtherOrg);

        using var client = Host.CreateClient(Org.MemberKey);
        await AppendAsync(client, Org, theirs, "sneaky").ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await client.GetAsync(Org.Api($"tasks/{theirs}/logs")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await AppendAsync(client, Org, Guid.NewGuid().ToString(), "nowhere").ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        Assert.Equal(0, (await other.GetTaskAsync(fixture.OtherOrg, theirs)).Int("logCount"));
    }

    [Fact]
    public async Task Append_ToAFinishedTask_Answers409()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var lease = await client.StartTaskAsync(Org);
        await AppendAsync(client, Org, lease.TaskId, "while running").ExpectAsync(HttpStatusCode.OK);
        await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token }).ExpectAsync(HttpStatusCode.OK);

        await AppendAsync(client, Org, lease.TaskId, "too late").ExpectProblemAsync(HttpStatusCode.Conflict, "task-finished");
        var log = await client.GetAsync(Org.Api($"tasks/{lease.TaskId}/logs")).ExpectAsync(HttpStatusCode.OK);
        Assert.Single(log.GetProperty("entries").EnumerateArray());
    }

    [Fact]
    public async Task Append_ALineOverTheLimit_Answers413AndStoresNothing()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var id = await NewTaskAsync(client, Org);

        await AppendAsync(client, Org, id, "fine", new string('x', MaxLineBytes + 1)).ExpectProblemAsync(HttpStatusCode.RequestEntityTooLarge, "too-large");
        // The limit counts UTF-8 bytes, not characters.
        await AppendAsync(client, Org, id, new string('é', (MaxLineBytes / 2) + 1)).ExpectProblemAsync(HttpStatusCode.RequestEntityTooLarge, "too-large");
        await AppendAsync(client, Org, id, new string('x', MaxLineBytes)).ExpectAsync(HttpStatusCode.OK);

        var log = await client.GetAsync(Org.Api($"tasks/{id}/logs")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(1, Assert.Single(log.GetProperty("entries").EnumerateArray()).Int("seq"));
    }

    [Fact]
    public async Task Append_ABatchOverTheLineOrBodyLimit_Answers413_AndMalformedJsonAnswers400()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var id = await NewTaskAsync(client, Org);

        await AppendAsync(client, Org, id, Enumerable.Range(0, MaxBatchLines + 1).Select(i => $"l{i}").ToArray())
            .ExpectProblemAsync(HttpStatusCode.RequestEntityTooLarge, "too-large");
        // Few lines, each within the line limit, but a body over the request limit (unknown properties are ignored, yet still sent).
        var padding = new string('p', MaxBodyBytes / 10);
        await client.PostAsJsonAsync(Org.Api($"tasks/{id}/logs"), Enumerable.Range(0, 11).Select(i => new { text = $"l{i}", padding }).ToArray())
            .ExpectProblemAsync(HttpStatusCode.RequestEntityTooLarge, "too-large");
        using var malformed = new StringContent("[{\"text\": \"unterminated", System.Text.Encoding.UTF8, "application/json");
        await client.PostAsync(Org.Api($"tasks/{id}/logs"), malformed).ExpectProblemAsync(HttpStatusCode.BadRequest, "malformed-json");
        using var text = new StringContent("[{\"text\": \"plain\"}]", System.Text.Encoding.UTF8, "text/plain");
        await client.PostAsync(Org.Api($"tasks/{id}/logs"), text).ExpectProblemAsync(HttpStatusCode.UnsupportedMediaType, "unsupported-media-type");
        await client.PostAsJsonAsync(Org.Api($"tasks/{id}/logs"), Array.Empty<object>()).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await client.PostAsJsonAsync(Org.Api($"tasks/{id}/logs"), new[] { new { level = "info" } }).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");

        Assert.Equal(0, (await client.GetTaskAsync(Org, id)).Int("logCount"));
    }

    [Fact]
    public async Task Read_AnotherOrgsTaskLog_Answers404_AlsoWhenTailingWithAfterSeq()
    {
        using var other = Host.CreateClient(fixture.OtherOrg.MemberKey);
        var theirs = await NewTaskAsync(other, fixture.OtherOrg);
        await AppendAsync(other, fixture.OtherOrg, theirs, "one", "two").ExpectAsync(HttpStatusCode.OK);

        using var client = Host.CreateClient(Org.MemberKey);
        await client.GetAsync(Org.Api($"tasks/{theirs}/logs")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await client.GetAsync(Org.Api($"tasks/{theirs}/logs?afterSeq=1")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await client.GetAsync(Org.Api($"tasks/{Guid.NewGuid()}/logs?afterSeq=5")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");

        // Tailing one's own log past its end is simply empty.
        var tail = await other.GetAsync(fixture.OtherOrg.Api($"tasks/{theirs}/logs?afterSeq=2")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(tail.GetProperty("entries").EnumerateArray());
        Assert.Equal(2, tail.Int("lastSeq"));
    }

    [Fact]
    public async Task Search_MatchesAllWords_AndATrailingStarMatchesByPrefix()
    {
        var word = Work.UniqueWord("pre");
        var other = Work.UniqueWord("and");
        using var client = Host.CreateClient(Org.MemberKey);
        var id = await NewTaskAsync(client, Org);
        await AppendAsync(client, Org, id, $"{word}suffix alone", $"{word}suffix with {other}", $"{other} only").ExpectAsync(HttpStatusCode.OK);

        Assert.Equal([2L, 1L], (await SearchAsync(client, $"{word}*")).Select(h => h.GetProperty("seq").GetInt64()));
        Assert.Equal([2L], (await SearchAsync(client, $"{word}* {other}")).Select(h => h.GetProperty("seq").GetInt64()));
        Assert.Empty(await SearchAsync(client, word));
    }

    [Fact]
    public async Task Search_FindsLinesNewestFirst_WithMarkedSnippets_OnlyInTheCallersOrg()
    {
        var word = Work.UniqueWord("zebra");
        using var client = Host.CreateClient(Org.MemberKey);
        var a = await NewTaskAsync(client, Org);
        var b = await NewTaskAsync(client, Org);
        await AppendAsync(client, Org, a, $"first {word} line", "nothing to see here", $"second {word} line").ExpectAsync(HttpStatusCode.OK);
        await AppendAsync(client, Org, b, $"third {word} line").ExpectAsync(HttpStatusCode.OK);
        using var other = Host.CreateClient(fixture.OtherOrg.MemberKey);
        var theirs = await NewTaskAsync(other, fixture.OtherOrg);
        await AppendAsync(other, fixture.OtherOrg, theirs, $"first {word} line", $"third {word} line").ExpectAsync(HttpStatusCode.OK);

        var hits = await SearchAsync(client, word);
        Assert.Equal([(b, 1L), (a, 3L), (a, 1L)], hits.Select(h => (h.Str("taskId"), h.GetProperty("seq").GetInt64())));
        Assert.Contains($"third <mark>{word}</mark> line", hits[0].Str("snippet"), StringComparison.Ordinal);
        Assert.All(hits, h => Assert.Contains($"<mark>{word}</mark>", h.Str("snippet"), StringComparison.Ordinal));

        var onlyA = await SearchAsync(client, word, $"&taskId={a}");
        Assert.Equal([3L, 1L], onlyA.Select(h => h.GetProperty("seq").GetInt64()));

        var theirHits = await SearchAsync(other, word, org: fixture.OtherOrg);
        Assert.All(theirHits, h => Assert.Equal(theirs, h.Str("taskId")));
        Assert.Equal(2, theirHits.Count);
    }

    [Fact]
    public async Task Search_PagesWithCursor()
    {
        var word = Work.UniqueWord("paging");
        using var client = Host.CreateClient(Org.MemberKey);
        var id = await NewTaskAsync(client, Org);
        await AppendAsync(client, Org, id, Enumerable.Range(1, 5).Select(i => $"{word} {i}").ToArray()).ExpectAsync(HttpStatusCode.OK);

        var first = await client.GetAsync(Org.Api($"logs/search?q={word}&limit=2")).ExpectAsync(HttpStatusCode.OK);
        var seqs = first.GetProperty("results").EnumerateArray().Select(h => h.GetProperty("seq").GetInt64()).ToList();
        var cursor = first.Str("nextCursor");
        while (cursor is not null)
        {
            var page = await client.GetAsync(Org.Api($"logs/search?q={word}&limit=2&cursor={cursor}")).ExpectAsync(HttpStatusCode.OK);
            seqs.AddRange(page.GetProperty("results").EnumerateArray().Select(h => h.GetProperty("seq").GetInt64()));
            cursor = page.OptStr("nextCursor");
        }

        Assert.Equal([5L, 4, 3, 2, 1], seqs);
    }

    [Fact]
    public async Task Search_EscapesHtmlInTheLogText()
    {
        var word = Work.UniqueWord("html");
        using var client = Host.CreateClient(Org.MemberKey);
        var id = await NewTaskAsync(client, Org);
        await AppendAsync(client, Org, id, $"<script>alert(\"{word}\")</script> & <b>{word}</b>").ExpectAsync(HttpStatusCode.OK);

        var snippet = Assert.Single(await SearchAsync(client, word)).Str("snippet");
        Assert.DoesNotContain("<script>", snippet, StringComparison.Ordinal);
        Assert.DoesNotContain("<b>", snippet, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;", snippet, StringComparison.Ordinal);
        Assert.Contains("&amp;", snippet, StringComparison.Ordinal);
        Assert.Contains($"<mark>{word}</mark>", snippet, StringComparison.Ordinal);

        // Reading the log back gives the text exactly as written.
        var log = await client.GetAsync(Org.Api($"tasks/{id}/logs")).ExpectAsync(HttpStatusCode.OK);
        Assert.StartsWith("<script>", Assert.Single(log.GetProperty("entries").EnumerateArray()).Str("text"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Search_InALongLine_SnippetShowsTheWordsAroundTheMatch()
    {
        var word = Work.UniqueWord("long");
        using var client = Host.CreateClient(Org.MemberKey);
        var id = await NewTaskAsync(client, Org);
        var filler = string.Join(' ', Enumerable.Range(1, 20).Select(i => $"w{i}"));
        await AppendAsync(client, Org, id, $"{filler} {word} neighbour {filler}").ExpectAsync(HttpStatusCode.OK);

        var snippet = Assert.Single(await SearchAsync(client, word)).Str("snippet");
        Assert.Contains($"<mark>{word}</mark> neighbour", snippet, StringComparison.Ordinal);
        Assert.True(snippet.Length < 400, $"The snippet is the whole line, not an excerpt: {snippet}");
    }

    [Fact]
    public async Task Search_WithNoMatches_ReturnsAnEmptyList()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var result = await client.GetAsync(Org.Api($"logs/search?q={Work.UniqueWord("absent")}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(result.GetProperty("results").EnumerateArray());
        Assert.True(result.IsNull("nextCursor"));
    }

    [Theory]
    [InlineData("it's")]
    [InlineData("a&b|c")]
    [InlineData("\"unterminated")]
    [InlineData("foo* bar**")]
    [InlineData("(x) OR NOT y")]
    [InlineData("NEAR(a b)")]
    [InlineData("col:value")]
    [InlineData("back\\slash")]
    [InlineData("!!! ??? x:*")]
    [InlineData("<b>")]
    public async Task Search_WithOperatorCharactersInTheQuery_TreatsThemAsText(string q)
    {
        using var client = Host.CreateClient(Org.MemberKey);
        await client.GetAsync(Org.Api($"logs/search?q={Uri.EscapeDataString(q)}")).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Append_ALineWithANulCharacter_IsStoredReadAndSearchable()
    {
        var word = Work.UniqueWord("nul");
        using var client = Host.CreateClient(Org.MemberKey);
        var id = await NewTaskAsync(client, Org);
        await AppendAsync(client, Org, id, $"before\0after {word}", "next line").ExpectAsync(HttpStatusCode.OK);

        var entries = (await client.GetAsync(Org.Api($"tasks/{id}/logs")).ExpectAsync(HttpStatusCode.OK)).GetProperty("entries").EnumerateArray().ToList();
        Assert.Equal(2, entries.Count);
        Assert.StartsWith("before", entries[0].Str("text"), StringComparison.Ordinal);
        Assert.EndsWith($"after {word}", entries[0].Str("text"), StringComparison.Ordinal);
        Assert.Equal("next line", entries[1].Str("text"));
        Assert.Single(await SearchAsync(client, word));
    }

    private static Task<HttpResponseMessage> AppendAsync(HttpClient client, OrgSession org, string taskId, params string[] lines) =>
        client.PostAsJsonAsync(org.Api($"tasks/{taskId}/logs"), lines.Select(text => new { text }).ToArray());

    private async Task<List<JsonElement>> SearchAsync(HttpClient client, string q, string extra = "", OrgSession? org = null) =>
        (await client.GetAsync((org ?? Org).Api($"logs/search?q={Uri.EscapeDataString(q)}{extra}")).ExpectAsync(HttpStatusCode.OK))
            .GetProperty("results").EnumerateArray().ToList();

    private static async Task<string> NewTaskAsync(HttpClient client, OrgSession org) =>
        (await client.CreateTaskAsync(org, new { queue = Work.Unique("logs"), title = "logging" })).Str("id");
}

public sealed class SqliteLogHostFixture() : HostFixture(Backend.Sqlite, LogTests.Overrides);

public sealed class PostgresLogHostFixture() : HostFixture(Backend.Postgres, LogTests.Overrides);

public sealed class SqliteLogTests(SqliteLogHostFixture fixture) : LogTests(fixture), IClassFixture<SqliteLogHostFixture>;

public sealed class PostgresLogTests(PostgresLogHostFixture fixture) : LogTests(fixture), IClassFixture<PostgresLogHostFixture>;
