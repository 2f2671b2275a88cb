using System.Net;
using System.Net.Http.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Identity;

/// <summary>
/// Checks followed by writes must hold under concurrency. Each case fires its requests together, several rounds over,
/// and asserts one winner, 409 (or 403) for the rest, and the invariant afterwards. On PostgreSQL these races are
/// real (READ COMMITTED, many connections); on SQLite the single writer serialises them, and the same answers hold.
/// </summary>
public abstract class IdentityRaceTests(HostFixture fixture)
{
    private const int Rounds = 6;

    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task TwoOwnersDemotingEachOther_AtOnce_LeaveTheOrgAnOwner()
    {
        for (var round = 0; round < Rounds; round++)
        {
            var (org, a, b) = await OrgWithTwoOwnersAsync();
            using var asA = Host.CreateClient(a.Token);
            using var asB = Host.CreateClient(b.Token);

            var answers = await Together(
                () => asA.PutAsJsonAsync(org.Api($"members/{b.UserId}"), new { role = "admin" }),
                () => asB.PutAsJsonAsync(org.Api($"members/{a.UserId}"), new { role = "admin" }));

            Assert.Equal(1, answers.Count(s => s == HttpStatusCode.OK));
            Assert.All(answers.Where(s => s != HttpStatusCode.OK), s => Assert.True(s is HttpStatusCode.Conflict or HttpStatusCode.Forbidden, s.ToString()));
            Assert.Equal(1, (await MembersAsync(org)).Count(m => m.Role == "owner"));
        }
    }

    [Fact]
    public async Task TwoOwnersRemovingEachOther_AtOnce_LeaveTheOrgAMember()
    {
        for (var round = 0; round < Rounds; round++)
        {
            var (org, a, b) = await OrgWithTwoOwnersAsync();
            using var asA = Host.CreateClient(a.Token);
            using var asB = Host.CreateClient(b.Token);

            var answers = await Together(
                () => asA.DeleteAsync(org.Api($"members/{b.UserId}")),
                () => asB.DeleteAsync(org.Api($"members/{a.UserId}")));

            Assert.Equal(1, answers.Count(s => s == HttpStatusCode.OK));
            var survivor = answers[0] == HttpStatusCode.OK ? a : b;
            var members = await MembersAsync(org with { OwnerToken = survivor.Token });
            Assert.Equal(survivor.UserId.ToString(), Assert.Single(members).UserId);
            Assert.Equal("owner", members[0].Role);
        }
    }

