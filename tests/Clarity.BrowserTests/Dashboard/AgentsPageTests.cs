using Clarity.BrowserTests.Infrastructure;
using Clarity.Client;
using Microsoft.Playwright;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Clarity.BrowserTests.Dashboard;

/// <summary>The agents page: one page of agents by name, "Load more", and the live refresh. A server of its own, so the agents are known.</summary>
public abstract class AgentsPageTests(SetUpBrowserFixture fixture)
{
    [Fact]
    public async Task AgentsPage_ShowsFiftyByName_LoadMoreAppendsTheRest_AndANewAgentAppearsWithoutAReload()
    {
        using var agent = new ClarityClient(fixture.Host.BaseAddress, fixture.AgentKey, "acme");
        for (var i = 1; i <= 55; i++)
        {
            await agent.RegisterAgentAsync($"worker-{i:D2}");
        }

        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync("/o/acme/agents");
        var rows = page.Locator("#agent-rows tr[data-agent]");
        var loadMore = page.GetByRole(AriaRole.Button, new() { Name = "Load more" });
        await Expect(rows).ToHaveCountAsync(50);
        await Expect(rows.First).ToContainTextAsync("worker-01");
        await Expect(rows.Last).ToContainTextAsync("worker-50");
        await page.EvaluateAsync("() => window.__sameDocument = true");

        await loadMore.ClickAsync();
        await Expect(rows).ToHaveCountAsync(55);
        await Expect(rows.Last).ToContainTextAsync("worker-55");
        await Expect(loadMore).ToHaveCountAsync(0);
        await page.ShotAsync("all-agents");

        // A new agent checks in: the list refreshes as many rows as it shows, in name order, and offers the rest again.
        await agent.RegisterAgentAsync("worker-00");
        await Expect(rows.First).ToContainTextAsync("worker-00");
        await Expect(rows).ToHaveCountAsync(55);
        await Expect(loadMore).ToHaveCountAsync(1);
        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"), "the page reloaded");
    }
}

public sealed class SqliteAgentsPageTests(SqliteSetUpBrowserFixture fixture) : AgentsPageTests(fixture), IClassFixture<SqliteSetUpBrowserFixture>;

public sealed class PostgresAgentsPageTests(PostgresSetUpBrowserFixture fixture) : AgentsPageTests(fixture), IClassFixture<PostgresSetUpBrowserFixture>;
