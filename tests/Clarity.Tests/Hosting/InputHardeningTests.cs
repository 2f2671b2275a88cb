using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Clarity.Hosting;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Clarity.Tests.Hosting;

/// <summary>
/// What a hostile caller could once break: text that cannot be written back out (an unpaired surrogate escape,
/// invalid UTF-8), null list items, bogus charsets and a trailing newline in names are refused with a 400 (or 415)
/// before anything is stored, and rows poisoned by earlier versions no longer break their org.
/// </summary>
public abstract class InputHardeningTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : HostFixture
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    public static TheoryData<string, string> BadTaskBodies => new()
    {
        { "lone high surrogate in input", """{"title": "t", "input": {"a": [1, {"b": "x\ud800"}]}}""" },
        { "lone low surrogate in input", """{"title": "t", "input": "\udc00"}""" },
        { "lone surrogate in an input property name", """{"title": "t", "input": {"\ud800": 1}}""" },
        { "lone surrogate in the title", """{"title": "t\ud800"}""" },
        { "lone surrogate in a label", """{"title": "t", "labels": ["\ud800"]}""" },
        { "lone surrogate in an unknown property name", """{"title": "t", "\ud800": 1}""" },
        { "null label", """{"title": "t", "labels": [null]}""" },
    };

    [Theory]
    [MemberData(nameof(BadTaskBodies))]
    public async Task CreateTask_WithTextThatCannotBeStored_Is400AndStoresNothing(string what, string body)
    {
        using var client = Host.CreateClient(Org.OwnerToken);
        var queue = Work.Unique("poison");
        var withQueue = body.Replace("""{"title": "t""", $$"""{"queue": "{{queue}}", "title": "t""", StringComparison.Ordinal);
        var problem = await client.PostAsync(Org.Api("tasks"), Json(withQueue)).ExpectProblemAsync(HttpStatusCode.BadRequest, "malformed-json");
        Assert.True(problem.TryGetProperty("errors", out _), what);
        await AssertNoTasksAsync(client, queue);
    }

    [Fact]
    public async Task CreateTask_WithInvalidUtf8InInput_Is400NamingTheField_AndStoresNothing()
    {
        using var client = Host.CreateClient(Org.OwnerToken);
        var queue = Work.Unique("poison");
        var problem = await client.PostAsync(Org.Api("tasks"), Utf8Bytes($$"""{"queue": "{{queue}}", "title": "t", "input": {"k": "a""", [0xFF, 0xFE], "\"}}"))
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "malformed-json");
        Assert.True(problem.GetProperty("errors").TryGetProperty("input.k", out _), problem.ToString());

        await client.PostAsync(Org.Api("tasks"), Utf8Bytes($$"""{"queue": "{{queue}}", "title": "t""", [0xED, 0xA0, 0x80], "\"}"))
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "malformed-json");
        await AssertNoTasksAsync(client, queue);
    }

    [Fact]
    public async Task Complete_WithAnUnpairedSurrogateInOutput_Is400_AndTheTaskKeepsRunningUnderTheSameLease()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var lease = await client.StartTaskAsync(Org);
        var problem = await client.PostAsync(Org.Api($"tasks/{lease.TaskId}/complete"), Json($$$"""{"leaseToken": "{{{lease.Token}}}", "output": {"answer": "\ud800"}}"""))
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "malformed-json");
        Assert.True(problem.GetProperty("errors").TryGetProperty("output.answer", out _), problem.ToString());

        var task = await client.GetTaskAsync(Org, lease.TaskId);
        Assert.Equal("running", task.Str("status"));
        Assert.True(task.IsNull("output"));
        await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/heartbeat"), new { leaseToken = lease.Token }).ExpectAsync(HttpStatusCode.OK);
        var done = await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token, output = new { answer = "fine" } })
            .ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("succeeded", done.Str("status"));
    }

    [Fact]
    public async Task Fail_WithAnUnpairedSurrogateInTheError_Is400_AndTheTaskKeepsRunning()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var lease = await client.StartTaskAsync(Org);
        await client.PostAsync(Org.Api($"tasks/{lease.TaskId}/fail"), Json($$"""{"leaseToken": "{{lease.Token}}", "error": "boom \ud800"}"""))
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "malformed-json");
        Assert.Equal("running", (await client.GetTaskAsync(Org, lease.TaskId)).Str("status"));
    }

    [Fact]
    public async Task Checkout_WithANullQueue_Is400_AndBurnsNoAttempt()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        var created = await client.CreateTaskAsync(Org, new { queue, title = "waiting" });
        var problem = await client.PostAsync(Org.Api("work/checkout"), Json($$"""{"agent": "{{Work.Unique("agent")}}", "queues": ["{{queue}}", null]}"""))
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "malformed-json");
        Assert.True(problem.GetProperty("errors").TryGetProperty("queues[1]", out _), problem.ToString());

        var task = await client.GetTaskAsync(Org, created.Str("id"));
        Assert.Equal("queued", task.Str("status"));
        Assert.Equal(0, task.Int("attempts"));
        var lease = await client.CheckoutTaskAsync(Org, Work.Unique("agent"), queue);
        Assert.Equal(1, lease.Task.Int("attempts"));
    }

    [Fact]
    public async Task LogsClarificationsAndAnswers_WithAnUnpairedSurrogate_Are400_AndChangeNothing()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var lease = await client.StartTaskAsync(Org);
        await client.PostAsync(Org.Api($"tasks/{lease.TaskId}/logs"), Json("""[{"text": "fine"}, {"text": "\ud800"}]"""))
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "malformed-json");
        var logs = await client.GetAsync(Org.Api($"tasks/{lease.TaskId}/logs")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(0, logs.GetProperty("entries").GetArrayLength());

        await client.PostAsync(Org.Api($"tasks/{lease.TaskId}/clarifications"), Json($$"""{"leaseToken": "{{lease.Token}}", "question": "which \udfff?"}"""))
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "malformed-json");
        Assert.Equal("running", (await client.GetTaskAsync(Org, lease.TaskId)).Str("status"));

        var clarification = await client.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/clarifications"), new { leaseToken = lease.Token, question = "which?" })
            .ExpectAsync(HttpStatusCode.Created);
        var id = clarification.Str("id");
        await client.PostAsync(Org.Api($"clarifications/{id}/answer"), Json("""{"answer": "\ud800"}""")).ExpectProblemAsync(HttpStatusCode.BadRequest, "malformed-json");
        Assert.Equal("pending", (await client.GetAsync(Org.Api($"clarifications/{id}")).ExpectAsync(HttpStatusCode.OK)).Str("status"));
    }

    [Fact]
    public async Task ARowPoisonedByAnEarlierVersion_ReadsWithTheReplacementCharacter_AndNeverBreaksTheOrg()
    {
        using var client = Host.CreateClient(Org.OwnerToken);
        var queue = Work.Unique("poisoned");
        var created = await client.CreateTaskAsync(Org, new { queue, title = "poisoned", input = new { a = "ok" } });
        var id = Guid.Parse(created.Str("id"));

        // What an earlier version stored verbatim from a request.
        await Host.Services.GetRequiredService<Database>().WriteAsync((c, t) =>
            c.ExecuteAsync("UPDATE tasks SET input = @input, output = @output WHERE id = @id",
                new { id, input = """{"a":"x\ud800y","\udc00":[1]}""", output = """ "\ud800" """ }, t));

        var task = await client.GetTaskAsync(Org, id.ToString());
        Assert.Equal("x\uFFFDy", task.GetProperty("input").GetProperty("a").GetString());
        Assert.Equal(1, task.GetProperty("input").GetProperty("\uFFFD")[0].GetInt32());
        Assert.Equal("\uFFFD", task.GetProperty("output").GetString());

        var page = await client.GetAsync(Org.Api($"tasks?queue={queue}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(1, page.GetProperty("items").GetArrayLength());

        using (var dashboard = new HttpRequestMessage(HttpMethod.Get, $"o/{Org.Org}/tasks/{id}"))
        {
            dashboard.Headers.Add("Cookie", $"{SessionCookie.Name}={Org.OwnerToken}");
            using var answer = await client.SendAsync(dashboard);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            var html = await answer.Content.ReadAsStringAsync();
            Assert.True(html.Contains("x\uFFFDy", StringComparison.Ordinal) || html.Contains("x&#xFFFD;y", StringComparison.Ordinal), "The page does not show the input.");
        }

        var lease = await client.CheckoutTaskAsync(Org, Work.Unique("agent"), queue);
        Assert.Equal(id.ToString(), lease.TaskId);
        Assert.Equal("x\uFFFDy", lease.Task.GetProperty("input").GetProperty("a").GetString());
    }

    [Theory]
    [InlineData("application/json; charset=bogus")]
    [InlineData("application/json; charset=utf-16")]
    [InlineData("application/json; charset=iso-8859-1")]
    [InlineData("application/problem+json; charset=latin1")]
    public async Task UnauthenticatedJson_WithACharsetOtherThanUtf8_Is415(string contentType)
    {
        using var anonymous = Host.CreateClient();
        foreach (var path in new[] { "api/v1/auth/login", "api/v1/setup" })
        {
            using var content = new ByteArrayContent(Encoding.UTF8.GetBytes("""{"email": "someone@example.com", "password": "password-1234"}"""));
            content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            await anonymous.PostAsync(path, content).ExpectProblemAsync(HttpStatusCode.UnsupportedMediaType, "unsupported-media-type");
        }
    }

    [Theory]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("application/json; charset=\"UTF-8\"")]
    [InlineData("application/json; charset=utf8")]
    [InlineData("application/json")]
    public async Task Json_WithUtf8SpelledAnyWay_IsRead(string contentType)
    {
        using var anonymous = Host.CreateClient();
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes($$"""{"email": "{{Org.OwnerEmail}}", "password": "{{ClarityHost.OwnerPassword}}"}"""));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        await anonymous.PostAsync("api/v1/auth/login", content).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task CreateTask_WithANonUtf8Charset_Is415_AndStoresNothing()
    {
        using var client = Host.CreateClient(Org.OwnerToken);
        var queue = Work.Unique("charset");
        using var content = new ByteArrayContent(Encoding.Latin1.GetBytes($$"""{"queue": "{{queue}}", "title": "café"}"""));
        content.Headers.TryAddWithoutValidation("Content-Type", "application/json; charset=iso-8859-1");
        await client.PostAsync(Org.Api("tasks"), content).ExpectProblemAsync(HttpStatusCode.UnsupportedMediaType, "unsupported-media-type");
        await AssertNoTasksAsync(client, queue);
    }

    [Fact]
    public async Task QueueNames_WithATrailingNewline_Are400_Everywhere()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("q");
        await client.PostAsJsonAsync(Org.Api("tasks"), new { queue = queue + "\n", title = "t" }).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await client.GetAsync(Org.Api($"tasks?queue={queue}%0A")).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await client.PostAsJsonAsync(Org.Api("work/checkout"), new { agent = Work.Unique("agent"), queues = new[] { queue + "\n" } })
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await AssertNoTasksAsync(client, queue);
    }

    [Fact]
    public async Task OrgSlug_WithATrailingNewline_IsNeverStoredWithIt()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var slug = Work.Unique("nl");
        using var response = await owner.PostAsJsonAsync("api/v1/orgs", new { slug = slug + "\n", name = "Trailing newline" });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode is HttpStatusCode.Created or HttpStatusCode.BadRequest, body);
        if (response.StatusCode == HttpStatusCode.Created)
        {
            Assert.Equal(slug, JsonDocument.Parse(body).RootElement.Str("slug"));
        }

        await owner.GetAsync($"api/v1/orgs/{slug}%0A").ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    [Theory]
    [InlineData("INSERT INTO orgs (id, slug, name, created_at) SELECT @fresh, slug, name, created_at FROM orgs WHERE slug = @slug")]
    [InlineData("INSERT INTO orgs (id, slug, name, created_at) SELECT id, @freshSlug, name, created_at FROM orgs WHERE slug = @slug")]
    public async Task AUniqueViolation_FromTheDatabase_Answers409Problem(string duplicate)
    {
        var db = Host.Services.GetRequiredService<Database>();
        var error = await Assert.ThrowsAnyAsync<Exception>(() => db.WriteAsync((c, t) =>
            c.ExecuteAsync(duplicate, new { fresh = Guid.CreateVersion7(), freshSlug = Work.Unique("dup"), slug = Org.Org }, t)));
        Assert.True(ErrorHandlingMiddleware.IsUniqueViolation(error), error.ToString());

        var context = new DefaultHttpContext { RequestServices = Host.Services };
        context.Request.Method = "POST";
        context.Request.Path = "/api/v1/orgs";
        context.Response.Body = new MemoryStream();
        var middleware = new ErrorHandlingMiddleware(_ => throw error, NullLogger<ErrorHandlingMiddleware>.Instance);
        await middleware.InvokeAsync(context);

        Assert.Equal(StatusCodes.Status409Conflict, context.Response.StatusCode);
        Assert.Equal("application/problem+json", context.Response.ContentType);
        context.Response.Body.Position = 0;
        var problem = JsonDocument.Parse(context.Response.Body).RootElement;
        Assert.Equal("urn:clarity:problem:conflict", problem.Str("type"));
        Assert.Equal(409, problem.Int("status"));
    }

    private async Task AssertNoTasksAsync(HttpClient client, string queue)
    {
        var page = await client.GetAsync(Org.Api($"tasks?queue={queue}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(0, page.GetProperty("items").GetArrayLength());
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static ByteArrayContent Utf8Bytes(string before, byte[] bad, string after)
    {
        var content = new ByteArrayContent([.. Encoding.UTF8.GetBytes(before), .. bad, .. Encoding.UTF8.GetBytes(after)]);
        content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        return content;
    }
}

public sealed class SqliteInputHardeningTests(SqliteHostFixture fixture) : InputHardeningTests<SqliteHostFixture>(fixture);

public sealed class PostgresInputHardeningTests(PostgresHostFixture fixture) : InputHardeningTests<PostgresHostFixture>(fixture);
