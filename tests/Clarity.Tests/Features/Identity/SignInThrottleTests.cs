using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Identity;

/// <summary>
/// The sign-in and setup throttle: per account and per client address, a growing delay after the free failures,
/// kept in the database. The host trusts 127.0.0.1 as a proxy, so each test speaks from its own client address
/// through X-Forwarded-For and the tests do not count against each other.
/// </summary>
public abstract class SignInThrottleTests(SignInThrottleFixture fixture)
{
    private const string MemberPassword = "member-password-123";

    private ClarityHost Host => fixture.Host;

    private static string NewAddress() => $"10.{Random.Shared.Next(256)}.{Random.Shared.Next(256)}.{Random.Shared.Next(1, 255)}";

    private HttpClient ClientFrom(string address)
    {
        var client = Host.CreateClient();
        client.DefaultRequestHeaders.Add("X-Forwarded-For", address);
        return client;
    }

    private async Task<string> NewMemberAsync()
    {
        var email = Work.Unique("member") + "@acme.example";
        await Host.AddPersonAsync(fixture.Org, "member", email);
        return email;
    }

    private static async Task<(HttpStatusCode Status, string? Type, string? Detail, TimeSpan? RetryAfter)> LoginAsync(HttpClient client, string email, string password)
    {
        using var response = await client.PostAsJsonAsync("api/v1/auth/login", new { email, password });
        var body = await response.Content.ReadAsStringAsync();
        var json = body.Length > 0 ? JsonDocument.Parse(body).RootElement : default;
        return (response.StatusCode,
            json.ValueKind == JsonValueKind.Object && json.TryGetProperty("type", out var type) ? type.GetString() : null,
            json.ValueKind == JsonValueKind.Object && json.TryGetProperty("detail", out var detail) ? detail.GetString() : null,
            response.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task Login_AfterTheFreeFailures_Answers429WithRetryAfter_EvenForTheRightPassword()
    {
        var email = await NewMemberAsync();
        using var client = ClientFrom(NewAddress());
        // The free failures, and one more that starts the delay.
        for (var i = 0; i <= SignInThrottleFixture.FreePerAccount; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(client, email, "not-the-password")).Status);
        }

        var refused = await LoginAsync(client, email, MemberPassword);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.Status);
        Assert.Equal("urn:clarity:problem:rate-limited", refused.Type);
        Assert.Equal("Too many attempts; try again in 5 minutes.", refused.Detail);
        Assert.NotNull(refused.RetryAfter);
        Assert.InRange(refused.RetryAfter.Value.TotalSeconds, 250, 300);
    }

    [Fact]
    public async Task UnknownEmail_IsThrottledExactlyLikeAKnownOne()
    {
        var known = await NewMemberAsync();
        var unknown = Work.Unique("nobody") + "@acme.example";
        async Task<List<(HttpStatusCode, string?, string?)>> AttemptsAsync(string email)
        {
            using var client = ClientFrom(NewAddress());
            var answers = new List<(HttpStatusCode, string?, string?)>();
            for (var i = 0; i < SignInThrottleFixture.FreePerAccount + 3; i++)
            {
                var (status, type, detail, _) = await LoginAsync(client, email, "not-the-password");
                answers.Add((status, type, detail));
            }

            return answers;
        }

        var forKnown = await AttemptsAsync(known);
        var forUnknown = await AttemptsAsync(unknown);
        Assert.Equal(forKnown, forUnknown);
        Assert.Equal(HttpStatusCode.TooManyRequests, forUnknown[^1].Item1);
    }

    [Fact]
    public async Task Login_ThatSucceeds_ForgetsTheAccountsFailures()
    {
        var email = await NewMemberAsync();
        using var client = ClientFrom(NewAddress());
        for (var i = 0; i < SignInThrottleFixture.FreePerAccount; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(client, email, "not-the-password")).Status);
        }

        Assert.Equal(HttpStatusCode.OK, (await LoginAsync(client, email, MemberPassword)).Status);
        for (var i = 0; i <= SignInThrottleFixture.FreePerAccount; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(client, email, "not-the-password")).Status);
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, (await LoginAsync(client, email, "not-the-password")).Status);
    }

    [Fact]
    public async Task ManyAccountsFromOneAddress_AreThrottledByTheAddress_AndOtherAddressesAreNot()
    {
        var address = NewAddress();
        using var client = ClientFrom(address);
        for (var i = 0; i <= SignInThrottleFixture.FreePerAddress; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(client, Work.Unique("spray") + "@acme.example", "not-the-password")).Status);
        }

        var refused = await LoginAsync(client, Work.Unique("spray") + "@acme.example", "not-the-password");
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.Status);

        // Someone else, behind the same trusted proxy, is not held up.
        var email = await NewMemberAsync();
        using var other = ClientFrom(NewAddress());
        Assert.Equal(HttpStatusCode.OK, (await LoginAsync(other, email, MemberPassword)).Status);
    }

    [Fact]
    public async Task Setup_AfterItIsDone_Answers409BeforeHashing_SoItNeitherCountsNorWaits()
    {
        // A finished setup is answered from one cheap read, before any password hash or throttle count: repeating it
        // costs the server next to nothing, and the address is not held up for it.
        var address = NewAddress();
        using var client = ClientFrom(address);
        var body = new { org = Work.Unique("again"), email = "intruder@example.com", password = "intruder-password-1" };
        for (var i = 0; i <= SignInThrottleFixture.FreePerAddress + 2; i++)
        {
            await client.PostAsJsonAsync("api/v1/setup", body).ExpectProblemAsync(HttpStatusCode.Conflict, "setup-done");
        }

        var email = await NewMemberAsync();
        Assert.Equal(HttpStatusCode.OK, (await LoginAsync(client, email, MemberPassword)).Status);
    }

    [Fact]
    public async Task ConcurrentWrongPasswords_OnOneAccount_AreEachCountedOnce()
    {
        var email = await NewMemberAsync();
        const int Attempts = 12;
        var answers = await Task.WhenAll(Enumerable.Range(0, Attempts).Select(async _ =>
        {
            // Each from its own address, so that only the account's count can refuse them.
            using var client = ClientFrom(NewAddress());
            return (await LoginAsync(client, email, "not-the-password")).Status;
        }));

        // Exactly the free failures and the one that starts the delay get to try a password.
        Assert.Equal(SignInThrottleFixture.FreePerAccount + 1, answers.Count(s => s == HttpStatusCode.Unauthorized));
        Assert.Equal(Attempts - SignInThrottleFixture.FreePerAccount - 1, answers.Count(s => s == HttpStatusCode.TooManyRequests));
    }

    [Fact]
    public async Task DashboardSignIn_WhenThrottled_ShowsWhenToTryAgain()
    {
        var email = await NewMemberAsync();
        var address = NewAddress();
        using (var api = ClientFrom(address))
        {
            for (var i = 0; i <= SignInThrottleFixture.FreePerAccount; i++)
            {
                await LoginAsync(api, email, "not-the-password");
            }
        }

        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() }) { BaseAddress = Host.BaseAddress };
        browser.DefaultRequestHeaders.Add("X-Forwarded-For", address);
        browser.DefaultRequestHeaders.Accept.ParseAdd("text/html");
        var page = await browser.GetStringAsync("login");
        const string marker = "name=\"__RequestVerificationToken\" value=\"";
        var start = page.IndexOf(marker, StringComparison.Ordinal) + marker.Length;
        var token = page[start..page.IndexOf('"', start)];
        using var signIn = await browser.PostAsync("login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = token,
            ["_handler"] = "login",
            ["Input.Email"] = email,
            ["Input.Password"] = MemberPassword,
        }));

        var html = await signIn.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, signIn.StatusCode);
        Assert.Contains("Too many attempts; try again in 5 minutes.", html, StringComparison.Ordinal);
        Assert.DoesNotContain("clarity_session", string.Join(";", signIn.Headers.TryGetValues("Set-Cookie", out var cookies) ? cookies : []), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Failures_SurviveARestart()
    {
        var email = await NewMemberAsync();
        var address = NewAddress();
        using (var client = ClientFrom(address))
        {
            for (var i = 0; i <= SignInThrottleFixture.FreePerAccount; i++)
            {
                await LoginAsync(client, email, "not-the-password");
            }
        }

        await Host.RestartAsync();
        using var after = ClientFrom(NewAddress());
        Assert.Equal(HttpStatusCode.TooManyRequests, (await LoginAsync(after, email, MemberPassword)).Status);
    }

    [Fact]
    public async Task ForwardedFor_FromAnUntrustedPeer_IsIgnored()
    {
        // This host trusts only a proxy that is not 127.0.0.1: the test's X-Forwarded-For changes nothing.
        await using var host = await ClarityHost.StartAsync(fixture.Backend, new Dictionary<string, string?>
        {
            ["Clarity:Http:TrustedProxies:0"] = "192.0.2.1",
            ["Clarity:RateLimits:SignIn:FreeFailuresPerAddress"] = "2",
            ["Clarity:RateLimits:SignIn:BaseDelay"] = "00:05:00",
        });
        var answers = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            using var client = host.CreateClient();
            client.DefaultRequestHeaders.Add("X-Forwarded-For", NewAddress());
            answers.Add((await LoginAsync(client, Work.Unique("nobody") + "@acme.example", "not-the-password")).Status);
        }

        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests], answers);
    }
}

