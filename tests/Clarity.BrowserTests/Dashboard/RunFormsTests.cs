using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Clarity.BrowserTests.Infrastructure;
using Xunit;

namespace Clarity.BrowserTests.Dashboard;

/// <summary>
/// The run pages' form actions and fragments over plain HTTP: who may post them, problems coming back as the page's
/// flash message (never a 500), the start form's inline field errors, and 404 for runs that are not there.
/// </summary>
public abstract class RunFormsTests(SetUpBrowserFixture fixture)
{
    private DashboardHost Host => fixture.Host;

    [Fact]
    public async Task RunForms_FromAViewer_Are403_AndChangeNothing()
    {
        var (name, _) = await UploadAsync();
        var run = await StartAsync(name);
        const string email = "runforms-viewer@acme.example";
        await Host.AddPersonAsync("acme", email, "runforms-viewer-pw-1", "viewer");
        using var viewer = await SignedInAsync(email, "runforms-viewer-pw-1");
        var page = await viewer.GetStringAsync($"o/acme/runs/{run}");
        var token = AntiforgeryToken(await viewer.GetStringAsync("o/acme/settings"));
        Assert.DoesNotContain($"/runs/{run}/pause", page, StringComparison.Ordinal);

        foreach (var action in new[] { "pause", "cancel", "continue", "steps/draft/skip", "steps/draft/release", "steps/draft/retry", "steps/draft/signal" })
        {
            using var post = await viewer.PostAsync($"o/acme/runs/{run}/{action}", Form(token));
            Assert.Equal(HttpStatusCode.Forbidden, post.StatusCode);
        }

        Assert.Equal("running", await RunStatusAsync(run));
    }

    [Fact]
    public async Task RunForms_WithBadJson_OrOutOfState_ComeBackAsFlashMessages_AndAGoodOneActs()
    {
        var (name, _) = await UploadAsync();
        var run = await StartAsync(name);
        using var owner = await SignedInAsync(DashboardHost.OwnerEmail, DashboardHost.OwnerPassword);
        var token = AntiforgeryToken(await owner.GetStringAsync($"o/acme/runs/{run}"));

        await ExpectFlashAsync(owner, $"o/acme/runs/{run}/steps/draft/skip", token, $"/o/acme/runs/{run}?step=draft", "output: is not valid JSON", ("output", "{nope"));
        await ExpectFlashAsync(owner, $"o/acme/runs/{run}/steps/draft/skip", token, $"/o/acme/runs/{run}?step=draft", "output: must be valid Unicode text", ("output", "\"\\ud800\""));
        await ExpectFlashAsync(owner, $"o/acme/runs/{run}/resume", token, $"/o/acme/runs/{run}", "only a paused run can be resumed");
        await ExpectFlashAsync(owner, $"o/acme/runs/{run}/steps/nope/retry", token, $"/o/acme/runs/{run}?step=nope", "not found");
        await ExpectFlashAsync(owner, $"o/acme/runs/{run}/steps/draft/vote", token, $"/o/acme/runs/{run}?step=draft", "decision", ("decision", "maybe"));
        await ExpectFlashAsync(owner, $"o/acme/runs/{run}/steps/draft/vote", token, $"/o/acme/runs/{run}?step=draft", "only approval steps take votes", ("decision", "approve"));
        await ExpectFlashAsync(owner, $"o/acme/runs/{run}/steps/draft/signal", token, $"/o/acme/runs/{run}?step=draft", "name:", ("name", "Not A Name"));
        Assert.Equal("running", await RunStatusAsync(run));

        await ExpectFlashAsync(owner, $"o/acme/runs/{run}/pause", token, $"/o/acme/runs/{run}", "Run paused");
        Assert.Equal("paused", await RunStatusAsync(run));
        await ExpectFlashAsync(owner, $"o/acme/runs/{run}/steps/draft/skip", token, $"/o/acme/runs/{run}?step=draft", "Step draft skipped.", ("output", "{\"text\": \"given\"}"));
        await ExpectFlashAsync(owner, $"o/acme/runs/{run}/cancel", token, $"/o/acme/runs/{run}", "Run cancelled.");
        Assert.Equal("cancelled", await RunStatusAsync(run));
    }

