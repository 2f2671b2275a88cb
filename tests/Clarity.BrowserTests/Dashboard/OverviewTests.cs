using System.Net.Http.Json;
using System.Text.Json;
using Clarity.BrowserTests.Infrastructure;
using Microsoft.Playwright;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Clarity.BrowserTests.Dashboard;

/// <summary>The overview on its own server, so that its numbers start from zero.</summary>
public abstract class OverviewTests(SetUpBrowserFixture fixture)
{
    [Fact]
    public async Task Overview_DrawsTheTrendCharts_AndUpdatesItsNumbersWhenTasksFinish()
    {
        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync("/o/acme?window=24h");
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "24 h" })).ToHaveAttributeAsync("aria-current", "page");
        await Expect(page.Locator("[data-chart] canvas")).ToHaveCountAsync(3);
        var errorRate = page.GetByLabel("Error rate", new() { Exact = true });
        await Expect(errorRate).ToContainTextAsync("—");
        await page.EvaluateAsync("() => window.__sameDocument = true");

        // An agent finishes two tasks, one of them failed: the numbers change on the open page.
        using var agent = fixture.Host.CreateClient(fixture.AgentKey);
        foreach (var outcome in new[] { "complete", "fail" })
        {
            (await agent.PostAsJsonAsync("api/v1/orgs/acme/tasks", new { title = outcome, queue = "overview" })).EnsureSuccessStatusCode();
            var lease = await (await agent.PostAsJsonAsync("api/v1/orgs/acme/work/checkout", new { agent = "worker", queues = new[] { "overview" }, leaseSeconds = 3600 })).Content.ReadFromJsonAsync<JsonElement>();
            var id = lease.GetProperty("task").GetProperty("id").GetString();
            var token = lease.GetProperty("leaseToken").GetString();
            (await agent.PostAsJsonAsync($"api/v1/orgs/acme/tasks/{id}/{outcome}", new { leaseToken = token, error = "it broke" })).EnsureSuccessStatusCode();
        }

        await Expect(errorRate).ToContainTextAsync("50%");
        await Expect(page.GetByLabel("Tasks per day", new() { Exact = true })).ToContainTextAsync("2 created in 24 h");
        await Expect(page.Locator("[data-chart] canvas")).ToHaveCountAsync(3);
        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"), "the page reloaded");

        await page.ShotAsync("overview");

        // The charts have a table alternative with the same figures.
        await page.GetByText("Show as a table").First.ClickAsync();
        var table = page.Locator("figure details").First.GetByRole(AriaRole.Table);
        await Expect(table).ToBeVisibleAsync();
        await Expect(table.Locator("tbody tr").Last).ToContainTextAsync("2");

        // The window switcher changes the URL and the buckets.
        await page.GetByRole(AriaRole.Link, new() { Name = "30 d" }).ClickAsync();
        await page.WaitForURLAsync("**/o/acme?window=30d");
        await Expect(page.GetByText("Tasks created and finished per day")).ToBeVisibleAsync();

        // Dark theme: the charts redraw with the theme's colours.
        await page.GetByRole(AriaRole.Button, new() { Name = "Switch to dark theme" }).ClickAsync();
        await Expect(page.Locator("[data-chart] canvas")).ToHaveCountAsync(3);
        await page.ShotAsync("overview-dark");
    }
}

public sealed class SqliteOverviewTests(SqliteSetUpBrowserFixture fixture) : OverviewTests(fixture), IClassFixture<SqliteSetUpBrowserFixture>;

public sealed class PostgresOverviewTests(PostgresSetUpBrowserFixture fixture) : OverviewTests(fixture), IClassFixture<PostgresSetUpBrowserFixture>;