/// <summary>3 free failures per account and 6 per address, then 5 minutes' wait; 127.0.0.1 is a trusted proxy.</summary>
public abstract class SignInThrottleFixture(Backend backend) : HostFixture(backend, new Dictionary<string, string?>
{
    ["Clarity:Http:TrustedProxies:0"] = "127.0.0.1",
    ["Clarity:Http:TrustedProxies:1"] = "::1",
    ["Clarity:RateLimits:SignIn:FreeFailuresPerAccount"] = FreePerAccount.ToString(),
    ["Clarity:RateLimits:SignIn:FreeFailuresPerAddress"] = FreePerAddress.ToString(),
    ["Clarity:RateLimits:SignIn:BaseDelay"] = "00:05:00",
    ["Clarity:RateLimits:SignIn:MaxDelay"] = "01:00:00",
    ["Clarity:RateLimits:SignIn:ForgetAfter"] = "02:00:00",
})
{
    public const int FreePerAccount = 3;

    public const int FreePerAddress = 6;
}

public sealed class SqliteSignInThrottleFixture() : SignInThrottleFixture(Backend.Sqlite);

public sealed class PostgresSignInThrottleFixture() : SignInThrottleFixture(Backend.Postgres);

public sealed class SqliteSignInThrottleTests(SqliteSignInThrottleFixture fixture) : SignInThrottleTests(fixture), IClassFixture<SqliteSignInThrottleFixture>;

public sealed class PostgresSignInThrottleTests(PostgresSignInThrottleFixture fixture) : SignInThrottleTests(fixture), IClassFixture<PostgresSignInThrottleFixture>;