    [Fact]
    public async Task TwoOwnersLeavingAtOnce_LeaveTheOrgAnOwner()
    {
        for (var round = 0; round < Rounds; round++)
        {
            var (org, a, b) = await OrgWithTwoOwnersAsync();
            using var asA = Host.CreateClient(a.Token);
            using var asB = Host.CreateClient(b.Token);

            var answers = await Together(
                () => asA.DeleteAsync($"api/v1/me/orgs/{org.Org}"),
                () => asB.DeleteAsync($"api/v1/me/orgs/{org.Org}"));

            Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Conflict], answers.Order());
            var stayed = answers[0] == HttpStatusCode.Conflict ? a : b;
            var members = await MembersAsync(org with { OwnerToken = stayed.Token });
            Assert.Equal((stayed.UserId.ToString(), "owner"), Assert.Single(members));
        }
    }

    [Fact]
    public async Task ConcurrentCreates_OfOneOrgSlug_HaveOneWinner()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        for (var round = 0; round < Rounds; round++)
        {
            var slug = Work.Unique("race");
            var answers = await Together(Enumerable.Range(0, 8).Select(_ => (Func<Task<HttpResponseMessage>>)(() =>
                owner.PostAsJsonAsync("api/v1/orgs", new { slug, name = slug }))).ToArray());

            Assert.Equal(1, answers.Count(s => s == HttpStatusCode.Created));
            Assert.All(answers.Where(s => s != HttpStatusCode.Created), s => Assert.Equal(HttpStatusCode.Conflict, s));
        }
    }

    [Fact]
    public async Task ConcurrentInvitations_OfOneEmail_HaveOneWinner()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        for (var round = 0; round < Rounds; round++)
        {
            var email = Work.Unique("twin") + "@example.com";
            var answers = await Together(Enumerable.Range(0, 8).Select(_ => (Func<Task<HttpResponseMessage>>)(() =>
                owner.PostAsJsonAsync(Org.Api("invitations"), new { email, role = "member" }))).ToArray());

            Assert.Equal(1, answers.Count(s => s == HttpStatusCode.Created));
            Assert.All(answers.Where(s => s != HttpStatusCode.Created), s => Assert.Equal(HttpStatusCode.Conflict, s));
            var pending = (await owner.GetAsync(Org.Api("invitations?status=pending&limit=200")).ExpectAsync(HttpStatusCode.OK)).GetProperty("items");
            Assert.Single(pending.EnumerateArray(), i => i.Str("email") == email);
        }
    }

    [Fact]
    public async Task ConcurrentLinkAccepts_ForOneNewEmail_CreateOneAccount()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        for (var round = 0; round < Rounds; round++)
        {
            var email = Work.Unique("dup") + "@example.com";
            var toAcme = await Host.InviteAsync(Org, email, "member");
            var toOther = await Host.InviteAsync(fixture.OtherOrg, email, "viewer");
            using var anonymous = Host.CreateClient();

            var answers = await Together(
                () => anonymous.PostAsJsonAsync("api/v1/invitations/accept", new { token = ClarityHost.TokenOf(toAcme), password = "first-password-1" }),
                () => anonymous.PostAsJsonAsync("api/v1/invitations/accept", new { token = ClarityHost.TokenOf(toOther), password = "second-password-2" }));

            Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Conflict], answers.Order());
            var firstWon = answers[0] == HttpStatusCode.OK;
            var token = await Host.LoginAsync(email, firstWon ? "first-password-1" : "second-password-2");
            using var person = Host.CreateClient(token);
            var me = await person.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
            Assert.Single(me.GetProperty("orgs").EnumerateArray());
            // The loser's invitation is still open, to accept signed in.
            Assert.Single(me.GetProperty("invitations").EnumerateArray());
        }
    }

    private async Task<(OrgSession Org, Person A, Person B)> OrgWithTwoOwnersAsync()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var slug = Work.Unique("pair");
        await owner.PostAsJsonAsync("api/v1/orgs", new { slug, name = slug }).ExpectAsync(HttpStatusCode.Created);
        var org = Org with { Org = slug };
        var a = await Host.AddPersonAsync(org, "owner");
        var b = await Host.AddPersonAsync(org, "owner");
        var ownerId = (await owner.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK)).GetProperty("user").Str("id");
        await owner.DeleteAsync($"api/v1/me/orgs/{slug}").ExpectAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(await MembersAsync(org with { OwnerToken = a.Token }), m => m.UserId == ownerId);
        return (org with { OwnerToken = a.Token }, a, b);
    }

    private async Task<List<(string UserId, string Role)>> MembersAsync(OrgSession org)
    {
        using var client = Host.CreateClient(org.OwnerToken);
        var page = await client.GetAsync(org.Api("members")).ExpectAsync(HttpStatusCode.OK);
        return [.. page.GetProperty("items").EnumerateArray().Select(m => (m.Str("userId"), m.Str("role")))];
    }

    /// <summary>Starts every request at the same moment (after a barrier) and returns their statuses; never a 500.</summary>
    private static async Task<HttpStatusCode[]> Together(params Func<Task<HttpResponseMessage>>[] requests)
    {
        using var gate = new Barrier(requests.Length);
        var running = requests.Select(r => Task.Run(async () =>
        {
            gate.SignalAndWait(TimeSpan.FromSeconds(30));
            using var response = await r();
            var body = await response.Content.ReadAsStringAsync();
            Assert.True((int)response.StatusCode < 500, $"{(int)response.StatusCode}: {body}");
            return response.StatusCode;
        })).ToArray();
        return await Task.WhenAll(running);
    }
}

public sealed class SqliteIdentityRaceTests(SqliteHostFixture fixture) : IdentityRaceTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresIdentityRaceTests(PostgresHostFixture fixture) : IdentityRaceTests(fixture), IClassFixture<PostgresHostFixture>;

/// <summary>First-run setup happens once, however many arrive together; each case on a fresh server.</summary>
public abstract class SetupRaceTests(Backend backend)
{
    [Fact]
    public async Task ConcurrentFirstRunSetups_HaveOneWinner_AndOneOwner()
    {
        // Twelve setups and eleven refused sign-ins from one address: throttling is not what this test is about.
        await using var host = await ClarityHost.StartAsync(backend, RateLimitsOff.With());
        using var anonymous = host.CreateClient();
        using var gate = new Barrier(12);
        var answers = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => Task.Run(async () =>
        {
            gate.SignalAndWait(TimeSpan.FromSeconds(30));
            using var response = await anonymous.PostAsJsonAsync("api/v1/setup", new { org = $"org{i}", email = $"owner{i}@example.com", password = ClarityHost.OwnerPassword });
            return (i, response.StatusCode);
        })));

        var winners = answers.Where(a => a.StatusCode == HttpStatusCode.Created).ToList();
        var winner = Assert.Single(winners).i;
        Assert.All(answers.Where(a => a.i != winner), a => Assert.Equal(HttpStatusCode.Conflict, a.StatusCode));

        // Only the winner can sign in, and it belongs to exactly its own org.
        var token = await host.LoginAsync($"owner{winner}@example.com", ClarityHost.OwnerPassword);
        using var owner = host.CreateClient(token);
        var orgs = (await owner.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK)).GetProperty("orgs").EnumerateArray().Select(o => o.Str("slug")).ToList();
        Assert.Equal([$"org{winner}"], orgs);
        foreach (var (i, _) in answers.Where(a => a.i != winner))
        {
            await anonymous.PostAsJsonAsync("api/v1/auth/login", new { email = $"owner{i}@example.com", password = ClarityHost.OwnerPassword })
                .ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
            await owner.GetAsync($"api/v1/orgs/org{i}").ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        }
    }
}

public sealed class SqliteSetupRaceTests() : SetupRaceTests(Backend.Sqlite);

public sealed class PostgresSetupRaceTests() : SetupRaceTests(Backend.Postgres);
