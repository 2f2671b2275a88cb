using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Clarity.Hosting;
using Clarity.Tests.Infrastructure;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Xunit;

namespace Clarity.Tests.Features.Mcp;

/// <summary>
/// Clarity's MCP server: the official TypeScript SDK over both transports (Streamable HTTP to /mcp, and stdio through
/// <c>clarity mcp</c>), and the official C# SDK's client for the rest. Waits are one-second slices here
/// (Limits:MaxWaitSeconds=1), so ask_human sends a progress notification about every second.
/// </summary>
public abstract class McpTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : HostFixture
{
    private static readonly string[] s_toolNames =
        ["ask_human", "get_answer", "log", "report_progress", "create_task", "checkout_task", "complete_task", "fail_task", "list_pending_questions"];

    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task Http_TypeScriptClient_ListsTheTools_AndAskHumanReturnsTheAnswerAPersonGave() =>
        await AskThroughTypeScriptClientAsync(question => McpNodeClient.HttpAsync(Host, Org.MemberKey, question, org: Org.Org));

    [Fact]
    public async Task Stdio_TypeScriptClient_ThroughClarityMcp_AsksAndGetsTheAnswerAPersonGave() =>
        await AskThroughTypeScriptClientAsync(question => McpNodeClient.StdioAsync(Host, Org.MemberKey, question));

    /// <summary>
    /// The client lists the tools and calls ask_human; while it waits (and hears progress), the owner answers through the
    /// REST answer endpoint with their sign-in session, as the dashboard does. The client gets that answer, and who gave
    /// it; the question lived on the session's own task (queue mcp, titled with the client), which the session's end completes.
    /// </summary>
    private async Task AskThroughTypeScriptClientAsync(Func<object, Task<McpNodeClient>> start)
    {
        var question = "Deploy to production? " + Work.UniqueWord("q");
        await using var client = await start(new[] { new { tool = "ask_human", arguments = (object)new { question, options = new[] { "yes", "no" } } } });

        var tools = await client.NextAsync("tools");
        Assert.Equal(s_toolNames.Order(), tools.GetProperty("names").EnumerateArray().Select(n => n.GetString()!).Order());
        foreach (var tool in tools.GetProperty("tools").EnumerateArray())
        {
            Assert.Equal("object", tool.GetProperty("inputSchema").Str("type"));
            Assert.False(string.IsNullOrWhiteSpace(tool.Str("description")));
        }

        await client.NextAsync("asking", 0);
        var pending = await WaitForPendingAsync(question);
        await client.NextAsync("progress", 0);

        using var owner = Host.CreateClient(Org.OwnerToken);
        await owner.PostAsJsonAsync(Org.Api($"clarifications/{pending.Str("id")}/answer"), new { answer = "yes" }).ExpectAsync(HttpStatusCode.OK);

        var result = await client.NextAsync("result", 0);
        Assert.False(result.GetProperty("isError").GetBoolean(), result.ToString());
        var answer = result.GetProperty("structured");
        Assert.Equal("answered", answer.Str("status"));
        Assert.Equal("yes", answer.Str("answer"));
        Assert.Equal(Org.OwnerEmail, answer.GetProperty("answeredBy").Str("email"));
        Assert.False(answer.GetProperty("defaultApplied").GetBoolean());
        await client.NextAsync("closed");

        var task = await owner.GetTaskAsync(Org, pending.Str("taskId"));
        Assert.Equal("mcp", task.Str("queue"));
        Assert.Equal("MCP session: clarity-test-agent 1.2.3", task.Str("title"));
        await owner.WaitForStatusAsync(Org, task.Str("id"), "succeeded");
    }

