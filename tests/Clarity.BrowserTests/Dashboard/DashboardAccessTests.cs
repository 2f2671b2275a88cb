using System.Text.Json;
using System.Net;
using System.Net.Http.Json;
using Clarity.BrowserTests.Infrastructure;
using Clarity.Client;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.BrowserTests.Dashboard;

/// <summary>The dashboard's access rule over plain HTTP: redirects, 401 for htmx, 404 for other orgs, 403 by role, antiforgery.</summary>
public abstract class DashboardAccessTests(SetUpBrowserFixture fixture)
{
    private DashboardHost Host => fixture.Host;

    [Fact]
    public async Task SignedOut_PageRedirectsToSignInWithReturnUrl_AndFragmentAnswers401WithHxRedirect()
    {
        using var http = NoRedirects();
        using var page = await http.GetAsync("o/acme/clarifications?x=1");
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        Assert.Equal("/login?returnUrl=%2Fo%2Facme%2Fclarifications%3Fx%3D1", page.Headers.Location?.OriginalString);

        using var fragment = new HttpRequestMessage(HttpMethod.Get, "o/acme/clarifications/_list");
        fragment.Headers.Add("HX-Request", "true");
        fragment.Headers.Add("HX-Current-URL", Host.Url("/o/acme/clarifications"));
        using var answer = await http.SendAsync(fragment);
        Assert.Equal(HttpStatusCode.Unauthorized, answer.StatusCode);
        Assert.Equal("/login?returnUrl=%2Fo%2Facme%2Fclarifications", answer.Headers.GetValues("HX-Redirect").Single());
    }

