using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Clarity.BrowserTests.Infrastructure;
using Clarity.Features.Notifications;
using Clarity.Features.Notifications.WebPush;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Clarity.BrowserTests.Dashboard;

/// <summary>
/// Web push in Chromium, as far as a headless browser goes without a real push service (docs/operations.md, "Web
/// push"): the service worker registers, a push message delivered to it through the DevTools protocol shows the
/// question's notification with the URL a click opens, and the account page's "Notify this device" registers a
/// subscription with the server and "Stop" removes it. Headless Chromium refuses the browser's own
/// pushManager.subscribe() ("Registration failed - permission denied"); where that matters the test stands in for it.
/// </summary>
public abstract class WebPushTests(WebPushBrowserFixture fixture)
{
    [Fact]
    public async Task ServiceWorker_ShowsAPushedQuestion_WithTheQuestionsUrlToOpen()
    {
        var page = await fixture.NewPageAsync();
        await page.Context.GrantPermissionsAsync(["notifications"], new() { Origin = Origin });
        var registrations = new ConcurrentQueue<string>();
        var cdp = await page.Context.NewCDPSessionAsync(page);
        cdp.Event("ServiceWorker.workerRegistrationUpdated").OnEvent += (_, e) =>
        {
            foreach (var r in e?.GetProperty("registrations").EnumerateArray() ?? default)
            {
                if (!r.GetProperty("isDeleted").GetBoolean() && r.GetProperty("scopeURL").GetString() == Origin + "/")
                {
                    registrations.Enqueue(r.GetProperty("registrationId").GetString()!);
                }
            }
        };
        await cdp.SendAsync("ServiceWorker.enable");
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync("/account");
        Assert.Equal("activated", await page.EvaluateAsync<string>("navigator.serviceWorker.ready.then(r => r.active.state)"));
        for (var i = 0; i < 300 && registrations.IsEmpty; i++)
        {
            await Task.Delay(100);
        }

        var registrationId = registrations.TryPeek(out var found) ? found : throw new InvalidOperationException("No service worker registration was reported for " + Origin);

        // The message exactly as the server's channel makes it (then encrypts it) for a new question.
        var questionId = Guid.CreateVersion7();
        var url = $"{Origin}/o/acme/clarifications?question={questionId}";
        var channel = fixture.Host.Server.Services.GetRequiredService<WebPushChannel>();
        var payload = Encoding.UTF8.GetString(channel.Payload(new NotificationView
        {
            EventType = NotificationEvents.ClarificationAsked,
            EventSeq = 1,
            OrgId = Guid.NewGuid(),
            OrgSlug = "acme",
            OccurredAt = DateTimeOffset.UtcNow,
            Summary = "Question from agent tidy-bot: Keep the old entries?",
            Url = url,
            AgentName = "tidy-bot",
            Question = new NotificationQuestion(questionId, "Keep the old entries?", ["yes", "no"], DateTimeOffset.UtcNow.AddHours(1), "fail", null),
        }));

        await cdp.SendAsync("ServiceWorker.deliverPushMessage", new() { ["origin"] = Origin, ["registrationId"] = registrationId, ["data"] = payload });

        JsonElement shown = default;
        for (var i = 0; i < 300; i++)
        {
            shown = await page.EvaluateAsync<JsonElement>(
                "navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.map(n => ({ title: n.title, body: n.body, tag: n.tag, url: n.data && n.data.url })))");
            if (shown.GetArrayLength() > 0)
            {
                break;
            }

            await Task.Delay(100);
        }

        var notification = Assert.Single(shown.EnumerateArray());
        Assert.Equal("Question from tidy-bot", notification.GetProperty("title").GetString());
        Assert.StartsWith("Keep the old entries?", notification.GetProperty("body").GetString(), StringComparison.Ordinal);
        Assert.Equal("clarity-question-" + questionId, notification.GetProperty("tag").GetString());
        // What a tap opens (notificationclick focuses or opens data.url; the DevTools protocol cannot click a notification).
        Assert.Equal(url, notification.GetProperty("url").GetString());
    }

