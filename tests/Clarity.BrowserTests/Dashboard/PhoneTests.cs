using Clarity.BrowserTests.Infrastructure;
using Microsoft.Playwright;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Clarity.BrowserTests.Dashboard;

public abstract class PhoneTests(SetUpBrowserFixture fixture)
{
    private static readonly string[] s_pages = ["", "tasks", "clarifications", "agents", "search", "settings"];

    [Fact]
    public async Task PhoneViewport_NavigationIsReachable_AndNoPageScrollsSideways()
    {
        var page = await fixture.NewPageAsync(width: 360, height: 740, touch: true);
        await AssertNoSidewaysScrollAsync(page, "/login", "login");
        await BrowserFixture.SignInAsync(page);

        // The navigation sits behind the menu button on a phone.
        var nav = page.GetByRole(AriaRole.Navigation, new() { Name = "Main" });
        var menu = page.GetByRole(AriaRole.Button, new() { Name = "Menu", Exact = true });
        await Expect(menu).ToBeVisibleAsync();
        await Expect(nav.GetByRole(AriaRole.Link, new() { Name = "Agents" })).Not.ToBeVisibleAsync();
        await menu.ClickAsync();
        await Expect(menu).ToHaveAttributeAsync("aria-expanded", "true");
        await Expect(nav.GetByRole(AriaRole.Link, new() { Name = "Agents" })).ToBeVisibleAsync();
        await Expect(nav).ToBeInViewportAsync(new() { Ratio = 1 }); // the drawer has finished sliding in
        await page.ShotAsync("1-menu-open", fullPage: false);
        await nav.GetByRole(AriaRole.Link, new() { Name = "Agents" }).ClickAsync();
        await page.WaitForURLAsync("**/o/acme/agents");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Agents", Level = 1 })).ToBeVisibleAsync();

        foreach (var path in s_pages)
        {
            await AssertNoSidewaysScrollAsync(page, "/o/acme/" + path, path.Length == 0 ? "overview" : path);
        }

        // The user menu fits on the screen too.
        await page.GetByRole(AriaRole.Button, new() { Name = "Account menu for Olivia Owner" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Sign out" })).ToBeInViewportAsync();
        await AssertFitsAsync(page, "account menu");
        await page.ShotAsync("2-account-menu", fullPage: false);
    }

    private static async Task AssertNoSidewaysScrollAsync(IPage page, string url, string name)
    {
        await page.GotoAsync(url);
        await page.WaitForLoadStateAsync(LoadState.Load);
        await AssertFitsAsync(page, name);
        await page.ShotAsync("page-" + name, nameof(PhoneViewport_NavigationIsReachable_AndNoPageScrollsSideways));
    }

    private static async Task AssertFitsAsync(IPage page, string name)
    {
        var (scrollWidth, innerWidth) = (await page.EvaluateAsync<int>("document.documentElement.scrollWidth"), await page.EvaluateAsync<int>("window.innerWidth"));
        Assert.True(scrollWidth <= innerWidth, $"{name}: scrollWidth {scrollWidth} > innerWidth {innerWidth}");
    }
}

public sealed class SqlitePhoneTests(SqliteSetUpBrowserFixture fixture) : PhoneTests(fixture), IClassFixture<SqliteSetUpBrowserFixture>;

public sealed class PostgresPhoneTests(PostgresSetUpBrowserFixture fixture) : PhoneTests(fixture), IClassFixture<PostgresSetUpBrowserFixture>;
