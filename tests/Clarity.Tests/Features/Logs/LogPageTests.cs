using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Clarity.Client;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Logs;

/// <summary>Reading a log of big lines: pages end at the byte bound, and following nextAfterSeq reads the rest exactly.</summary>
public abstract class LogPageTests(HostFixture fixture)
{
    public const int MaxPageBytes = 256 * 1024;

    public static readonly Dictionary<string, string?> Overrides = new()
    {
        ["Clarity:Limits:MaxLogPageBytes"] = MaxPageBytes.ToString(CultureInfo.InvariantCulture),
        ["Clarity:Limits:MaxRequestBodyBytes"] = (8 << 20).ToString(CultureInfo.InvariantCulture),
    };

    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task Read_BigLinesWithTheLargestLimit_EndsAtTheByteBound_AndTheFollowingPagesReturnTheRestWithNoGapOrDuplicate()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var (id, lines) = await TaskWithBigLinesAsync(client);

        var seen = new List<(long Seq, string Text)>();
        long after = 0;
        var pages = 0;
        while (true)
        {
            using var response = await client.GetAsync(Org.Api($"tasks/{id}/logs?afterSeq={after}&limit=10000"));
            var body = await response.Content.ReadAsByteArrayAsync();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            Assert.True(body.Length <= MaxPageBytes, $"page {pages} is {body.Length} bytes, over the {MaxPageBytes}-byte bound");
            var page = JsonDocument.Parse(body).RootElement;
            var entries = page.GetProperty("entries").EnumerateArray().Select(e => (e.GetProperty("seq").GetInt64(), e.Str("text"))).ToList();
            seen.AddRange(entries);
            pages++;
            if (page.IsNull("nextAfterSeq"))
            {
                Assert.Equal(seen.Count > 0 ? seen[^1].Seq : after, page.GetProperty("lastSeq").GetInt64());
                break;
            }

            // A page cut short by the bound says where to go on: after its last line.
            Assert.NotEmpty(entries);
            Assert.Equal(entries[^1].Item1, page.GetProperty("nextAfterSeq").GetInt64());
            Assert.Equal(entries[^1].Item1, page.GetProperty("lastSeq").GetInt64());
            after = page.GetProperty("nextAfterSeq").GetInt64();
        }

        Assert.True(pages >= 4, $"{lines.Count} big lines fit in {pages} pages: the bound did not cut them");
        Assert.Equal(Enumerable.Range(1, lines.Count).Select(i => (long)i), seen.Select(e => e.Seq));
        Assert.Equal(lines, seen.Select(e => e.Text));
    }

    [Fact]
    public async Task Read_ALineLargerThanTheBound_IsStillReturned_OneLineAPage()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var id = await NewTaskAsync(client);

        // Quotes and control characters take six bytes each in JSON: each line is far larger written out than stored.
        var huge = new string('\u0001', 60_000);
        await client.PostAsJsonAsync(Org.Api($"tasks/{id}/logs"), Enumerable.Range(0, 3).Select(_ => new { text = huge })).ExpectAsync(HttpStatusCode.OK);
        var first = await client.GetAsync(Org.Api($"tasks/{id}/logs?limit=10000")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(huge, Assert.Single(first.GetProperty("entries").EnumerateArray()).Str("text"));
        Assert.Equal(1, first.Int("nextAfterSeq"));
    }

    [Fact]
    public async Task Sdk_EnumerateLogs_FollowsThePagesToTheEnd()
    {
        using var http = Host.CreateClient(Org.MemberKey);
        var (id, lines) = await TaskWithBigLinesAsync(http);
        using var clarity = new ClarityClient(Host.BaseAddress, Org.MemberKey, Org.Org);

        var first = await clarity.ReadLogsAsync(Guid.Parse(id), limit: 10_000);
        Assert.InRange(first.Entries.Count, 1, lines.Count - 1);
        Assert.Equal(first.LastSeq, first.NextAfterSeq);

        var all = await clarity.EnumerateLogsAsync(Guid.Parse(id)).ToListAsync();
        Assert.Equal(lines, all.Select(e => e.Text));
        var rest = await clarity.EnumerateLogsAsync(Guid.Parse(id), afterSeq: first.LastSeq).ToListAsync();
        Assert.Equal(lines.Skip(first.Entries.Count), rest.Select(e => e.Text));
    }

    [Theory]
    [InlineData("afterSeq=-1")]
    [InlineData("limit=0")]
    [InlineData("limit=10001")]
    [InlineData("afterSeq=x")]
    public async Task Read_WithBadParameters_Answers400ProblemBeforeAnyByte(string query)
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var id = await NewTaskAsync(client);
        var problem = await client.GetAsync(Org.Api($"tasks/{id}/logs?{query}")).ExpectProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal(400, problem.Int("status"));
    }

    /// <summary>
    /// A task with 60 lines of 2 to 64 KiB (about 2 MiB) that need escaping in JSON here and there: quotes, a backslash,
    /// a control character, and letters outside ASCII of two, three and four bytes.
    /// </summary>
    private async Task<(string Id, List<string> Lines)> TaskWithBigLinesAsync(HttpClient client)
    {
        var id = await NewTaskAsync(client);
        var lines = Enumerable.Range(1, 60).Select(i =>
        {
            var text = new StringBuilder($"line {i} \"quoted\" back\\slash tab\t é € 😀 ");
            var size = 2048 + (i * 7919 % (62 * 1024));
            while (Encoding.UTF8.GetByteCount(text.ToString()) < size)
            {
                text.Append((char)('a' + (text.Length % 26)));
            }

            return text.ToString();
        }).ToList();
        foreach (var batch in lines.Chunk(20))
        {
            await client.PostAsJsonAsync(Org.Api($"tasks/{id}/logs"), batch.Select(text => new { text })).ExpectAsync(HttpStatusCode.OK);
        }

        return (id, lines);
    }

    private async Task<string> NewTaskAsync(HttpClient client) =>
        (await client.CreateTaskAsync(Org, new { queue = Work.Unique("pages"), title = "big log" })).Str("id");
}

public sealed class SqliteLogPageHostFixture() : HostFixture(Backend.Sqlite, LogPageTests.Overrides);

public sealed class PostgresLogPageHostFixture() : HostFixture(Backend.Postgres, LogPageTests.Overrides);

public sealed class SqliteLogPageTests(SqliteLogPageHostFixture fixture) : LogPageTests(fixture), IClassFixture<SqliteLogPageHostFixture>;

public sealed class PostgresLogPageTests(PostgresLogPageHostFixture fixture) : LogPageTests(fixture), IClassFixture<PostgresLogPageHostFixture>;