    [Fact]
    public async Task ViewerKey_CannotCreateTasksThroughMcp_EitherButMayListQuestions()
    {
        var queue = Work.Unique("q");
        await using var client = await ConnectAsync(Org.Keys[BuiltInRoles.Viewer]);
        var refused = await client.CallToolAsync("create_task", Args(new { title = "nope", queue }));
        Assert.True(refused.IsError, Text(refused));
        Assert.Contains("tasks:write", Text(refused), StringComparison.Ordinal);
        Assert.Equal("urn:clarity:problem:forbidden", refused.StructuredContent!.Value.Str("type"));

        var listed = await client.CallToolAsync("list_pending_questions", Args(new { limit = 5 }));
        Assert.False(listed.IsError, Text(listed));

        using var owner = Host.CreateClient(Org.OwnerToken);
        var tasks = await owner.GetAsync(Org.Api($"tasks?queue={queue}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(tasks.GetProperty("items").EnumerateArray());
    }

    [Fact]
    public async Task BadArguments_AreToolErrorsThatNameTheArgument()
    {
        await using var client = await ConnectAsync(Org.MemberKey);
        foreach (var (tool, arguments, argument) in new (string, object, string)[]
        {
            ("create_task", new { title = 5 }, "title"),
            ("create_task", new { title = "t", bogus = true }, "bogus"),
            ("create_task", new { title = "t", queue = "bad queue //" }, "queue"),
            ("ask_human", new { question = "q?", expiresInSeconds = "soon" }, "expiresInSeconds"),
            ("ask_human", new { question = "q?", options = Array.Empty<string>() }, "options"),
            ("ask_human", new { question = "q?", taskId = Guid.NewGuid().ToString() }, "leaseToken"),
            ("get_answer", new { clarificationId = "not-an-id" }, "clarificationId"),
            ("complete_task", new { taskId = Guid.NewGuid().ToString() }, "leaseToken"),
            ("report_progress", new { message = "m", total = 10 }, "progress"),
            ("log", new { text = "x", level = "loud" }, "[0].level"),
        })
        {
            var result = await client.CallToolAsync(tool, Args(arguments));
            Assert.True(result.IsError, $"{tool}: {Text(result)}");
            var problem = result.StructuredContent!.Value;
            Assert.Equal("urn:clarity:problem:validation", problem.Str("type"));
            Assert.True(problem.GetProperty("errors").TryGetProperty(argument, out _), $"{tool} should name {argument}: {problem}");
        }

        var unknown = await client.CallToolAsync("no_such_tool", Args(new { }));
        Assert.True(unknown.IsError);
        Assert.Contains("ask_human", Text(unknown), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ForeignOrMissingIds_AreToolErrorsSayingNotFound()
    {
        using var owner = Host.CreateClient(fixture.OtherOrg.OwnerToken);
        var foreign = await owner.StartTaskAsync(fixture.OtherOrg);
        await using var client = await ConnectAsync(Org.MemberKey);
        var completed = await client.CallToolAsync("complete_task", Args(new { taskId = foreign.TaskId, leaseToken = foreign.Token }));
        Assert.True(completed.IsError);
        Assert.Equal("urn:clarity:problem:not-found", completed.StructuredContent!.Value.Str("type"));

        var answer = await client.CallToolAsync("get_answer", Args(new { clarificationId = Guid.NewGuid().ToString() }));
        Assert.Equal("urn:clarity:problem:not-found", answer.StructuredContent!.Value.Str("type"));
        Assert.Equal("running", (await owner.GetTaskAsync(fixture.OtherOrg, foreign.TaskId)).Str("status"));
    }

    [Fact]
    public async Task TaskTools_CreateCheckoutCompleteAndFail_MoveTheTaskLikeTheRestApi()
    {
        var queue = Work.Unique("q");
        await using var client = await ConnectAsync(Org.MemberKey);
        var created = await client.CallToolAsync("create_task", Args(new { title = "build", queue, input = new { n = 1 } }));
        Assert.False(created.IsError, Text(created));
        Assert.True(created.StructuredContent!.Value.GetProperty("created").GetBoolean());

        var lease = (await client.CallToolAsync("checkout_task", Args(new { queues = new[] { queue } }))).StructuredContent!.Value;
        var taskId = lease.GetProperty("task").Str("id");
        Assert.Equal(created.StructuredContent!.Value.GetProperty("task").Str("id"), taskId);
        var token = lease.Str("leaseToken");

        var progress = await client.CallToolAsync("report_progress", Args(new { taskId, leaseToken = token, message = "halfway", progress = 1, total = 2 }));
        Assert.False(progress.IsError, Text(progress));
        Assert.False(progress.StructuredContent!.Value.IsNull("leaseExpiresAt"));

        var done = await client.CallToolAsync("complete_task", Args(new { taskId, leaseToken = token, output = new { ok = true } }));
        Assert.False(done.IsError, Text(done));
        Assert.Equal("succeeded", done.StructuredContent!.Value.Str("status"));

        var again = await client.CallToolAsync("complete_task", Args(new { taskId, leaseToken = token }));
        Assert.True(again.IsError);
        Assert.Equal(409, again.StructuredContent!.Value.Int("status"));

        using var owner = Host.CreateClient(Org.OwnerToken);
        var log = await owner.GetAsync(Org.Api($"tasks/{taskId}/logs")).ExpectAsync(HttpStatusCode.OK);
        Assert.Contains("[1/2] halfway", log.ToString(), StringComparison.Ordinal);

        await client.CallToolAsync("create_task", Args(new { title = "flaky", queue }));
        var second = (await client.CallToolAsync("checkout_task", Args(new { queues = new[] { queue }, agent = "mcp-worker" }))).StructuredContent!.Value;
        var failed = await client.CallToolAsync("fail_task", Args(new { taskId = second.GetProperty("task").Str("id"), leaseToken = second.Str("leaseToken"), error = "broke" }));
        Assert.Equal("failed", failed.StructuredContent!.Value.Str("status"));

        var none = await client.CallToolAsync("checkout_task", Args(new { queues = new[] { queue } }));
        Assert.True(none.StructuredContent!.Value.IsNull("task"));
    }

    [Fact]
    public async Task AskHuman_WaitFalse_ThenGetAnswer_ReturnsTheDefaultOnExpiry_NeverAsAPersonsAnswer()
    {
        var question = "Which region? " + Work.UniqueWord("q");
        await using var client = await ConnectAsync(Org.MemberKey);
        var asked = await client.CallToolAsync("ask_human", Args(new { question, wait = false, expiresInSeconds = 1, defaultAnswer = "eu-west" }));
        Assert.False(asked.IsError, Text(asked));
        var handle = asked.StructuredContent!.Value;
        Assert.Equal("pending", handle.Str("status"));

        var listed = await client.CallToolAsync("list_pending_questions", Args(new { limit = 200 }));
        Assert.Contains(question, Text(listed), StringComparison.Ordinal);

        JsonElement answer;
        do
        {
            answer = (await client.CallToolAsync("get_answer", Args(new { clarificationId = handle.Str("clarificationId"), waitSeconds = 1 }))).StructuredContent!.Value;
        }
        while (answer.Str("status") == "pending");

        Assert.Equal("expired", answer.Str("status"));
        Assert.Equal("eu-west", answer.Str("answer"));
        Assert.True(answer.GetProperty("defaultApplied").GetBoolean());
        Assert.True(answer.IsNull("answeredBy"));
    }

    [Fact]
    public async Task AskHuman_OnACheckedOutTask_ParksItAwaitingResponse_UntilAPersonAnswers()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var lease = await owner.StartTaskAsync(Org);
        await using var client = await ConnectAsync(Org.MemberKey);
        var asked = await client.CallToolAsync("ask_human", Args(new { question = "Which branch?", options = new[] { "main", "dev" }, wait = false, taskId = lease.TaskId, leaseToken = lease.Token }));
        Assert.False(asked.IsError, Text(asked));
        var handle = asked.StructuredContent!.Value;
        Assert.Equal(lease.TaskId, handle.Str("taskId"));
        Assert.Equal("awaiting_response", (await owner.GetTaskAsync(Org, lease.TaskId)).Str("status"));

        var stale = await client.CallToolAsync("ask_human", Args(new { question = "again?", wait = false, taskId = lease.TaskId, leaseToken = "cll_wrong" }));
        Assert.Equal(409, stale.StructuredContent!.Value.Int("status"));

        await owner.PostAsJsonAsync(Org.Api($"clarifications/{handle.Str("clarificationId")}/answer"), new { answer = "dev" }).ExpectAsync(HttpStatusCode.OK);
        var answer = (await client.CallToolAsync("get_answer", Args(new { clarificationId = handle.Str("clarificationId") }))).StructuredContent!.Value;
        Assert.Equal("dev", answer.Str("answer"));
        Assert.Equal(Org.OwnerEmail, answer.GetProperty("answeredBy").Str("email"));
        Assert.Equal("running", (await owner.GetTaskAsync(Org, lease.TaskId)).Str("status"));
    }

    [Fact]
    public async Task SessionTask_IsOpenedOnceForTheSession_AndCompletedWhenTheSessionEnds()
    {
        string taskId;
        await using (var client = await ConnectAsync(Org.MemberKey))
        {
            var first = await client.CallToolAsync("log", Args(new { text = "starting" }));
            var second = await client.CallToolAsync("report_progress", Args(new { message = "working", progress = 40 }));
            taskId = first.StructuredContent!.Value.Str("taskId");
            Assert.Equal(taskId, second.StructuredContent!.Value.Str("taskId"));

            using var owner = Host.CreateClient(Org.OwnerToken);
            var task = await owner.GetTaskAsync(Org, taskId);
            Assert.Equal("running", task.Str("status"));
            Assert.Equal("MCP session: csharp-test-agent 9.9", task.Str("title"));
        }

        using var reader = Host.CreateClient(Org.OwnerToken);
        await reader.WaitForStatusAsync(Org, taskId, "succeeded");
        var log = await reader.GetAsync(Org.Api($"tasks/{taskId}/logs")).ExpectAsync(HttpStatusCode.OK);
        Assert.Contains("[40%] working", log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StatelessClient_2026_07_28_AsksWithoutASession_ButNeedsATaskToLogOrAskWithoutWaiting()
    {
        await using var client = await ConnectAsync(Org.MemberKey, protocol: null);
        var log = await client.CallToolAsync("log", Args(new { text = "hello" }));
        Assert.True(log.IsError);
        Assert.True(log.StructuredContent!.Value.GetProperty("errors").TryGetProperty("taskId", out _), Text(log));

        var later = await client.CallToolAsync("ask_human", Args(new { question = "later?", wait = false }));
        Assert.True(later.StructuredContent!.Value.GetProperty("errors").TryGetProperty("wait", out _), Text(later));

        var question = "Stateless? " + Work.UniqueWord("q");
        var asking = client.CallToolAsync("ask_human", Args(new { question })).AsTask();
        var pending = await WaitForPendingAsync(question);
        using var owner = Host.CreateClient(Org.OwnerToken);
        await owner.PostAsJsonAsync(Org.Api($"clarifications/{pending.Str("id")}/answer"), new { answer = "fine" }).ExpectAsync(HttpStatusCode.OK);
        var answered = await asking;
        Assert.Equal("fine", answered.StructuredContent!.Value.Str("answer"));
        await owner.WaitForStatusAsync(Org, pending.Str("taskId"), "succeeded");
    }

    [Fact]
    public async Task OrgHeader_NamingAnotherOrg_Is404_NamingTheKeysOwnOrgOrNone_Works()
    {
        using var http = Host.CreateClient(Org.MemberKey);
        await http.SendAsync(Initialize(fixture.OtherOrg.Org)).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await http.SendAsync(Initialize("no-such-org")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        using (var own = await http.SendAsync(Initialize(Org.Org)))
        {
            Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        }

        await using var client = await ConnectAsync(Org.MemberKey, org: Org.Org);
        Assert.False((await client.CallToolAsync("list_pending_questions", Args(new { }))).IsError);
    }

    [Fact]
    public async Task Mcp_RefusesTheSessionCookieAndAnonymousCallers()
    {
        using var cookie = Host.CreateCookieClient(Org.OwnerToken);
        await cookie.GetAsync("mcp").ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        using var anonymous = Host.CreateClient();
        await anonymous.SendAsync(Initialize(null)).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }

    /// <summary>A raw initialize request, as a client sends it first.</summary>
    private static HttpRequestMessage Initialize(string? org)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "mcp")
        {
            Content = new StringContent(
                """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}""",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (org is not null)
        {
            request.Headers.Add("X-Clarity-Org", org);
        }

        return request;
    }

    /// <summary>The official C# SDK's client: a 2025-11-25 session by default, or (protocol null) the SDK's default 2026-07-28, without sessions.</summary>
    private async Task<McpClient> ConnectAsync(string key, string? org = null, string? protocol = "2025-11-25")
    {
        var headers = new Dictionary<string, string> { ["Authorization"] = "Bearer " + key };
        if (org is not null)
        {
            headers["X-Clarity-Org"] = org;
        }

        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(Host.BaseAddress, "mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = headers,
        });
        var client = await McpClient.CreateAsync(transport, new McpClientOptions
        {
            ClientInfo = new Implementation { Name = "csharp-test-agent", Version = "9.9" },
            ProtocolVersion = protocol,
        });
        await client.ListToolsAsync();
        return client;
    }

    /// <summary>The pending clarification with this question, as the inbox lists it.</summary>
    private async Task<JsonElement> WaitForPendingAsync(string question)
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        while (true)
        {
            var page = await owner.GetAsync(Org.Api("clarifications?status=pending&limit=200")).ExpectAsync(HttpStatusCode.OK);
            foreach (var item in page.GetProperty("items").EnumerateArray())
            {
                if (item.Str("question") == question)
                {
                    return item;
                }
            }

            Assert.True(DateTimeOffset.UtcNow < deadline, $"The question '{question}' never reached the inbox.");
            await Task.Delay(100);
        }
    }

    private static Dictionary<string, object?> Args(object arguments) =>
        JsonSerializer.SerializeToElement(arguments).EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone());

    private static string Text(CallToolResult result) => string.Join("\n", result.Content.OfType<TextContentBlock>().Select(c => c.Text));
}

/// <summary>Waits in one-second slices, so that ask_human's progress notifications come about every second.</summary>
public sealed class SqliteMcpFixture() : HostFixture(Backend.Sqlite, new Dictionary<string, string?> { ["Clarity:Limits:MaxWaitSeconds"] = "1" });

public sealed class PostgresMcpFixture() : HostFixture(Backend.Postgres, new Dictionary<string, string?> { ["Clarity:Limits:MaxWaitSeconds"] = "1" });

public sealed class SqliteMcpTests(SqliteMcpFixture fixture) : McpTests<SqliteMcpFixture>(fixture);

public sealed class PostgresMcpTests(PostgresMcpFixture fixture) : McpTests<PostgresMcpFixture>(fixture);
