using Clarity.BrowserTests.Infrastructure;
using Clarity.Client;
using Microsoft.Playwright;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Clarity.BrowserTests.Dashboard;

/// <summary>The audit page: the org's entries newest first, a new entry appearing without a reload, filters, exports.</summary>
public abstract class AuditPageTests(SetUpBrowserFixture fixture)
{
    [Fact]
    public async Task AuditPage_ListsEntries_ShowsANewOneWithoutAReload_AndFiltersByActionPrefix()
    {
        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page);
        await page.GetByRole(AriaRole.Link, new() { Name = "Audit" }).First.ClickAsync();
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/o/acme/audit$"));
        var rows = page.Locator("#audit-rows tr[data-audit]");
        await Expect(rows.Filter(new() { HasText = "org.created" })).ToHaveCountAsync(1);
        await Expect(page.Locator("#audit-chain-state")).ToBeVisibleAsync();
        await page.EvaluateAsync("() => window.__sameDocument = true");

        // An agent creates a task: its entry arrives at the top without a reload.
        using var agent = new ClarityClient(fixture.Host.BaseAddress, fixture.AgentKey, "acme");
        await agent.CreateTaskAsync(new CreateTaskRequest("default", "audited from the browser"));
        await Expect(rows.First).ToContainTextAsync("task.created", new() { Timeout = 15_000 });
        await Expect(rows.First).ToContainTextAsync("audited from the browser");
        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"), "the page reloaded");
        await page.ShotAsync("live");

        await page.GetByLabel("Action").FillAsync("task.*");
        await page.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("action=task\\.\\*"));
        await Expect(rows).ToHaveCountAsync(1);
        await Expect(rows.First).ToContainTextAsync("audited from the browser");
        var csv = await page.Locator("#audit-export-csv").GetAttributeAsync("href");
        Assert.Equal("/api/v1/orgs/acme/audit/export?format=csv&action=task.*", Uri.UnescapeDataString(csv!));
        await page.ShotAsync("filtered");
    }
}

public sealed class SqliteAuditPageTests(SqliteSetUpBrowserFixture fixture) : AuditPageTests(fixture), IClassFixture<SqliteSetUpBrowserFixture>;

public sealed class PostgresAuditPageTests(PostgresSetUpBrowserFixture fixture) : AuditPageTests(fixture), IClassFixture<PostgresSetUpBrowserFixture>;
