using System.Net;
using Clarity.BrowserTests.Infrastructure;
using Clarity.Client;
using Microsoft.Playwright;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Clarity.BrowserTests.Dashboard;

public abstract class SettingsTests(SetUpBrowserFixture fixture)
{
    [Fact]
    public async Task ApiKey_CreatedWithItsSecretShownOnce_WorksAgainstTheApi_ThenRevoked()
    {
        var page = await fixture.NewPageAsync();
        page.Dialog += (_, dialog) => dialog.AcceptAsync(); // the revoke confirmation
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync("/o/acme/settings");

        await page.GetByLabel("Key name").FillAsync("browser-agent");
        await page.GetByLabel("Key role").SelectOptionAsync("member");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create API key" }).ClickAsync();

        var secretBox = page.GetByLabel("New API key secret");
        await Expect(secretBox).ToBeVisibleAsync();
        var secret = await secretBox.InputValueAsync();
        Assert.StartsWith("clk_", secret, StringComparison.Ordinal);
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Copy" })).ToBeVisibleAsync();
        await page.ShotAsync("1-secret-shown-once");

        // The secret works against the API.
        using (var agent = new ClarityClient(fixture.Host.BaseAddress, secret, "acme"))
        {
            var me = await agent.GetMeAsync();
            Assert.Equal("browser-agent", me.ApiKey!.Name);
        }

        // Shown once: a fresh load lists the key by its prefix only.
        await page.GotoAsync("/o/acme/settings");
        await Expect(page.GetByLabel("New API key secret")).ToHaveCountAsync(0);
        Assert.DoesNotContain(secret, await page.ContentAsync(), StringComparison.Ordinal);
        var row = page.GetByRole(AriaRole.Row).Filter(new() { HasText = "browser-agent" });
        await Expect(row).ToContainTextAsync(secret[..8]);

        await row.GetByRole(AriaRole.Button, new() { Name = "Revoke browser-agent" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "API key revoked." })).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Row).Filter(new() { HasText = "browser-agent" })).ToContainTextAsync("revoked");
        await page.ShotAsync("2-revoked");

        using var revoked = fixture.Host.CreateClient(secret);
        Assert.Equal(HttpStatusCode.Unauthorized, (await revoked.GetAsync("api/v1/me")).StatusCode);
    }

    [Fact]
    public async Task Members_AddChangeRoleRemove_WithServiceErrorsShownInline()
    {
        var page = await fixture.NewPageAsync();
        page.Dialog += (_, dialog) => dialog.AcceptAsync();
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync("/o/acme/settings");

        // A new user needs an initial password: the service's validation error is shown inline.
        await page.GetByLabel("Email").FillAsync("vera@acme.example");
        await page.GetByLabel("Role", new() { Exact = true }).SelectOptionAsync("viewer");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add member" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("password");

        await page.GetByLabel("Email").FillAsync("vera@acme.example");
        await page.GetByLabel("Role", new() { Exact = true }).SelectOptionAsync("viewer");
        await page.GetByLabel("Initial password").FillAsync("vera-password-123");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add member" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "vera@acme.example added as viewer." })).ToBeVisibleAsync();

        var row = page.GetByRole(AriaRole.Row).Filter(new() { HasText = "vera@acme.example" });
        await row.GetByLabel("Role of vera@acme.example").SelectOptionAsync("member");
        await row.GetByRole(AriaRole.Button, new() { Name = "Change role of vera@acme.example" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "vera@acme.example is now member." })).ToBeVisibleAsync();
        await page.ShotAsync("1-member-added");

        // The last owner cannot leave: the rule the service enforces comes back as an inline error.
        var owner = page.GetByRole(AriaRole.Row).Filter(new() { HasText = DashboardHost.OwnerEmail });
        await owner.GetByRole(AriaRole.Button, new() { Name = $"Remove {DashboardHost.OwnerEmail}" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("at least one owner");

        row = page.GetByRole(AriaRole.Row).Filter(new() { HasText = "vera@acme.example" });
        await row.GetByRole(AriaRole.Button, new() { Name = "Remove vera@acme.example" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "Member removed." })).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Row).Filter(new() { HasText = "vera@acme.example" })).ToHaveCountAsync(0);
        await page.ShotAsync("2-member-removed");
    }
}

public sealed class SqliteSettingsTests(SqliteSetUpBrowserFixture fixture) : SettingsTests(fixture), IClassFixture<SqliteSetUpBrowserFixture>;

public sealed class PostgresSettingsTests(PostgresSetUpBrowserFixture fixture) : SettingsTests(fixture), IClassFixture<PostgresSetUpBrowserFixture>;
