using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Hosting;

/// <summary>
/// Browsers attach the session cookie to requests other sites' pages make. A cookie-authenticated unsafe API request
/// needs this site's Origin and the dashboard's antiforgery token; the cookie carries sign-in sessions only; and how a
/// request authenticated, not which headers it happens to carry, decides the cross-site checks.
/// </summary>
public abstract partial class CookieSecurityTests(HostFixture fixture)
{
    private const string Evil = "http://evil.example";

    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task CookieCancel_FromAnotherSite_Is403_AndTheTaskStaysQueued()
    {
        var task = await NewTaskAsync();
        using var browser = CookieClient(Org.OwnerToken);
        using var request = new HttpRequestMessage(HttpMethod.Post, Org.Api($"tasks/{task}/cancel"));
        request.Headers.Add("Origin", Evil);

        await browser.SendAsync(request).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");

        Assert.Equal("queued", (await StatusAsync(task)));
    }

    [Fact]
    public async Task CookieCancel_WithoutOriginOrAntiforgeryToken_Is403()
    {
        var task = await NewTaskAsync();
        using var browser = CookieClient(Org.OwnerToken);

        // No Origin at all (an old or odd client): refused, since the cookie alone proves nothing.
        await browser.PostAsync(Org.Api($"tasks/{task}/cancel"), null).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");

        // This site's Origin but no antiforgery token (a sibling subdomain can forge neither the token nor its cookie).
        using var request = new HttpRequestMessage(HttpMethod.Post, Org.Api($"tasks/{task}/cancel"));
        request.Headers.Add("Origin", Host.BaseAddress.GetLeftPart(UriPartial.Authority));
        await browser.SendAsync(request).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");

        Assert.Equal("queued", await StatusAsync(task));
    }

    [Fact]
    public async Task CookieCancel_FromThisSite_WithTheAntiforgeryToken_Works()
    {
        var task = await NewTaskAsync();
        var (token, csrfCookie) = await AntiforgeryAsync(Org.OwnerToken);
        using var browser = Host.CreateCookieClient(null);
        using var request = new HttpRequestMessage(HttpMethod.Post, Org.Api($"tasks/{task}/cancel"));
        request.Headers.Add("Cookie", $"clarity_session={Org.OwnerToken}; {csrfCookie}");
        request.Headers.Add("Origin", Host.BaseAddress.GetLeftPart(UriPartial.Authority));
        request.Headers.Add("RequestVerificationToken", token);

        await browser.SendAsync(request).ExpectAsync(HttpStatusCode.OK);

        Assert.Equal("cancelled", await StatusAsync(task));
    }

    [Fact]
    public async Task CookieReads_StayAllowed_FromAnyPage()
    {
        using var browser = CookieClient(Org.OwnerToken);
        using var request = new HttpRequestMessage(HttpMethod.Get, Org.Api("tasks"));
        request.Headers.Add("Origin", Evil);
        await browser.SendAsync(request).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task ApiKey_InTheSessionCookie_IsRefused()
    {
        using var browser = CookieClient(Org.Keys["owner"]);
        await browser.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");

        // The dashboard does not take it either: it asks to sign in.
        using var page = await browser.GetAsync($"o/{Org.Org}/tasks");
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        Assert.StartsWith("/login", page.Headers.Location!.OriginalString, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignIn_FromAnotherSitesPage_Is403()
    {
        using var anonymous = Host.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/auth/login")
        {
            Content = JsonContent.Create(new { email = Org.OwnerEmail, password = ClarityHost.OwnerPassword }),
        };
        request.Headers.Add("Origin", Evil);
        await anonymous.SendAsync(request).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task EmptyAuthorizationHeader_DoesNotSkipTheWebSocketOriginCheck()
    {
        var status = await UpgradeStatusAsync(authorization: "", cookie: Org.OwnerToken, origin: Evil);
        Assert.Equal(403, status);

        // The same upgrade from this site's page is accepted.
        Assert.Equal(101, await UpgradeStatusAsync(authorization: "", cookie: Org.OwnerToken, origin: Host.BaseAddress.GetLeftPart(UriPartial.Authority)));
    }

    private HttpClient CookieClient(string credential) => Host.CreateCookieClient(credential);

    private async Task<string> NewTaskAsync()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        return (await agent.CreateTaskAsync(Org, new { queue = Work.Unique("csrf"), title = "keep me" })).Str("id");
    }

    private async Task<string> StatusAsync(string task)
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        return (await agent.GetTaskAsync(Org, task)).Str("status");
    }

    /// <summary>The antiforgery token a dashboard page renders, and the cookie that pairs with it.</summary>
    private async Task<(string Token, string Cookie)> AntiforgeryAsync(string session)
    {
        using var browser = CookieClient(session);
        using var page = await browser.GetAsync($"o/{Org.Org}/settings");
        var html = await page.Content.ReadAsStringAsync();
        var token = TokenPattern().Match(html).Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(token), "The settings page renders an antiforgery token.");
        var cookie = page.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("clarity_csrf=", StringComparison.Ordinal)).Split(';')[0];
        return (WebUtility.HtmlDecode(token), cookie);
    }

    [GeneratedRegex("<input[^>]*name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex TokenPattern();

    /// <summary>Sends a raw WebSocket upgrade request (so that an empty header goes out as it is) and returns the status code.</summary>
    private async Task<int> UpgradeStatusAsync(string authorization, string cookie, string origin)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(Host.BaseAddress.Host, Host.BaseAddress.Port);
        await using var stream = tcp.GetStream();
        var request =
            $"GET /api/v1/orgs/{Org.Org}/stream HTTP/1.1\r\nHost: {Host.BaseAddress.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            $"Sec-WebSocket-Key: {Convert.ToBase64String(Guid.NewGuid().ToByteArray())}\r\nSec-WebSocket-Version: 13\r\n" +
            $"Authorization: {authorization}\r\nCookie: clarity_session={cookie}\r\nOrigin: {origin}\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        var buffer = new byte[1024];
        var read = await stream.ReadAsync(buffer);
        var statusLine = Encoding.ASCII.GetString(buffer, 0, read).Split("\r\n")[0];
        return int.Parse(statusLine.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }
}

public sealed class SqliteCookieSecurityTests(SqliteHostFixture fixture) : CookieSecurityTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresCookieSecurityTests(PostgresHostFixture fixture) : CookieSecurityTests(fixture), IClassFixture<PostgresHostFixture>;
