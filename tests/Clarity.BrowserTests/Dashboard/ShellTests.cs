using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Clarity.BrowserTests.Infrastructure;
using Clarity.Client;
using Microsoft.Playwright;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Clarity.BrowserTests.Dashboard;

public abstract partial class ShellTests(SetUpBrowserFixture fixture)
{
    [GeneratedRegex(@"(?:href|src)=""(/(?:js|css)/[^""]+|/clarity\.[^""]+\.styles\.css)""")]
    private static partial Regex AssetLink();

    [Fact]
    public async Task InProcessServer_ServesTheBuiltBundlesFingerprinted_AndThePwaFiles()
    {
        using var http = fixture.Host.CreateClient();
        var html = await http.GetStringAsync("login");
        var links = AssetLink().Matches(html).Select(m => m.Groups[1].Value).ToList();
        Assert.Contains(links, l => Regex.IsMatch(l, @"^/js/app\.[a-z0-9]+\.js$"));
        Assert.Contains(links, l => Regex.IsMatch(l, @"^/css/app\.[a-z0-9]+\.css$"));
        Assert.Contains(links, l => l.EndsWith(".styles.css", StringComparison.Ordinal));
        foreach (var link in links)
        {
            using var response = await http.GetAsync(link.TrimStart('/'));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("immutable", response.Headers.CacheControl?.ToString() ?? "", StringComparison.Ordinal);
        }

        using var manifest = JsonDocument.Parse(await http.GetStringAsync("manifest.webmanifest"));
        Assert.Equal("standalone", manifest.RootElement.GetProperty("display").GetString());
        Assert.Equal("/", manifest.RootElement.GetProperty("start_url").GetString());
        foreach (var icon in manifest.RootElement.GetProperty("icons").EnumerateArray())
        {
            using var response = await http.GetAsync(icon.GetProperty("src").GetString()!.TrimStart('/'));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Contains("caches.open", await http.GetStringAsync("sw.js"), StringComparison.Ordinal);
        Assert.Equal("ok", await http.GetStringAsync("healthz"));
    }

    [Fact]
    public async Task Theme_FollowsTheSystem_AndTheToggleIsRemembered()
    {
        var page = await fixture.NewPageAsync();
        await page.EmulateMediaAsync(new() { ColorScheme = ColorScheme.Dark });
        await BrowserFixture.SignInAsync(page);
        var background = "getComputedStyle(document.body).backgroundColor";
        Assert.Equal("rgb(15, 18, 23)", await page.EvaluateAsync<string>(background));
        await page.ShotAsync("1-dark-from-system");

        var toggle = page.GetByRole(AriaRole.Button, new() { Name = "Switch to light theme" });
        await toggle.ClickAsync();
        Assert.Equal("rgb(246, 247, 249)", await page.EvaluateAsync<string>(background));
        await page.ReloadAsync();
        Assert.Equal("light", await page.EvaluateAsync<string>("document.documentElement.dataset.theme"));
        Assert.Equal("rgb(246, 247, 249)", await page.EvaluateAsync<string>(background));
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Switch to dark theme" })).ToHaveAttributeAsync("aria-pressed", "false");
        await page.ShotAsync("2-light-chosen");
    }

    [Fact]
    public async Task NewPendingClarification_RaisesABrowserNotification_AfterPermissionIsGrantedFromTheButton()
    {
        var page = await fixture.NewPageAsync();
        // Record notifications instead of showing them (a headless browser has no notification centre).
        await page.AddInitScriptAsync("""
            window.__notes = [];
            window.Notification = class {
              static permission = 'default';
              static async requestPermission() { this.permission = 'granted'; return 'granted'; }
              constructor(title, options) { window.__notes.push({ title, body: options && options.body }); }
            };
            """);
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync("/o/acme/clarifications");
        Assert.Equal(0, await page.EvaluateAsync<int>("window.__notes.length"));

        var ask = page.GetByRole(AriaRole.Button, new() { Name = "Notify me of new questions" });
        await ask.ClickAsync();
        await Expect(ask).ToBeHiddenAsync();

        using var agent = new ClarityClient(fixture.Host.BaseAddress, fixture.AgentKey, "acme");
        await agent.CreateTaskAsync(new CreateTaskRequest("notify", "Tidy the changelog"));
        var lease = await agent.CheckoutAsync(new CheckoutRequest("tidy-1", Queues: ["notify"])) ?? throw new InvalidOperationException("No task to check out.");
        await agent.CreateClarificationAsync(lease.Task.Id, new CreateClarificationRequest(lease.LeaseToken, "Keep the old entries?", 600, Options: ["yes", "no"]));

        // Polled through Evaluate: the page's CSP forbids the eval that WaitForFunction needs.
        for (var i = 0; i < 150 && await page.EvaluateAsync<int>("window.__notes.length") == 0; i++)
        {
            await Task.Delay(100);
        }

        var body = await page.EvaluateAsync<string>("window.__notes[0].body");
        Assert.Equal("Keep the old entries?", body);
        await page.WaitForTimeoutAsync(500);
        Assert.Equal(1, await page.EvaluateAsync<int>("window.__notes.length"));
        await page.ShotAsync("notified");
    }
}

public sealed class SqliteShellTests(SqliteSetUpBrowserFixture fixture) : ShellTests(fixture), IClassFixture<SqliteSetUpBrowserFixture>;

public sealed class PostgresShellTests(PostgresSetUpBrowserFixture fixture) : ShellTests(fixture), IClassFixture<PostgresSetUpBrowserFixture>;
