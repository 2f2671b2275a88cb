using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Identity;

public abstract class IdentityTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    private const string Password = ClarityHost.MemberPassword;

    [Fact]
    public async Task Setup_WorksOnce_ThenAnswers409()
    {
        using var anonymous = Host.CreateClient();
        var status = await anonymous.GetAsync("api/v1/setup").ExpectAsync(HttpStatusCode.OK);
        Assert.False(status.GetProperty("required").GetBoolean());

        await anonymous.PostAsJsonAsync("api/v1/setup", new { org = Work.Unique("second"), email = "intruder@example.com", password = Password })
            .ExpectProblemAsync(HttpStatusCode.Conflict, "setup-done");

        // The first setup's owner is still the only way in.
        await anonymous.PostAsJsonAsync("api/v1/auth/login", new { email = "intruder@example.com", password = Password })
            .ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task Login_WithWrongPasswordOrUnknownEmail_Answers401()
    {
        using var anonymous = Host.CreateClient();
        await anonymous.PostAsJsonAsync("api/v1/auth/login", new { email = Org.OwnerEmail, password = "not-the-password" })
            .ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        await anonymous.PostAsJsonAsync("api/v1/auth/login", new { email = "nobody@example.com", password = ClarityHost.OwnerPassword })
            .ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        await anonymous.PostAsJsonAsync("api/v1/auth/login", new { email = Org.OwnerEmail, password = ClarityHost.OwnerPassword })
            .ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Me_ListsTheOrgsTheUserBelongsTo()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var slug = Work.Unique("org");
        await owner.PostAsJsonAsync("api/v1/orgs", new { slug, name = "Another" }).ExpectAsync(HttpStatusCode.Created);

        var me = await owner.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(Org.OwnerEmail, me.GetProperty("user").Str("email"));
        var orgs = me.GetProperty("orgs").EnumerateArray().ToDictionary(o => o.Str("slug"), o => o.Str("role"));
        Assert.Equal("owner", orgs["acme"]);
        Assert.Equal("owner", orgs[slug]);

        // An API key sees exactly its own org, with the key's role.
        using var key = Host.CreateClient(Org.Keys["viewer"]);
        var keyMe = await key.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
        var only = Assert.Single(keyMe.GetProperty("orgs").EnumerateArray());
        Assert.Equal(("acme", "viewer"), (only.Str("slug"), only.Str("role")));
    }

    [Fact]
    public async Task CreateOrg_WhenSlugIsTaken_Answers409()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        await owner.PostAsJsonAsync("api/v1/orgs", new { slug = "acme", name = "Copy" }).ExpectProblemAsync(HttpStatusCode.Conflict, "slug-taken");
        await owner.PostAsJsonAsync("api/v1/orgs", new { slug = "Not A Slug", name = "x" }).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
    }

    [Fact]
    public async Task Admin_CannotGrantOwner_Answers403()
    {
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        await admin.PostAsJsonAsync(Org.Api("invitations"), new { email = Work.Unique("x") + "@example.com", role = "owner" })
            .ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await admin.PostAsJsonAsync(Org.Api("api-keys"), new { name = "escalate", role = "owner" })
            .ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");

        // Nor may an admin demote or remove an owner.
        using var owner = Host.CreateClient(Org.OwnerToken);
        var ownerId = (await owner.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK)).GetProperty("user").Str("id");
        await admin.PutAsJsonAsync(Org.Api($"members/{ownerId}"), new { role = "member" }).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await admin.DeleteAsync(Org.Api($"members/{ownerId}")).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");

        // What an admin may grant still works.
        await admin.PostAsJsonAsync(Org.Api("api-keys"), new { name = "fine", role = "admin" }).ExpectAsync(HttpStatusCode.Created);
    }

    [Fact]
    public async Task Member_CannotManageMembersOrKeys_Answers403()
    {
        using var member = Host.CreateClient(Org.MemberKey);
        await member.GetAsync(Org.Api("members")).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await member.PostAsJsonAsync(Org.Api("api-keys"), new { name = "k", role = "viewer" }).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task RemoveOrDemote_TheLastOwner_Answers409()
    {
        var slug = await NewOrgAsync();
        using var owner = Host.CreateClient(Org.OwnerToken);
        var ownerId = (await owner.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK)).GetProperty("user").Str("id");

        await owner.DeleteAsync($"api/v1/orgs/{slug}/members/{ownerId}").ExpectProblemAsync(HttpStatusCode.Conflict, "last-owner");
        await owner.PutAsJsonAsync($"api/v1/orgs/{slug}/members/{ownerId}", new { role = "admin" }).ExpectProblemAsync(HttpStatusCode.Conflict, "last-owner");

        // With a second owner, the first may be removed.
        var coOwner = await Host.AddPersonAsync(SessionOf(slug), "owner");
        await owner.DeleteAsync($"api/v1/orgs/{slug}/members/{ownerId}").ExpectAsync(HttpStatusCode.OK);
        using var signedIn = Host.CreateClient(coOwner.Token);
        var members = await signedIn.GetAsync($"api/v1/orgs/{slug}/members").ExpectAsync(HttpStatusCode.OK);
        var left = Assert.Single(members.GetProperty("items").EnumerateArray());
        Assert.Equal((coOwner.Email, "owner"), (left.Str("email"), left.Str("role")));
    }

    [Fact]
    public async Task ApiKey_SecretIsShownOnce_ListShowsOnlyThePrefix()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var created = await owner.PostAsJsonAsync(Org.Api("api-keys"), new { name = "ci", role = "member" }).ExpectAsync(HttpStatusCode.Created);
        var secret = created.Str("secret");
        var prefix = created.Str("prefix");
        Assert.StartsWith("clk_", secret, StringComparison.Ordinal);
        Assert.StartsWith(prefix, secret, StringComparison.Ordinal);
        Assert.True(prefix.Length < secret.Length);

        using var response = await owner.GetAsync(Org.Api("api-keys"));
        var raw = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain(secret, raw, StringComparison.Ordinal);
        var listed = JsonDocument.Parse(raw).RootElement.GetProperty("items").EnumerateArray().Single(k => k.Str("id") == created.Str("id"));
        Assert.Equal(prefix, listed.Str("prefix"));
        Assert.False(listed.TryGetProperty("secret", out _));
    }

    [Fact]
    public async Task ApiKey_WhenRevoked_IsRefusedOnTheVeryNextRequest()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var created = await owner.PostAsJsonAsync(Org.Api("api-keys"), new { name = "short-lived", role = "member" }).ExpectAsync(HttpStatusCode.Created);
        using var key = Host.CreateClient(created.Str("secret"));
        await key.GetAsync(Org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);

        await owner.DeleteAsync(Org.Api($"api-keys/{created.Str("id")}")).ExpectAsync(HttpStatusCode.NoContent);

        await key.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        var listed = (await owner.GetAsync(Org.Api("api-keys")).ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray().Single(k => k.Str("id") == created.Str("id"));
        Assert.False(listed.IsNull("revokedAt"));
    }

    [Fact]
    public async Task RevokeApiKey_OfAnotherOrg_Answers404AndTheKeyKeepsWorking()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var theirs = await owner.PostAsJsonAsync(fixture.OtherOrg.Api("api-keys"), new { name = "theirs", role = "member" }).ExpectAsync(HttpStatusCode.Created);

        await owner.DeleteAsync(Org.Api($"api-keys/{theirs.Str("id")}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        using var key = Host.CreateClient(theirs.Str("secret"));
        await key.GetAsync(fixture.OtherOrg.Api("tasks")).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task AnotherOrg_IsNotFound_ForAKeyOfThisOrg()
    {
        using var admin = Host.CreateClient(Org.Keys["owner"]);
        await admin.GetAsync($"api/v1/orgs/{fixture.OtherOrg.Org}").ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await admin.GetAsync("api/v1/orgs/no-such-org").ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await admin.GetAsync(Org.Api("tasks").Replace("acme", fixture.OtherOrg.Org, StringComparison.Ordinal)).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    private async Task<string> NewOrgAsync()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var slug = Work.Unique("org");
        await owner.PostAsJsonAsync("api/v1/orgs", new { slug, name = slug }).ExpectAsync(HttpStatusCode.Created);
        return slug;
    }

    private OrgSession SessionOf(string slug) => Org with { Org = slug };
}

public sealed class SqliteIdentityTests(SqliteHostFixture fixture) : IdentityTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresIdentityTests(PostgresHostFixture fixture) : IdentityTests(fixture), IClassFixture<PostgresHostFixture>;
