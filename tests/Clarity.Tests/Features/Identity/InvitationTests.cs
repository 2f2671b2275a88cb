using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Identity;

/// <summary>
/// Joining an org happens by invitation: adding an email answers the same whether or not it has an account, nobody is
/// added until they accept, and the link creates the account of someone who has none.
/// </summary>
public abstract class InvitationTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task Invite_AnswersTheSame_WhetherOrNotTheEmailHasAnAccount_AndAddsNobody()
    {
        var existing = await Host.AddPersonAsync(fixture.OtherOrg, "viewer");
        var unknown = Work.Unique("nobody") + "@example.com";

        var toExisting = await Host.InviteAsync(Org, existing.Email, "member");
        var toUnknown = await Host.InviteAsync(Org, unknown, "member");

        Assert.Equal(Shape(toExisting), Shape(toUnknown));
        Assert.Equal("pending", toExisting.Str("status"));
        Assert.Equal("pending", toUnknown.Str("status"));

        // The person with an account is not a member until they accept; they see the invitation.
        using var person = Host.CreateClient(existing.Token);
        var me = await person.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(me.GetProperty("orgs").EnumerateArray(), o => o.Str("slug") == Org.Org);
        var pending = Assert.Single(me.GetProperty("invitations").EnumerateArray());
        Assert.Equal((toExisting.Str("id"), Org.Org, "member"), (pending.Str("id"), pending.Str("org"), pending.Str("role")));
        await person.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Accept_MakesTheInviteeAMember_WithTheInvitedRole()
    {
        var person = await Host.AddPersonAsync(fixture.OtherOrg, "viewer");
        var invitation = await Host.InviteAsync(Org, person.Email, "member");
        using var client = Host.CreateClient(person.Token);

        var joined = await client.PostAsync($"api/v1/invitations/{invitation.Str("id")}/accept", null).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal((Org.Org, "member"), (joined.Str("slug"), joined.Str("role")));

        await client.GetAsync(Org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);
        using var owner = Host.CreateClient(Org.OwnerToken);
        var listed = (await owner.GetAsync(Org.Api("invitations?status=accepted")).ExpectAsync(HttpStatusCode.OK)).GetProperty("items");
        Assert.Contains(listed.EnumerateArray(), i => i.Str("id") == invitation.Str("id"));

        // Answered once: a second answer finds no open invitation.
        await client.PostAsync($"api/v1/invitations/{invitation.Str("id")}/accept", null).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Decline_LeavesTheInviteeOutside()
    {
        var person = await Host.AddPersonAsync(fixture.OtherOrg, "viewer");
        var invitation = await Host.InviteAsync(Org, person.Email, "admin");
        using var client = Host.CreateClient(person.Token);

        await client.PostAsync($"api/v1/invitations/{invitation.Str("id")}/decline", null).ExpectAsync(HttpStatusCode.NoContent);

        await client.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        var me = await client.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(me.GetProperty("invitations").EnumerateArray());
        await client.PostAsync($"api/v1/invitations/{invitation.Str("id")}/accept", null).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task SomeoneElsesInvitation_IsNotFound_ForAcceptOrDecline()
    {
        var invitee = Work.Unique("invitee") + "@example.com";
        var invitation = await Host.InviteAsync(Org, invitee, "owner");
        var intruder = await Host.AddPersonAsync(fixture.OtherOrg, "viewer");
        using var client = Host.CreateClient(intruder.Token);

        await client.PostAsync($"api/v1/invitations/{invitation.Str("id")}/accept", null).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await client.PostAsync($"api/v1/invitations/{invitation.Str("id")}/decline", null).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await client.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Link_CreatesTheAccountOfSomeoneWithout_AndSignsThemIn()
    {
        var email = Work.Unique("fresh") + "@example.com";
        var invitation = await Host.InviteAsync(Org, email, "member");
        using var anonymous = Host.CreateClient();

        using var response = await anonymous.PostAsJsonAsync("api/v1/invitations/accept",
            new { token = ClarityHost.TokenOf(invitation), password = "fresh-password-123", displayName = "Fresh Face" });
        var accepted = await Task.FromResult(response).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal((Org.Org, "member"), (accepted.GetProperty("org").Str("slug"), accepted.GetProperty("org").Str("role")));
        Assert.Contains(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith("clarity_session=", StringComparison.Ordinal));

        using var member = Host.CreateClient(accepted.Str("token"));
        var me = await member.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal((email, "Fresh Face"), (me.GetProperty("user").Str("email"), me.GetProperty("user").Str("displayName")));
        await member.GetAsync(Org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);
        Assert.False(string.IsNullOrEmpty(await Host.LoginAsync(email, "fresh-password-123")));

        // The link works once.
        await anonymous.PostAsJsonAsync("api/v1/invitations/accept", new { token = ClarityHost.TokenOf(invitation), password = "another-password-123" })
            .ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Link_ForAnEmailThatHasAnAccount_Answers409_AndChangesNothing()
    {
        var person = await Host.AddPersonAsync(fixture.OtherOrg, "viewer");
        var invitation = await Host.InviteAsync(Org, person.Email, "member");
        using var anonymous = Host.CreateClient();

        await anonymous.PostAsJsonAsync("api/v1/invitations/accept", new { token = ClarityHost.TokenOf(invitation), password = "taken-over-123" })
            .ExpectProblemAsync(HttpStatusCode.Conflict, "account-exists");

        // The account keeps its password, and the invitation stays open for a signed-in accept.
        await anonymous.PostAsJsonAsync("api/v1/auth/login", new { email = person.Email, password = "taken-over-123" })
            .ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        using var client = Host.CreateClient(person.Token);
        await client.PostAsync($"api/v1/invitations/{invitation.Str("id")}/accept", null).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task ExpiredInvitation_CannotBeAccepted_AndNoLongerBlocksANewOne()
    {
        var email = Work.Unique("late") + "@example.com";
        var invitation = await Host.InviteAsync(Org, email, "member");
        await ExpireAsync(invitation.Str("id"));
        using var anonymous = Host.CreateClient();

        await anonymous.PostAsJsonAsync("api/v1/invitations/accept", new { token = ClarityHost.TokenOf(invitation), password = "late-password-123" })
            .ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        using var owner = Host.CreateClient(Org.OwnerToken);
        var expired = (await owner.GetAsync(Org.Api("invitations?status=expired")).ExpectAsync(HttpStatusCode.OK)).GetProperty("items");
        Assert.Contains(expired.EnumerateArray(), i => i.Str("id") == invitation.Str("id") && i.Str("status") == "expired");

        var again = await Host.InviteAsync(Org, email, "member");
        Assert.NotEqual(invitation.Str("id"), again.Str("id"));
    }

    [Fact]
    public async Task Inviting_AMember_OrAnEmailWithAnOpenInvitation_Answers409()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        await owner.PostAsJsonAsync(Org.Api("invitations"), new { email = Org.OwnerEmail, role = "member" }).ExpectProblemAsync(HttpStatusCode.Conflict, "already-member");

        var email = Work.Unique("twice") + "@example.com";
        var first = await Host.InviteAsync(Org, email, "member");
        await owner.PostAsJsonAsync(Org.Api("invitations"), new { email, role = "admin" }).ExpectProblemAsync(HttpStatusCode.Conflict, "already-invited");

        // Withdrawn, its link is dead and a new invitation can go out.
        await owner.DeleteAsync(Org.Api($"invitations/{first.Str("id")}")).ExpectAsync(HttpStatusCode.NoContent);
        using var anonymous = Host.CreateClient();
        await anonymous.PostAsJsonAsync("api/v1/invitations/accept", new { token = ClarityHost.TokenOf(first), password = "twice-password-123" })
            .ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await owner.DeleteAsync(Org.Api($"invitations/{first.Str("id")}")).ExpectProblemAsync(HttpStatusCode.Conflict, "not-pending");
        await Host.InviteAsync(Org, email, "admin");
    }

    [Fact]
    public async Task Admin_CannotInviteAsOwner_NorWithdrawAnInvitationToOwner()
    {
        var admin = await Host.AddPersonAsync(Org, "admin");
        using var client = Host.CreateClient(admin.Token);
        await client.PostAsJsonAsync(Org.Api("invitations"), new { email = Work.Unique("boss") + "@example.com", role = "owner" })
            .ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");

        var toOwner = await Host.InviteAsync(Org, Work.Unique("boss") + "@example.com", "owner");
        await client.DeleteAsync(Org.Api($"invitations/{toOwner.Str("id")}")).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        var toMember = await client.PostAsJsonAsync(Org.Api("invitations"), new { email = Work.Unique("dev") + "@example.com", role = "member" })
            .ExpectAsync(HttpStatusCode.Created);
        await client.DeleteAsync(Org.Api($"invitations/{toMember.Str("id")}")).ExpectAsync(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task InvitationsOfAnotherOrg_AreNotFound()
    {
        var theirs = await Host.InviteAsync(fixture.OtherOrg, Work.Unique("theirs") + "@example.com", "member");
        using var owner = Host.CreateClient(Org.OwnerToken);
        await owner.DeleteAsync(Org.Api($"invitations/{theirs.Str("id")}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        var ours = (await owner.GetAsync(Org.Api("invitations")).ExpectAsync(HttpStatusCode.OK)).GetProperty("items");
        Assert.DoesNotContain(ours.EnumerateArray(), i => i.Str("id") == theirs.Str("id"));
    }

    [Fact]
    public async Task InvitationList_IsPaged_AndNeverShowsTheLink()
    {
        var slug = Work.Unique("paged");
        using var owner = Host.CreateClient(Org.OwnerToken);
        await owner.PostAsJsonAsync("api/v1/orgs", new { slug, name = slug }).ExpectAsync(HttpStatusCode.Created);
        var org = Org with { Org = slug };
        for (var i = 0; i < 5; i++)
        {
            await Host.InviteAsync(org, $"p{i}-{Work.Unique("x")}@example.com", "viewer");
        }

        var seen = new HashSet<string>();
        string? cursor = null;
        do
        {
            using var response = await owner.GetAsync(org.Api("invitations?limit=2" + (cursor is null ? "" : "&cursor=" + cursor)));
            var raw = await response.Content.ReadAsStringAsync();
            Assert.DoesNotContain("acceptUrl", raw, StringComparison.Ordinal);
            var page = JsonDocument.Parse(raw).RootElement;
            foreach (var item in page.GetProperty("items").EnumerateArray())
            {
                Assert.True(seen.Add(item.Str("id")));
            }

            cursor = page.OptStr("nextCursor");
        }
        while (cursor is not null);

        Assert.Equal(5, seen.Count);
    }

    [Fact]
    public async Task Leave_EndsTheMembershipAndRevokesTheirKeys_ButNotForTheLastOwner()
    {
        var admin = await Host.AddPersonAsync(Org, "admin");
        using var client = Host.CreateClient(admin.Token);
        var key = await client.PostAsJsonAsync(Org.Api("api-keys"), new { name = "mine", role = "admin" }).ExpectAsync(HttpStatusCode.Created);

        var left = await client.DeleteAsync($"api/v1/me/orgs/{Org.Org}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(key.Str("id"), Assert.Single(left.GetProperty("revokedApiKeys").EnumerateArray()).Str("id"));
        await client.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        using var keyClient = Host.CreateClient(key.Str("secret"));
        await keyClient.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        await client.DeleteAsync($"api/v1/me/orgs/{Org.Org}").ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");

        using var owner = Host.CreateClient(Org.OwnerToken);
        await owner.DeleteAsync($"api/v1/me/orgs/{fixture.OtherOrg.Org}").ExpectProblemAsync(HttpStatusCode.Conflict, "last-owner");
    }

    /// <summary>Moves the invitation's expiry into the past, as time would.</summary>
    private Task ExpireAsync(string id) =>
        Host.Services.GetRequiredService<Database>().WriteAsync((c, t) =>
            c.ExecuteAsync("UPDATE invitations SET expires_at = @past WHERE id = @id", new { id = Guid.Parse(id), past = DbTime.ToDb(DateTimeOffset.UtcNow.AddMinutes(-1)) }, t));

    /// <summary>The property names and kinds of a JSON object, recursively: what an answer reveals by its shape.</summary>
    private static string Shape(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "{" + string.Join(",", e.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => p.Name + ":" + Shape(p.Value))) + "}",
        JsonValueKind.Array => "[" + string.Join(",", e.EnumerateArray().Select(Shape)) + "]",
        _ => e.ValueKind.ToString(),
    };
}

public sealed class SqliteInvitationTests(SqliteHostFixture fixture) : InvitationTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresInvitationTests(PostgresHostFixture fixture) : InvitationTests(fixture), IClassFixture<PostgresHostFixture>;
