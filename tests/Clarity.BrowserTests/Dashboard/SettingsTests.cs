using System.Net.Http.Json;
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
    public async Task Webhook_CreatedWithItsSecretShownOnce_DeliveryReplayed_ThenDeleted()
    {
        const string Url = "https://203.0.113.10/clarity-hook"; // TEST-NET-3: passes the address rules, reaches nobody
        var page = await fixture.NewPageAsync();
        page.Dialog += (_, dialog) => dialog.AcceptAsync(); // the delete confirmation
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync("/o/acme/settings");
        await page.GetByRole(AriaRole.Link, new() { Name = "Manage webhooks" }).ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == "/o/acme/settings/webhooks");

        await page.GetByLabel("URL").FillAsync(Url);
        await page.GetByLabel("Event types").FillAsync("*");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create endpoint" }).ClickAsync();
        var secretBox = page.GetByLabel("New webhook signing secret");
        await Expect(secretBox).ToBeVisibleAsync();
        var secret = await secretBox.InputValueAsync();
        Assert.StartsWith("whsec_", secret, StringComparison.Ordinal);
        await page.ShotAsync("webhook-1-secret-shown-once");

        // Shown once; the endpoint's own webhook.created is its first delivery.
        await page.GotoAsync("/o/acme/settings/webhooks");
        Assert.DoesNotContain(secret, await page.ContentAsync(), StringComparison.Ordinal);
        var row = page.GetByRole(AriaRole.Row).Filter(new() { HasText = Url });
        await row.GetByRole(AriaRole.Link, new() { Name = "Deliveries to " + Url }).ClickAsync();
        var delivery = page.GetByRole(AriaRole.Row).Filter(new() { HasText = "webhook.created" });
        for (var i = 0; i < 100 && await delivery.CountAsync() == 0; i++)
        {
            await Task.Delay(200);
            await page.ReloadAsync();
        }

        await Expect(delivery.First).ToBeVisibleAsync();
        await delivery.First.GetByRole(AriaRole.Button).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "Delivery queued again" })).ToBeVisibleAsync();
        await page.ShotAsync("webhook-2-deliveries");

        await page.GetByRole(AriaRole.Row).Filter(new() { HasText = Url }).First.GetByRole(AriaRole.Button, new() { Name = "Delete " + Url }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "Webhook endpoint deleted." })).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Row).Filter(new() { HasText = Url })).ToHaveCountAsync(0);

        // A hand-edited or stale link shows the list, never an error page.
        var stale = await page.GotoAsync("/o/acme/settings/webhooks?deliveries=not-an-id");
        Assert.Equal(200, stale!.Status);
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Endpoints" })).ToBeVisibleAsync();
    }

    [Fact]
    public async Task Invitation_LinkCreatesTheAccount_ThenTheMemberIsChangedAndRemoved_WithServiceErrorsShownInline()
    {
        var page = await fixture.NewPageAsync();
        page.Dialog += (_, dialog) => dialog.AcceptAsync();
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync("/o/acme/settings");

        // Inviting shows the link once; nobody is a member yet.
        await page.GetByLabel("Email").FillAsync("vera@acme.example");
        await page.GetByLabel("Role", new() { Exact = true }).SelectOptionAsync("viewer");
        await page.GetByRole(AriaRole.Button, new() { Name = "Invite", Exact = true }).ClickAsync();
        var linkBox = page.GetByLabel("Invitation link");
        await Expect(linkBox).ToBeVisibleAsync();
        var link = await linkBox.InputValueAsync();
        Assert.Contains("/invite/cli_", link, StringComparison.Ordinal);
        await Expect(page.GetByRole(AriaRole.Table, new() { Name = "Open invitations" })).ToContainTextAsync("vera@acme.example");
        await page.ShotAsync("1-invited");

        // A second invitation to the same email: the service's rule comes back inline.
        await page.GetByLabel("Email").FillAsync("vera@acme.example");
        await page.GetByRole(AriaRole.Button, new() { Name = "Invite", Exact = true }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("already has an open invitation");

        // Vera opens the link in her own browser and creates her account.
        var vera = await fixture.NewPageAsync();
        await vera.GotoAsync(new Uri(link).PathAndQuery);
        await Expect(vera.GetByRole(AriaRole.Heading, new() { Name = "Join Acme" })).ToBeVisibleAsync();
        await vera.GetByLabel("Your name").FillAsync("Vera");
        await vera.GetByLabel("Password").FillAsync("vera-password-123");
        await vera.ShotAsync("2-invitation-page");
        await vera.GetByRole(AriaRole.Button, new() { Name = "Create account and join" }).ClickAsync();
        await vera.WaitForURLAsync(url => new Uri(url).AbsolutePath == "/o/acme");
        await Expect(vera.GetByRole(AriaRole.Heading, new() { Name = "Overview" })).ToBeVisibleAsync();

        await page.GotoAsync("/o/acme/settings");
        var row = page.GetByRole(AriaRole.Row).Filter(new() { HasText = "vera@acme.example" });
        await Expect(row).ToContainTextAsync("Vera");
        await Expect(page.GetByRole(AriaRole.Table, new() { Name = "Open invitations" })).ToHaveCountAsync(0);
        await row.GetByLabel("Role of vera@acme.example").SelectOptionAsync("member");
        await row.GetByRole(AriaRole.Button, new() { Name = "Change role of vera@acme.example" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "vera@acme.example is now member." })).ToBeVisibleAsync();
        await page.ShotAsync("3-member-joined");

        // The last owner cannot go: the rule the service enforces comes back as an inline error.
        var owner = page.GetByRole(AriaRole.Row).Filter(new() { HasText = DashboardHost.OwnerEmail });
        await owner.GetByRole(AriaRole.Button, new() { Name = $"Remove {DashboardHost.OwnerEmail}" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("at least one owner");

        row = page.GetByRole(AriaRole.Row).Filter(new() { HasText = "vera@acme.example" });
        await row.GetByRole(AriaRole.Button, new() { Name = "Remove vera@acme.example" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "Member removed." })).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Row).Filter(new() { HasText = "vera@acme.example" })).ToHaveCountAsync(0);

        // Removed, her open page sends her nowhere she could act: the org is not found.
        await vera.GotoAsync("/o/acme/tasks");
        await Expect(vera.GetByText("Page not found")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task Account_AcceptsAnInvitation_AndSignsOutEverywhere()
    {
        using (var owner = fixture.Host.CreateClient(await fixture.Host.LoginTokenAsync()))
        {
            (await owner.PostAsJsonAsync("api/v1/orgs", new { slug = "globex", name = "Globex" })).EnsureSuccessStatusCode();
        }

        await fixture.Host.AddPersonAsync("acme", "sam@acme.example", "sam-password-123", "member");
        using (var owner = fixture.Host.CreateClient(await fixture.Host.LoginTokenAsync()))
        {
            (await owner.PostAsJsonAsync("api/v1/orgs/globex/invitations", new { email = "sam@acme.example", role = "admin" })).EnsureSuccessStatusCode();
        }

        var laptop = await fixture.NewPageAsync();
        laptop.Dialog += (_, dialog) => dialog.AcceptAsync(); // the sign-out-everywhere confirmation
        await BrowserFixture.SignInAsync(laptop, "sam@acme.example", "sam-password-123");
        var phone = await fixture.NewPageAsync(390, 844, touch: true);
        await BrowserFixture.SignInAsync(phone, "sam@acme.example", "sam-password-123");

        await laptop.GotoAsync("/account");
        await Expect(laptop.GetByRole(AriaRole.Heading, new() { Name = "Invitations" })).ToBeVisibleAsync();
        // Three sign-ins: accepting the invitation, the laptop and the phone.
        await Expect(laptop.GetByRole(AriaRole.Table, new() { Name = "Your active sessions" }).Locator("tbody tr")).ToHaveCountAsync(3);
        await laptop.ShotAsync("1-account");
        await laptop.GetByRole(AriaRole.Button, new() { Name = "Accept the invitation to Globex" }).ClickAsync();
        await laptop.WaitForURLAsync(url => new Uri(url).AbsolutePath == "/o/globex");
        await Expect(laptop.GetByRole(AriaRole.Status).Filter(new() { HasText = "You joined Globex as admin." })).ToBeVisibleAsync();

        await laptop.GotoAsync("/account");
        await laptop.GetByRole(AriaRole.Button, new() { Name = "Sign out everywhere" }).ClickAsync();
        await laptop.WaitForURLAsync(url => new Uri(url).AbsolutePath == "/login");

        // The phone's session ended too: its next page asks to sign in.
        await phone.GotoAsync("/o/acme/tasks");
        await phone.WaitForURLAsync(url => new Uri(url).AbsolutePath == "/login");
    }
}

public sealed class SqliteSettingsTests(SqliteSetUpBrowserFixture fixture) : SettingsTests(fixture), IClassFixture<SqliteSetUpBrowserFixture>;

public sealed class PostgresSettingsTests(PostgresSetUpBrowserFixture fixture) : SettingsTests(fixture), IClassFixture<PostgresSetUpBrowserFixture>;