    [Fact]
    public async Task NotifyThisDevice_InHeadlessChromium_ReportsThatSubscribingWasRefused()
    {
        var page = await fixture.NewPageAsync();
        await page.Context.GrantPermissionsAsync(["notifications"], new() { Origin = Origin });
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync("/account");
        var section = page.Locator("[data-push-device]");
        await Expect(section).ToHaveAttributeAsync("data-state", "off");

        await page.GetByRole(AriaRole.Button, new() { Name = "Notify this device" }).ClickAsync();

        // Headless Chromium refuses pushManager.subscribe() ("Registration failed - permission denied"): docs/operations.md, "Web push".
        await Expect(section.Locator("[data-push-status]")).ToContainTextAsync("could not be turned on");
        await Expect(section).ToHaveAttributeAsync("data-state", "off");
        await page.ShotAsync("subscribe-refused-by-headless-chromium");
    }

    [Fact]
    public async Task NotifyThisDevice_RegistersTheSubscriptionWithTheServer_AndStopRemovesIt()
    {
        var page = await fixture.NewPageAsync();
        await page.Context.GrantPermissionsAsync(["notifications"], new() { Origin = Origin });
        // Stand in for the browser's push service: subscribe() answers what Chromium would, for a loopback endpoint.
        using var device = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        var q = device.ExportParameters(false).Q;
        var p256dh = System.Buffers.Text.Base64Url.EncodeToString([0x04, .. q.X!, .. q.Y!]);
        var auth = System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(16));
        var endpoint = $"http://127.0.0.1:9/push/{Guid.NewGuid():N}";
        await page.AddInitScriptAsync($$"""
            (() => {
              let current = null;
              const make = (options) => ({
                endpoint: '{{endpoint}}',
                options,
                toJSON() { return { endpoint: '{{endpoint}}', expirationTime: null, keys: { p256dh: '{{p256dh}}', auth: '{{auth}}' } }; },
                async unsubscribe() { current = null; return true; },
              });
              PushManager.prototype.subscribe = async function (options) { current = make(options); return current; };
              PushManager.prototype.getSubscription = async function () { return current; };
            })();
            """);
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync("/account");
        var section = page.Locator("[data-push-device]");
        await Expect(section).ToHaveAttributeAsync("data-state", "off");

        await page.GetByRole(AriaRole.Button, new() { Name = "Notify this device" }).ClickAsync();

        await Expect(section).ToHaveAttributeAsync("data-state", "on");
        await Expect(section.Locator("[data-push-status]")).ToHaveTextAsync("This device gets notifications.");
        using var owner = fixture.Host.CreateClient(await fixture.Host.LoginTokenAsync());
        var list = await owner.GetFromJsonAsync<JsonElement>("api/v1/me/push-subscriptions");
        Assert.Equal(endpoint, Assert.Single(list.GetProperty("items").EnumerateArray()).GetProperty("endpoint").GetString());
        await page.ShotAsync("on");

        await page.GetByRole(AriaRole.Button, new() { Name = "Stop notifying this device" }).ClickAsync();

        await Expect(section).ToHaveAttributeAsync("data-state", "off");
        list = await owner.GetFromJsonAsync<JsonElement>("api/v1/me/push-subscriptions");
        Assert.Empty(list.GetProperty("items").EnumerateArray());
    }

    private string Origin => fixture.Host.BaseAddress.GetLeftPart(UriPartial.Authority);
}

/// <summary>Org "acme" set up; push services on loopback accepted (the stand-in subscription's endpoint).</summary>
public abstract class WebPushBrowserFixture(Backend backend) : SetUpBrowserFixture(backend)
{
    protected override IDictionary<string, string?>? Settings => new Dictionary<string, string?>
    {
        ["Clarity:WebPush:AllowLoopbackEndpoints"] = "true",
        ["Clarity:WebPush:Subject"] = "mailto:ops@example.com",
    };
}

public sealed class SqliteWebPushBrowserFixture() : WebPushBrowserFixture(Backend.Sqlite);

public sealed class PostgresWebPushBrowserFixture() : WebPushBrowserFixture(Backend.Postgres);

public sealed class SqliteWebPushTests(SqliteWebPushBrowserFixture fixture) : WebPushTests(fixture), IClassFixture<SqliteWebPushBrowserFixture>;

public sealed class PostgresWebPushTests(PostgresWebPushBrowserFixture fixture) : WebPushTests(fixture), IClassFixture<PostgresWebPushBrowserFixture>;
