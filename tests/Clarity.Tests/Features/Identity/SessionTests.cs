using System.Net;
using System.Net.Http.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Identity;

/// <summary>
/// Sessions are server-side: signing out ends the token at once however long its signature would last, a user sees
/// where they are signed in and can end any one session or all of them.
/// </summary>
public abstract class SessionTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task Logout_EndsTheToken_AtOnce()
    {
        var person = await Host.AddPersonAsync(Org, "member");
        using var client = Host.CreateClient(person.Token);
        await client.GetAsync(Org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);

        await client.PostAsync("api/v1/auth/logout", null).ExpectAsync(HttpStatusCode.NoContent);

        var problem = await client.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Contains("session has ended", problem.Str("detail"), StringComparison.Ordinal);
        await client.GetAsync("api/v1/me").ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task LogoutWithTheCookie_EndsTheSession_ForTheDashboardToo()
    {
        var person = await Host.AddPersonAsync(Org, "member");
        using var browser = Host.CreateCookieClient(person.Token);
        using (var page = await browser.GetAsync($"o/{Org.Org}/tasks"))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        }

        await browser.PostAsync("api/v1/auth/logout", null).ExpectAsync(HttpStatusCode.NoContent);

        using var after = await browser.GetAsync($"o/{Org.Org}/tasks");
        Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
        Assert.StartsWith("/login", after.Headers.Location!.OriginalString, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SessionList_ShowsEachSignIn_AndMarksTheCurrentOne()
    {
        var person = await Host.AddPersonAsync(Org, "member");
        var second = await Host.LoginAsync(person.Email);
        using var client = Host.CreateClient(second);
        client.DefaultRequestHeaders.UserAgent.ParseAdd("clarity-tests/1.0");

        var sessions = (await client.GetAsync("api/v1/me/sessions").ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(2, sessions.Count);
        Assert.Single(sessions, s => s.GetProperty("current").GetBoolean());
        Assert.All(sessions, s => Assert.False(s.IsNull("expiresAt")));
    }

    [Fact]
    public async Task RevokingOneSession_EndsOnlyThatOne()
    {
        var person = await Host.AddPersonAsync(Org, "member");
        var laptop = await Host.LoginAsync(person.Email);
        using var phone = Host.CreateClient(person.Token);
        using var fromLaptop = Host.CreateClient(laptop);
        var phoneSession = (await phone.GetAsync("api/v1/me/sessions").ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray()
            .Single(s => s.GetProperty("current").GetBoolean()).Str("id");

        await fromLaptop.DeleteAsync($"api/v1/me/sessions/{phoneSession}").ExpectAsync(HttpStatusCode.NoContent);

        await phone.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        await fromLaptop.GetAsync(Org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);
        await fromLaptop.DeleteAsync($"api/v1/me/sessions/{phoneSession}").ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task AnotherUsersSession_CannotBeRevoked()
    {
        var victim = await Host.AddPersonAsync(Org, "member");
        var attacker = await Host.AddPersonAsync(Org, "admin");
        using var victimClient = Host.CreateClient(victim.Token);
        var victimSession = (await victimClient.GetAsync("api/v1/me/sessions").ExpectAsync(HttpStatusCode.OK)).GetProperty("items")[0].Str("id");

        using var attackerClient = Host.CreateClient(attacker.Token);
        await attackerClient.DeleteAsync($"api/v1/me/sessions/{victimSession}").ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await victimClient.GetAsync(Org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task SignOutEverywhere_EndsEverySession_OrAllButThisOne()
    {
        var person = await Host.AddPersonAsync(Org, "member");
        var tokens = new[] { person.Token, await Host.LoginAsync(person.Email), await Host.LoginAsync(person.Email) };
        using var keeper = Host.CreateClient(tokens[0]);

        var kept = await keeper.DeleteAsync("api/v1/me/sessions?keepCurrent=true").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(2, kept.Int("revoked"));
        await keeper.GetAsync(Org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);
        foreach (var token in tokens[1..])
        {
            using var other = Host.CreateClient(token);
            await other.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        }

        var all = await keeper.DeleteAsync("api/v1/me/sessions").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(1, all.Int("revoked"));
        await keeper.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");

        // Signing in again works.
        using var fresh = Host.CreateClient(await Host.LoginAsync(person.Email));
        await fresh.GetAsync(Org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task SessionRoutes_AreForPeople_NotApiKeys()
    {
        using var key = Host.CreateClient(Org.Keys["owner"]);
        await key.GetAsync("api/v1/me/sessions").ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await key.DeleteAsync("api/v1/me/sessions").ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
    }
}

public sealed class SqliteSessionTests(SqliteHostFixture fixture) : SessionTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresSessionTests(PostgresHostFixture fixture) : SessionTests(fixture), IClassFixture<PostgresHostFixture>;

/// <summary>On PostgreSQL several nodes share the database: signing out on one node ends the token on the others at once.</summary>
public sealed class SessionAcrossNodesTests
{
    [Fact]
    public async Task Logout_OnOneNode_EndsTheToken_OnAnother()
    {
        await using var first = await ClarityHost.StartAsync(Backend.Postgres);
        var org = await first.SetupAsync("acme");
        await using var second = await ClarityHost.StartNodeAsync(first);
        var person = await first.AddPersonAsync(org, "member");
        using var onSecond = second.CreateClient(person.Token);
        await onSecond.GetAsync(org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);

        using var onFirst = first.CreateClient(person.Token);
        await onFirst.PostAsync("api/v1/auth/logout", null).ExpectAsync(HttpStatusCode.NoContent);

        // The second node had the session cached; the revocation reaches it over NOTIFY. Poll generously, never time.
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (true)
        {
            using var response = await onSecond.GetAsync(org.Api("tasks"));
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                break;
            }

            Assert.True(DateTimeOffset.UtcNow < deadline, "The second node still accepts the signed-out token.");
            await Task.Delay(50);
        }
    }
}