    [Fact]
    public async Task StartForm_WithAnInputThatIsNotAnObject_ShowsTheFieldInline_AndAGoodOneOpensTheRun()
    {
        var (name, _) = await UploadAsync();
        using var owner = await SignedInAsync(DashboardHost.OwnerEmail, DashboardHost.OwnerPassword);
        var form = await owner.GetStringAsync($"o/acme/workflows/{name}/run");
        Assert.Contains("&quot;topic&quot;: &quot;otters&quot;", form, StringComparison.Ordinal);
        var token = AntiforgeryToken(form);

        using (var bad = await owner.PostAsync($"o/acme/workflows/{name}/run", Form(token, ("_handler", "start-run"), ("Start.Version", "1"), ("Start.Input", "[1]"))))
        {
            Assert.Equal(HttpStatusCode.OK, bad.StatusCode);
            var html = await bad.Content.ReadAsStringAsync();
            Assert.Contains("class=\"field-error\" id=\"run-input-error\">input: must be an object", html, StringComparison.Ordinal);
            Assert.Contains(">[1]</textarea>", html, StringComparison.Ordinal);
        }

        using (var badJson = await owner.PostAsync($"o/acme/workflows/{name}/run", Form(token, ("_handler", "start-run"), ("Start.Version", "1"), ("Start.Input", "{"))))
        {
            Assert.Contains("input: is not valid JSON", await badJson.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var badBreakpoint = await owner.PostAsync($"o/acme/workflows/{name}/run", Form(token, ("_handler", "start-run"), ("Start.Version", "1"), ("Start.Input", "{}"), ("breakpoints", "nope"))))
        {
            Assert.Contains("breakpoints[0]: ", await badBreakpoint.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var good = await owner.PostAsync($"o/acme/workflows/{name}/run", Form(token, ("_handler", "start-run"), ("Start.Version", "1"), ("Start.Input", "{\"topic\": \"herons\"}"), ("Start.Debug", "true"), ("breakpoints", "review")));
        Assert.Equal(HttpStatusCode.Redirect, good.StatusCode);
        var location = good.Headers.Location is { IsAbsoluteUri: true } absolute ? absolute.AbsolutePath : good.Headers.Location!.OriginalString;
        Assert.Matches("^/o/acme/runs/[0-9a-f-]{36}$", location);
        using var api = Host.CreateClient(fixture.AgentKey);
        var started = await api.GetFromJsonAsync<JsonElement>("api/v1/orgs/acme" + location[7..]);
        Assert.True(started.GetProperty("debug").GetBoolean());
        Assert.Equal(["review"], started.GetProperty("breakpoints").EnumerateArray().Select(b => b.GetString()));
        Assert.Equal("herons", started.GetProperty("input").GetProperty("topic").GetString());
    }

    [Fact]
    public async Task RunPageAndFragments_ForARunThatIsNotThere_Are404_AndABadFilterIsNoError()
    {
        using var owner = await SignedInAsync(DashboardHost.OwnerEmail, DashboardHost.OwnerPassword);
        using (var page = await owner.GetAsync($"o/acme/runs/{Guid.NewGuid()}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, page.StatusCode);
        }

        using (var body = await owner.GetAsync($"o/acme/runs/{Guid.NewGuid()}/_body"))
        {
            Assert.Equal(HttpStatusCode.NotFound, body.StatusCode);
        }

        using (var start = await owner.GetAsync("o/acme/workflows/no-such-workflow/run"))
        {
            Assert.Equal(HttpStatusCode.NotFound, start.StatusCode);
        }

        using var rows = await owner.GetAsync("o/acme/runs/_rows?status=bogus&cursor=forged");
        Assert.Equal(HttpStatusCode.OK, rows.StatusCode);
        using var list = await owner.GetAsync("o/acme/runs?status=bogus");
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Contains("These filters are not valid", await list.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task WorkflowPage_ShowsTheBottleneckTable_OfItsFinishedRuns_AndTheRunsListShowsTheRun()
    {
        var (name, queue) = await UploadAsync();
        var run = await StartAsync(name);
        await CompleteAsync(queue + "-draft");
        await CompleteAsync(queue + "-review");
        Assert.Equal("succeeded", await RunStatusAsync(run));
        using var owner = await SignedInAsync(DashboardHost.OwnerEmail, DashboardHost.OwnerPassword);

        var page = await owner.GetStringAsync($"o/acme/workflows/{name}");
        var table = page[page.IndexOf("id=\"bottlenecks-heading\"", StringComparison.Ordinal)..];
        Assert.Contains("across 1 finished run of version 1", table, StringComparison.Ordinal);
        Assert.Contains("<tr data-step=\"draft\">", table, StringComparison.Ordinal);
        Assert.Contains("<tr data-step=\"review\">", table, StringComparison.Ordinal);

        var list = await owner.GetStringAsync($"o/acme/runs?workflow={name}&status=succeeded");
        Assert.Contains($"data-run=\"{run}\"", list, StringComparison.Ordinal);
        Assert.DoesNotContain($"data-run=\"{run}\"", await owner.GetStringAsync($"o/acme/runs/_rows?workflow={name}&status=failed"), StringComparison.Ordinal);
    }

    private async Task CompleteAsync(string queue)
    {
        using var agent = Host.CreateClient(fixture.AgentKey);
        var checkout = await agent.PostAsJsonAsync("api/v1/orgs/acme/work/checkout", new { agent = "runner-" + queue, queues = new[] { queue }, leaseSeconds = 600 });
        Assert.Equal(HttpStatusCode.OK, checkout.StatusCode);
        var lease = await checkout.Content.ReadFromJsonAsync<JsonElement>();
        var done = await agent.PostAsJsonAsync($"api/v1/orgs/acme/tasks/{lease.GetProperty("task").GetProperty("id").GetString()}/complete", new { leaseToken = lease.GetProperty("leaseToken").GetString(), output = new { ok = true } });
        Assert.True(done.IsSuccessStatusCode, await done.Content.ReadAsStringAsync());
    }

    private async Task ExpectFlashAsync(HttpClient client, string path, string token, string back, string message, params (string Name, string Value)[] fields)
    {
        using var post = await client.PostAsync(path, Form(token, fields));
        Assert.Equal(HttpStatusCode.Redirect, post.StatusCode);
        Assert.Equal(back, post.Headers.Location?.OriginalString);
        var page = WebUtility.HtmlDecode(await client.GetStringAsync(back.TrimStart('/')));
        Assert.Contains(message, page, StringComparison.Ordinal);
    }

    private async Task<(string Name, string Queue)> UploadAsync()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var (name, queue) = ("form-" + suffix, "q" + suffix);
        var yaml = $$$"""
            name: {{{name}}}
            inputs:
              topic: { type: string, default: otters }
            steps:
              - id: draft
                kind: task
                queue: {{{queue}}}-draft
                title: Draft
              - id: review
                kind: task
                queue: {{{queue}}}-review
                needs: [draft]
                title: Review
            """;
        using var owner = Host.CreateClient(await Host.LoginTokenAsync());
        using var content = new StringContent(yaml, Encoding.UTF8, new MediaTypeHeaderValue("application/yaml"));
        var response = await owner.PostAsync("api/v1/orgs/acme/workflows", content);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (name, queue);
    }

    private async Task<string> StartAsync(string name)
    {
        using var agent = Host.CreateClient(fixture.AgentKey);
        var response = await agent.PostAsJsonAsync($"api/v1/orgs/acme/workflows/{name}/runs", new { input = new { } });
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    private async Task<string> RunStatusAsync(string run)
    {
        using var agent = Host.CreateClient(fixture.AgentKey);
        return (await agent.GetFromJsonAsync<JsonElement>($"api/v1/orgs/acme/runs/{run}")).GetProperty("status").GetString()!;
    }

    private async Task<HttpClient> SignedInAsync(string email, string password)
    {
        var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() }) { BaseAddress = Host.BaseAddress };
        http.DefaultRequestHeaders.Accept.ParseAdd("text/html");
        var login = await http.GetStringAsync("login");
        using var signIn = await http.PostAsync("login", Form(AntiforgeryToken(login), ("_handler", "login"), ("Input.Email", email), ("Input.Password", password)));
        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        return http;
    }

    private static string AntiforgeryToken(string html)
    {
        const string marker = "name=\"__RequestVerificationToken\" value=\"";
        var at = html.IndexOf(marker, StringComparison.Ordinal);
        Assert.True(at >= 0, "The page has no antiforgery token.");
        var start = at + marker.Length;
        return WebUtility.HtmlDecode(html[start..html.IndexOf('"', start)]);
    }

    private static FormUrlEncodedContent Form(string token, params (string Name, string Value)[] fields) =>
        new([new("__RequestVerificationToken", token), .. fields.Select(f => new KeyValuePair<string, string>(f.Name, f.Value))]);
}

public sealed class SqliteRunFormsTests(SqliteSetUpBrowserFixture fixture) : RunFormsTests(fixture), IClassFixture<SqliteSetUpBrowserFixture>;

public sealed class PostgresRunFormsTests(PostgresSetUpBrowserFixture fixture) : RunFormsTests(fixture), IClassFixture<PostgresSetUpBrowserFixture>;
