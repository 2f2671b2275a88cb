using System.Net.Http.Json;
using System.Text.Json;
using Clarity.BrowserTests.Infrastructure;
using Microsoft.Playwright;
using Xunit;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace Clarity.BrowserTests.Dashboard;

/// <summary>The task list and the task page: live rows, live log lines, live status, cancel, phone width.</summary>
public abstract class TaskPagesTests(SetUpBrowserFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task TaskList_ShowsATaskCreatedThroughTheApi_WithoutAReload()
    {
        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync("/o/acme/tasks");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Tasks", Level = 1 })).ToBeVisibleAsync();
        await page.EvaluateAsync("() => window.__sameDocument = true");

        using var agent = fixture.Host.CreateClient(fixture.AgentKey);
        var title = "Index the handbook " + Guid.NewGuid().ToString("N")[..6];
        var task = await CreateTaskAsync(agent, new { title, queue = "docs" });

        var link = page.GetByRole(AriaRole.Link, new() { Name = title });
        await Expect(link).ToBeVisibleAsync();
        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"), "the page reloaded");
        await page.ShotAsync("task-appeared");

        // The row links to the task page.
        await link.ClickAsync();
        await page.WaitForURLAsync($"**/o/acme/tasks/{task.GetProperty("id").GetString()}");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = title, Level = 1 })).ToBeVisibleAsync();
    }

    [Fact]
    public async Task TaskList_FiltersThroughTheQueryString_AndPagesWithLoadMore()
    {
        using var agent = fixture.Host.CreateClient(fixture.AgentKey);
        var queue = "filter-" + Guid.NewGuid().ToString("N")[..6];
        for (var i = 1; i <= 55; i++)
        {
            await CreateTaskAsync(agent, new { title = $"batch item {i}", queue });
        }

        var lease = await (await agent.PostAsJsonAsync("api/v1/orgs/acme/work/checkout", new { agent = "filterer", queues = new[] { queue }, leaseSeconds = 3600 })).Content.ReadFromJsonAsync<JsonElement>();
        var running = lease.GetProperty("task").GetProperty("title").GetString()!;
        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync($"/o/acme/tasks?queue={queue}");

        // 50 rows a page, newest first; "Load more" appends the rest.
        var rows = page.Locator("#task-rows tr[data-task]");
        await Expect(rows).ToHaveCountAsync(50);
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "batch item 55", Exact = true })).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Load more" }).ClickAsync();
        await Expect(rows).ToHaveCountAsync(55);
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "batch item 1", Exact = true })).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Load more" })).ToHaveCountAsync(0);

        // Filtering by status keeps the queue filter, and the URL says so.
        await page.GetByLabel("Status").SelectOptionAsync("running");
        await page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("status=running", StringComparison.Ordinal) && url.Contains($"queue={queue}", StringComparison.Ordinal));
        await Expect(rows).ToHaveCountAsync(1);
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = running, Exact = true })).ToBeVisibleAsync();

        await page.GotoAsync($"/o/acme/tasks?queue={queue}&status=failed");
        await Expect(page.GetByText("No task matches these filters.")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task TaskPage_StreamsLogLinesPostedByAnAgent_AndShowsTheNewStatus()
    {
        using var agent = fixture.Host.CreateClient(fixture.AgentKey);
        var queue = "logs-" + Guid.NewGuid().ToString("N")[..6];
        var task = await CreateTaskAsync(agent, new { title = "Summarise the logs", queue, input = new { files = new[] { "a.txt", "b.txt" }, note = "<script>alert(1)</script>" } });
        var id = task.GetProperty("id").GetString()!;
        var lease = await (await agent.PostAsJsonAsync("api/v1/orgs/acme/work/checkout", new { agent = "summariser", queues = new[] { queue }, leaseSeconds = 3600 })).Content.ReadFromJsonAsync<JsonElement>();
        var token = lease.GetProperty("leaseToken").GetString();
        await PostLinesAsync(agent, id, Enumerable.Range(1, 40).Select(i => new { text = $"step {i}: reading input", level = i % 10 == 0 ? "warn" : "info" }));

        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync($"/o/acme/tasks/{id}");
        await Expect(page.GetByText("step 40: reading input")).ToBeVisibleAsync();
        await Expect(page.Locator("#task-status")).ToHaveTextAsync("Running");
        // The input is shown as text, escaped.
        await Expect(page.Locator("pre.json").First).ToContainTextAsync("<script>alert(1)</script>");

        // Lines posted now stream in; the tail follows them.
        await PostLinesAsync(agent, id, [new { text = "model answered: 42 tokens", level = "info" }, new { text = "could not reach the cache", level = "error" }]);
        await Expect(page.GetByText("could not reach the cache")).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Follow new lines" })).ToHaveAttributeAsync("aria-pressed", "true");
        await page.ShotAsync("live-logs");

        // Search within the task jumps to the line.
        await page.GetByRole(AriaRole.Searchbox, new() { Name = "Search this task's log" }).FillAsync("cache");
        await page.GetByRole(AriaRole.Button, new() { Name = "Search", Exact = true }).ClickAsync();
        var hit = page.Locator("#log-search-results").GetByRole(AriaRole.Link);
        await Expect(hit).ToHaveCountAsync(1);
        await hit.ClickAsync();
        await page.WaitForURLAsync("**#seq-42");
        await Expect(page.Locator(".log-row.highlight")).ToContainTextAsync("could not reach the cache");

        // Jumping to a line paused following: a new line is announced, not scrolled to, until the reader asks.
        var follow = page.GetByRole(AriaRole.Button, new() { Name = "Follow new lines" });
        await Expect(follow).ToHaveAttributeAsync("aria-pressed", "false");
        await PostLinesAsync(agent, id, [new { text = "retrying the cache", level = "warn" }]);
        var newLines = page.GetByRole(AriaRole.Button, new() { Name = "1 new line" });
        await Expect(newLines).ToBeVisibleAsync();
        await newLines.ClickAsync();
        await Expect(follow).ToHaveAttributeAsync("aria-pressed", "true");
        await Expect(page.GetByText("retrying the cache")).ToBeVisibleAsync();
        await Expect(newLines).ToBeHiddenAsync();

        // Completing the task updates the header without a reload.
        (await agent.PostAsJsonAsync($"api/v1/orgs/acme/tasks/{id}/complete", new { leaseToken = token, output = new { summary = "fine" } })).EnsureSuccessStatusCode();
        await Expect(page.Locator("#task-status")).ToHaveTextAsync("Succeeded");
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Cancel task" })).ToHaveCountAsync(0);
        await Expect(page.GetByRole(AriaRole.Region, new() { Name = "Output" })).ToContainTextAsync("\"summary\": \"fine\"");
        await page.ShotAsync("finished");
    }

    [Fact]
    public async Task TaskPage_OpensOneEventStreamForTheWholeTab_CarryingEveryTopicItsLivePartsFollow()
    {
        using var agent = fixture.Host.CreateClient(fixture.AgentKey);
        var queue = "one-stream-" + Guid.NewGuid().ToString("N")[..6];
        var id = (await CreateTaskAsync(agent, new { title = "One stream", queue })).GetProperty("id").GetString()!;
        var lease = await (await agent.PostAsJsonAsync("api/v1/orgs/acme/work/checkout", new { agent = "streamer", queues = new[] { queue }, leaseSeconds = 3600 })).Content.ReadFromJsonAsync<JsonElement>();

        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page);
        var streams = new List<string>();
        page.Request += (_, request) =>
        {
            // Only the task page's own requests (the page signed in on may still be opening its stream).
            if (request.Url.Contains("/events?", StringComparison.Ordinal) && request.Frame.Url.Contains($"/tasks/{id}", StringComparison.Ordinal))
            {
                lock (streams)
                {
                    streams.Add(Uri.UnescapeDataString(request.Url));
                }
            }
        };
        await page.GotoAsync($"/o/acme/tasks/{id}");
        await Expect(page.Locator("#task-status")).ToHaveTextAsync("Running");

        // Every live part works over that one stream: the log tail, the task header and the navigation's count.
        await PostLinesAsync(agent, id, [new { text = "one stream is enough", level = "info" }]);
        await Expect(page.GetByText("one stream is enough")).ToBeVisibleAsync();
        (await agent.PostAsJsonAsync($"api/v1/orgs/acme/tasks/{id}/fail", new { leaseToken = lease.GetProperty("leaseToken").GetString(), error = "stopped on purpose" })).EnsureSuccessStatusCode();
        await Expect(page.Locator("#task-status")).ToHaveTextAsync("Failed");

        // Browsers allow six connections per host over HTTP/1.1: a page holding one per live part would starve itself.
        string[] opened;
        lock (streams)
        {
            opened = [.. streams];
        }

        var stream = Assert.Single(opened);
        var topics = stream[(stream.IndexOf("topics=", StringComparison.Ordinal) + 7)..].Split('&')[0].Split(',');
        Assert.Equal(["clarifications", "runs", $"task:{id}:logs", "tasks"], topics.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task TaskPage_CancelButton_CancelsTheTask_AndIsHiddenFromViewers()
    {
        using var agent = fixture.Host.CreateClient(fixture.AgentKey);
        var task = await CreateTaskAsync(agent, new { title = "Cancel me", queue = "cancel-" + Guid.NewGuid().ToString("N")[..6] });
        var id = task.GetProperty("id").GetString()!;

        var viewerEmail = $"viewer-{Guid.NewGuid():N}@acme.example";
        await fixture.Host.AddPersonAsync("acme", viewerEmail, "viewer-password-123", "viewer");

        var viewer = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(viewer, viewerEmail, "viewer-password-123");
        await viewer.GotoAsync($"/o/acme/tasks/{id}");
        await Expect(viewer.Locator("#task-status")).ToHaveTextAsync("Queued");
        await Expect(viewer.GetByRole(AriaRole.Button, new() { Name = "Cancel task" })).ToHaveCountAsync(0);

        // Posting the form anyway: a viewer is refused (403); without the antiforgery token, so is the owner (400).
        var csrf = await viewer.Locator("meta[name=csrf-token]").GetAttributeAsync("content");
        var refused = await viewer.APIRequest.PostAsync($"/o/acme/tasks/{id}/cancel", new() { Headers = new Dictionary<string, string> { ["RequestVerificationToken"] = csrf! }, MaxRedirects = 0 });
        Assert.Equal(403, refused.Status);
        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page);
        var forged = await page.APIRequest.PostAsync($"/o/acme/tasks/{id}/cancel", new() { MaxRedirects = 0 });
        Assert.Equal(400, forged.Status);
        var untouched = await (await agent.GetAsync($"api/v1/orgs/acme/tasks/{id}")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("queued", untouched.GetProperty("status").GetString());

        await page.GotoAsync($"/o/acme/tasks/{id}");
        page.Dialog += async (_, dialog) => await dialog.AcceptAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Cancel task" }).ClickAsync();
        await Expect(page.Locator("#task-status")).ToHaveTextAsync("Cancelled");
        var stored = await (await agent.GetAsync($"api/v1/orgs/acme/tasks/{id}")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("cancelled", stored.GetProperty("status").GetString());

        // The viewer's open page hears about it too.
        await Expect(viewer.Locator("#task-status")).ToHaveTextAsync("Cancelled");
    }

    [Fact]
    public async Task TaskPages_AtPhoneWidth_HaveNoPageLevelHorizontalScroll()
    {
        using var agent = fixture.Host.CreateClient(fixture.AgentKey);
        var task = await CreateTaskAsync(agent, new { title = "A rather long task title that must wrap on a narrow phone screen without pushing the page sideways", queue = "phone" });
        var id = task.GetProperty("id").GetString()!;
        await agent.PostAsJsonAsync("api/v1/orgs/acme/work/checkout", new { agent = "phone-agent", queues = new[] { "phone" }, leaseSeconds = 3600 });
        await PostLinesAsync(agent, id, [new { text = "a very long log line " + new string('=', 400), level = "info" }]);

        var page = await fixture.NewPageAsync(360, 740, touch: true);
        await BrowserFixture.SignInAsync(page);
        foreach (var path in new[] { "/o/acme/tasks", $"/o/acme/tasks/{id}" })
        {
            await page.GotoAsync(path);
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            var overflow = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth - document.documentElement.clientWidth");
            Assert.True(overflow <= 0, $"{path} scrolls sideways by {overflow} px at 360 px");
            await page.ShotAsync("phone-" + (path.EndsWith("tasks", StringComparison.Ordinal) ? "list" : "task"));
        }
    }

    [Fact]
    public async Task TaskPage_With100000Lines_RendersOnlyTheVisibleRows()
    {
        using var agent = fixture.Host.CreateClient(fixture.AgentKey);
        var queue = "big-" + Guid.NewGuid().ToString("N")[..6];
        var task = await CreateTaskAsync(agent, new { title = "Chatty task", queue });
        var id = task.GetProperty("id").GetString()!;
        await agent.PostAsJsonAsync("api/v1/orgs/acme/work/checkout", new { agent = "chatty", queues = new[] { queue }, leaseSeconds = 3600 });
        const int total = 100_000;
        const int batch = 5_000; // Limits:MaxLogBatchLines
        for (var first = 1; first <= total; first += batch)
        {
            await PostLinesAsync(agent, id, Enumerable.Range(first, batch).Select(i => new { text = $"line {i} of the chatty task", level = i % 100 == 0 ? "warn" : "info" }));
        }

        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await page.GotoAsync($"/o/acme/tasks/{id}");
        await Expect(page.GetByText($"line {total} of the chatty task", new() { Exact = true })).ToBeVisibleAsync();
        // Reported, not asserted (tests never assert on time): navigation to the newest line on screen.
        output.WriteLine($"100,000 lines: newest line on screen {clock.ElapsedMilliseconds} ms after navigation");
        Assert.InRange(await page.Locator(".log-row").CountAsync(), 1, 199);

        // Scroll to the middle: the rows on screen are the middle lines, with their own text.
        await page.Locator(".log-viewport").EvaluateAsync("el => { el.scrollTop = el.scrollHeight / 2; }");
        await Expect(page.GetByText("line 50000 of the chatty task", new() { Exact = true })).ToBeVisibleAsync();
        await Expect(page.Locator(".log-row.loading")).ToHaveCountAsync(0); // the chunks around it have arrived
        var visible = await page.Locator(".log-row:not([hidden])").EvaluateAllAsync<string[]>(
            "rows => { const v = rows[0].closest('.log-viewport').getBoundingClientRect(); " +
            "return rows.filter(r => { const b = r.getBoundingClientRect(); return b.top >= v.top && b.bottom <= v.bottom; }) " +
            ".map(r => r.dataset.seq + '|' + r.querySelector('.log-text').textContent); }");
        Assert.NotEmpty(visible);
        foreach (var row in visible)
        {
            var parts = row.Split('|');
            var seq = int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(seq, 49_900, 50_100);
            Assert.Equal($"line {seq} of the chatty task", parts[1]);
        }

        Assert.InRange(await page.Locator(".log-row").CountAsync(), 1, 199);
        // Scrolling up paused following.
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Follow new lines" })).ToHaveAttributeAsync("aria-pressed", "false");

        var fps = await page.Locator(".log-viewport").EvaluateAsync<double>(
            "el => new Promise(done => { let frames = 0; const start = performance.now(); " +
            "const step = () => { frames++; el.scrollTop -= 200; if (performance.now() - start < 2000) requestAnimationFrame(step); " +
            "else done(frames * 1000 / (performance.now() - start)); }; requestAnimationFrame(step); })");
        output.WriteLine($"100,000 lines: {fps:F1} frames/s while scrolling 200 px per frame");

        // A #seq-N link opens the page at that line.
        await page.GotoAsync($"/o/acme/tasks/{id}#seq-1234");
        await Expect(page.Locator(".log-row.highlight")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("line 1234 of the chatty task"));
        await page.ShotAsync("100k-lines");
    }

    private static async Task<JsonElement> CreateTaskAsync(HttpClient agent, object body)
    {
        var response = await agent.PostAsJsonAsync("api/v1/orgs/acme/tasks", body);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static async Task PostLinesAsync<T>(HttpClient agent, string taskId, IEnumerable<T> lines) =>
        (await agent.PostAsJsonAsync($"api/v1/orgs/acme/tasks/{taskId}/logs", lines.ToList())).EnsureSuccessStatusCode();
}

public sealed class SqliteTaskPagesTests(SqliteSetUpBrowserFixture fixture, ITestOutputHelper output) : TaskPagesTests(fixture, output), IClassFixture<SqliteSetUpBrowserFixture>;

public sealed class PostgresTaskPagesTests(PostgresSetUpBrowserFixture fixture, ITestOutputHelper output) : TaskPagesTests(fixture, output), IClassFixture<PostgresSetUpBrowserFixture>;