    [Fact]
    public async Task AnotherOrgsPages_AnswerTheSame404PageAsAMissingOrg_WithTheDashboardsSecurityHeaders()
    {
        using var http = await SignedInAsync(DashboardHost.OwnerEmail, DashboardHost.OwnerPassword);
        using var owner = Host.CreateClient(await Host.LoginTokenAsync());
        (await owner.PostAsJsonAsync("api/v1/orgs", new { slug = "globex", name = "Globex" })).EnsureSuccessStatusCode();

        // A user of another org only: create one through globex, then look at acme.
        await Host.AddPersonAsync("globex", "gina@globex.example", "gina-password-123", "owner");
        using var gina = await SignedInAsync("gina@globex.example", "gina-password-123");
        foreach (var path in new[] { "o/acme", "o/acme/settings", "o/acme/clarifications/_list", "o/nope/agents" })
        {
            using var response = await gina.GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Contains("Page not found", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            // The refusal carries the dashboard's security headers like any page.
            Assert.Contains("frame-ancestors 'none'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
            Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        }

        using var mine = await gina.GetAsync("o/globex/agents");
        Assert.Equal(HttpStatusCode.OK, mine.StatusCode);

        // An unknown dashboard path answers a page too; the API keeps answering problem+json.
        using var unknown = await gina.GetAsync("o/globex/no-such-page");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("text/html", unknown.Content.Headers.ContentType?.MediaType);
        using var api = await gina.GetAsync("api/v1/no-such-route");
        Assert.Equal("application/problem+json", api.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Viewer_ReadsTheInbox_ButCannotAnswerOrManage()
    {
        await Host.AddPersonAsync("acme", "vic@acme.example", "vic-password-123", "viewer");
        using var viewer = await SignedInAsync("vic@acme.example", "vic-password-123");

        var inbox = await viewer.GetStringAsync("o/acme/clarifications");
        Assert.Contains("can read questions but not answer them", inbox, StringComparison.Ordinal);
        var settings = await viewer.GetStringAsync("o/acme/settings");
        Assert.Contains("cannot manage API keys", settings, StringComparison.Ordinal);
        Assert.DoesNotContain("Create API key", settings, StringComparison.Ordinal);

        var token = AntiforgeryToken(inbox);
        using var answer = await viewer.PostAsync($"o/acme/clarifications/{Guid.NewGuid()}/answer", Form(token, ("answer", "yes")));
        Assert.Equal(HttpStatusCode.Forbidden, answer.StatusCode);
        using var revoke = await viewer.PostAsync($"o/acme/settings/api-keys/{Guid.NewGuid()}/revoke", Form(token));
        Assert.Equal(HttpStatusCode.Forbidden, revoke.StatusCode);
    }

    [Fact]
    public async Task FormActions_WithoutTheAntiforgeryToken_ChangeNothing()
    {
        using var owner = await SignedInAsync(DashboardHost.OwnerEmail, DashboardHost.OwnerPassword);
        var keysBefore = await owner.GetStringAsync("o/acme/settings");
        var key = await Host.CreateApiKeyAsync(await Host.LoginTokenAsync(), "acme", "keep-me", "viewer");
        using (var keyClient = Host.CreateClient(key))
        {
            var keyId = (await keyClient.GetFromJsonAsync<JsonElement>("api/v1/me")).GetProperty("apiKey").GetProperty("id").GetString();
            using var revoke = await owner.PostAsync($"o/acme/settings/api-keys/{keyId}/revoke", new FormUrlEncodedContent([]));
            Assert.Equal(HttpStatusCode.Redirect, revoke.StatusCode);
            var after = await owner.GetStringAsync("o/acme/settings");
            Assert.Contains("The form expired", after, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.OK, (await keyClient.GetAsync("api/v1/me")).StatusCode);
        }

        using var logout = await owner.PostAsync("logout", new FormUrlEncodedContent([]));
        Assert.Equal(HttpStatusCode.BadRequest, logout.StatusCode);
        Assert.NotNull(keysBefore);
    }

    [Fact]
    public async Task FormAction_WithTheTokenInAHeaderButNoFormBody_IsRefusedWithAReason_AndChangesNothing()
    {
        using var owner = await SignedInAsync(DashboardHost.OwnerEmail, DashboardHost.OwnerPassword);
        var settings = await owner.GetStringAsync("o/acme/settings");
        const string marker = "name=\"csrf-token\" content=\"";
        var start = settings.IndexOf(marker, StringComparison.Ordinal) + marker.Length;
        Assert.True(start >= marker.Length, "The page has no csrf-token meta.");
        using var request = new HttpRequestMessage(HttpMethod.Post, $"o/acme/settings/members/{Guid.NewGuid()}/role")
        {
            Content = JsonContent.Create(new { role = "viewer" }),
        };
        request.Headers.Add("RequestVerificationToken", settings[start..settings.IndexOf('"', start)]);

        // The token is valid, so the action runs: it refuses the body and says why, back on the settings page.
        using var response = await owner.SendAsync(request);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var after = await owner.GetStringAsync("o/acme/settings");
        Assert.Contains("Send the form as application/x-www-form-urlencoded", after, StringComparison.Ordinal);
    }

    /// <summary>
    /// Each page, with data to show, answers complete HTML on the first request on both backends. A page that
    /// rendered before its data had loaded answered 500 on PostgreSQL, whose queries really yield (SQLite's do not).
    /// </summary>
    [Fact]
    public async Task EveryPage_WithDataToShow_AnswersItsCompleteHtml()
    {
        using var agent = new ClarityClient(Host.BaseAddress, fixture.AgentKey, "acme");
        var queue = "pages-" + Guid.NewGuid().ToString("N")[..6];
        await agent.CreateTaskAsync(new CreateTaskRequest(queue, "Render every page"));
        var lease = await agent.CheckoutAsync(new CheckoutRequest("page-agent", Queues: [queue])) ?? throw new InvalidOperationException("No task to check out.");
        await agent.AppendLogsAsync(lease.Task.Id, [new LogLine("drawing the zebra pages")]);
        await agent.CreateClarificationAsync(lease.Task.Id, new CreateClarificationRequest(lease.LeaseToken, "Which pages first?", 1800));

        using var owner = await SignedInAsync(DashboardHost.OwnerEmail, DashboardHost.OwnerPassword);
        (string Path, string Shows)[] pages =
        [
            ("o/acme", "Pending clarifications"),
            ("o/acme?window=24h", "Tasks created and finished per hour"),
            ("o/acme/tasks", "Render every page"),
            ($"o/acme/tasks?queue={queue}&status=awaiting_response", "Render every page"),
            ($"o/acme/tasks/{lease.Task.Id}", "Which pages first?"),
            ("o/acme/clarifications", "Which pages first?"),
            ("o/acme/agents", "page-agent"),
            ("o/acme/search?q=zebra", "<mark>zebra</mark>"),
            ("o/acme/settings", "agent-key"),
        ];
        foreach (var (path, shows) in pages)
        {
            using var response = await owner.GetAsync(path);
            var html = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET /{path}: {(int)response.StatusCode} {html}");
            Assert.Contains(shows, html, StringComparison.Ordinal);
            Assert.Contains("Account menu for Olivia Owner", html, StringComparison.Ordinal); // the layout's shell
        }

        // A task that is not in the org: the dashboard's 404 page, as for another org's pages.
        using var missing = await owner.GetAsync($"o/acme/tasks/{Guid.NewGuid()}");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("Page not found", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The root sends a signed-in person to their org; setup, done already, sends them to the root.
        foreach (var (path, target) in new[] { ("", "/o/acme"), ("setup", "/") })
        {
            using var response = await owner.GetAsync(path);
            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
            Assert.Equal(target, new Uri(Host.BaseAddress, response.Headers.Location!).AbsolutePath);
        }
    }

    [Fact]
    public void EveryDashboardPage_DeclaresTheDashboardAccessRule()
    {
        var endpoints = Host.Server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<Microsoft.AspNetCore.Components.Endpoints.ComponentTypeMetadata>() is not null)
            .ToList();
        Assert.NotEmpty(endpoints);
        Assert.All(endpoints, e => Assert.NotNull(e.Metadata.GetMetadata<Clarity.Dashboard.DashboardPageAttribute>()));
    }

    private HttpClient NoRedirects() =>
        new(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = Host.BaseAddress };

    /// <summary>A client with a cookie jar, signed in through the sign-in form (antiforgery included).</summary>
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
        return html[start..html.IndexOf('"', start)];
    }

    private static FormUrlEncodedContent Form(string token, params (string Name, string Value)[] fields) =>
        new([new("__RequestVerificationToken", token), .. fields.Select(f => new KeyValuePair<string, string>(f.Name, f.Value))]);
}

public sealed class SqliteDashboardAccessTests(SqliteSetUpBrowserFixture fixture) : DashboardAccessTests(fixture), IClassFixture<SqliteSetUpBrowserFixture>;

public sealed class PostgresDashboardAccessTests(PostgresSetUpBrowserFixture fixture) : DashboardAccessTests(fixture), IClassFixture<PostgresSetUpBrowserFixture>;
