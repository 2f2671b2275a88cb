using System.Net.Http.Json;
using Clarity.BrowserTests.Infrastructure;
using Microsoft.Playwright;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Clarity.BrowserTests.Dashboard;

/// <summary>First run: the server starts with no user, so this class gets its own fixture (server) and runs setup itself.</summary>
public abstract class SignInTests(BrowserFixture fixture)
{
    [Fact]
    public async Task FirstRunSetup_ThenSignOut_ThenSignIn_LandsOnTheOrg()
    {
        var page = await fixture.NewPageAsync();

        // No user yet: the root sends people to setup.
        await page.GotoAsync("/");
        await page.WaitForURLAsync("**/setup");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Welcome to Clarity" })).ToBeVisibleAsync();
        await page.ShotAsync("1-setup");

        await page.GetByLabel("Organisation name").FillAsync("Acme Robotics");
        await page.GetByLabel("Organisation slug").FillAsync("acme");
        await page.GetByLabel("Your name").FillAsync("Olivia Owner");
        await page.GetByLabel("Email").FillAsync(DashboardHost.OwnerEmail);
        await page.GetByLabel("Password").FillAsync(DashboardHost.OwnerPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Create organisation" }).ClickAsync();

        // Setup signs the owner in and opens the org.
        await page.WaitForURLAsync("**/o/acme");
        var nav = page.GetByRole(AriaRole.Navigation, new() { Name = "Main" });
        await Expect(nav.GetByRole(AriaRole.Link, new() { Name = "Inbox" })).ToBeVisibleAsync();
        await page.ShotAsync("2-signed-in-after-setup");

        // Setup is gone once a user exists.
        await page.GotoAsync("/setup");
        await page.WaitForURLAsync(url => !url.EndsWith("/setup", StringComparison.Ordinal));

        // Sign out from the account menu.
        await page.GetByRole(AriaRole.Button, new() { Name = "Account menu for Olivia Owner" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await page.WaitForURLAsync("**/login");

        // Signed out, an org page redirects to sign-in and remembers where it was going.
        await page.GotoAsync("/o/acme/agents");
        await page.WaitForURLAsync(url => url.Contains("/login?returnUrl=", StringComparison.Ordinal));

        // A wrong password shows an error and stays on the page.
        await page.GetByLabel("Email").FillAsync(DashboardHost.OwnerEmail);
        await page.GetByLabel("Password").FillAsync("not-the-password");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("Wrong email or password");
        await page.ShotAsync("3-wrong-password");

        await page.GetByLabel("Password").FillAsync(DashboardHost.OwnerPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync("**/o/acme/agents");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Agents", Level = 1 })).ToBeVisibleAsync();
        await page.ShotAsync("4-signed-in-again");
    }
}

/// <summary>Sign-in on a server that is already set up.</summary>
public abstract class SignInReturnUrlTests(SetUpBrowserFixture fixture)
{
    [Fact]
    public async Task SignIn_IgnoresAReturnUrlThatLeavesTheSite()
    {
        var page = await fixture.NewPageAsync();
        await page.GotoAsync("/login?returnUrl=" + Uri.EscapeDataString("//evil.example/steal"));
        await page.GetByLabel("Email").FillAsync(DashboardHost.OwnerEmail);
        await page.GetByLabel("Password").FillAsync(DashboardHost.OwnerPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync("**/o/acme");
        Assert.Equal(fixture.Host.BaseAddress.Host, new Uri(page.Url).Host);
        await page.ShotAsync("landed");
    }

    [Fact]
    public async Task OrgSwitcher_AppearsWithASecondOrg_AndOpensTheChosenOne()
    {
        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page);
        await Expect(page.GetByLabel("Organisation")).ToHaveCountAsync(0); // one org: no switcher

        using (var owner = fixture.Host.CreateClient(await fixture.Host.LoginTokenAsync()))
        {
            (await owner.PostAsJsonAsync("api/v1/orgs", new { slug = "initech", name = "Initech" })).EnsureSuccessStatusCode();
        }

        await page.GotoAsync("/o/acme/agents");
        var switcher = page.GetByLabel("Organisation");
        await Expect(switcher).ToHaveValueAsync("acme");
        await switcher.SelectOptionAsync(new SelectOptionValue { Label = "Initech" });
        await page.WaitForURLAsync("**/o/initech");
        await Expect(page.GetByLabel("Organisation")).ToHaveValueAsync("initech");
        await page.ShotAsync("switched");
    }
}

public sealed class SqliteSignInTests(SqliteBrowserFixture fixture) : SignInTests(fixture), IClassFixture<SqliteBrowserFixture>;

public sealed class PostgresSignInTests(PostgresBrowserFixture fixture) : SignInTests(fixture), IClassFixture<PostgresBrowserFixture>;

public sealed class SqliteSignInReturnUrlTests(SqliteSetUpBrowserFixture fixture) : SignInReturnUrlTests(fixture), IClassFixture<SqliteSetUpBrowserFixture>;

public sealed class PostgresSignInReturnUrlTests(PostgresSetUpBrowserFixture fixture) : SignInReturnUrlTests(fixture), IClassFixture<PostgresSetUpBrowserFixture>;
