using System.Net;
using System.Net.Http.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Identity;

/// <summary>
/// A member's power does not outlive their membership: removing a member revokes the API keys they created (and the keys
/// those keys created), lowering their role caps those keys at it, and an admin cannot revoke an owner's keys.
/// </summary>
public abstract class MemberKeyTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task RemovedAdmin_CannotUseTheirKey_ToAddThemselvesBack()
    {
        var admin = await Host.AddPersonAsync(Org, "admin");
        using var asAdmin = Host.CreateClient(admin.Token);
        var key = await asAdmin.PostAsJsonAsync(Org.Api("api-keys"), new { name = "backdoor", role = "admin" }).ExpectAsync(HttpStatusCode.Created);

        using var owner = Host.CreateClient(Org.OwnerToken);
        var removal = await owner.DeleteAsync(Org.Api($"members/{admin.UserId}")).ExpectAsync(HttpStatusCode.OK);

        // The answer says which keys went with them.
        var revoked = Assert.Single(removal.GetProperty("revokedApiKeys").EnumerateArray());
        Assert.Equal((key.Str("id"), "backdoor"), (revoked.Str("id"), revoked.Str("name")));

        using var backdoor = Host.CreateClient(key.Str("secret"));
        await backdoor.PostAsJsonAsync(Org.Api("invitations"), new { email = admin.Email, role = "admin" })
            .ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        await backdoor.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        var listed = (await owner.GetAsync(Org.Api("api-keys")).ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray().Single(k => k.Str("id") == key.Str("id"));
        Assert.False(listed.IsNull("revokedAt"));
    }

    [Fact]
    public async Task KeysMadeByAMembersKey_GoWithTheMember()
    {
        var admin = await Host.AddPersonAsync(Org, "admin");
        using var asAdmin = Host.CreateClient(admin.Token);
        var first = await asAdmin.PostAsJsonAsync(Org.Api("api-keys"), new { name = "parent", role = "admin" }).ExpectAsync(HttpStatusCode.Created);
        using var parent = Host.CreateClient(first.Str("secret"));
        var second = await parent.PostAsJsonAsync(Org.Api("api-keys"), new { name = "child", role = "member" }).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal(admin.UserId.ToString(), second.OptStr("createdBy") ?? (await ListedAsync(second.Str("id"))).Str("createdBy"));

        using var owner = Host.CreateClient(Org.OwnerToken);
        var removal = await owner.DeleteAsync(Org.Api($"members/{admin.UserId}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(
            new[] { first.Str("id"), second.Str("id") }.Order(StringComparer.Ordinal),
            removal.GetProperty("revokedApiKeys").EnumerateArray().Select(k => k.Str("id")).Order(StringComparer.Ordinal));
        using var child = Host.CreateClient(second.Str("secret"));
        await child.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task LoweringARole_CapsTheKeysTheMemberCreated_AtOnce()
    {
        var admin = await Host.AddPersonAsync(Org, "admin");
        using var asAdmin = Host.CreateClient(admin.Token);
        var strong = await asAdmin.PostAsJsonAsync(Org.Api("api-keys"), new { name = "strong", role = "admin" }).ExpectAsync(HttpStatusCode.Created);
        var weak = await asAdmin.PostAsJsonAsync(Org.Api("api-keys"), new { name = "weak", role = "viewer" }).ExpectAsync(HttpStatusCode.Created);
        using var key = Host.CreateClient(strong.Str("secret"));
        await key.GetAsync(Org.Api("members")).ExpectAsync(HttpStatusCode.OK);

        using var owner = Host.CreateClient(Org.OwnerToken);
        var change = await owner.PutAsJsonAsync(Org.Api($"members/{admin.UserId}"), new { role = "member" }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("member", change.GetProperty("member").Str("role"));
        var capped = Assert.Single(change.GetProperty("cappedApiKeys").EnumerateArray());
        Assert.Equal((strong.Str("id"), "member"), (capped.Str("id"), capped.Str("role")));

        // The very next request sees the capped role; the weaker key is untouched.
        await key.GetAsync(Org.Api("members")).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await key.GetAsync(Org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("viewer", (await ListedAsync(weak.Str("id"))).Str("role"));
    }

    [Fact]
    public async Task Admin_CannotRevokeAnOwnersKeys_ButAnOwnerCan()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var ownersAgent = await owner.PostAsJsonAsync(Org.Api("api-keys"), new { name = "owners-agent", role = "member" }).ExpectAsync(HttpStatusCode.Created);
        var ownerKey = await owner.PostAsJsonAsync(Org.Api("api-keys"), new { name = "owner-role", role = "owner" }).ExpectAsync(HttpStatusCode.Created);
        var admin = await Host.AddPersonAsync(Org, "admin");
        using var asAdmin = Host.CreateClient(admin.Token);

        // Made by an owner, or carrying the owner role: both outrank an admin.
        await asAdmin.DeleteAsync(Org.Api($"api-keys/{ownersAgent.Str("id")}")).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await asAdmin.DeleteAsync(Org.Api($"api-keys/{ownerKey.Str("id")}")).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        using var agent = Host.CreateClient(ownersAgent.Str("secret"));
        await agent.GetAsync(Org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);

        // An admin may revoke their own keys and other admins'; the owner may revoke anything.
        var own = await asAdmin.PostAsJsonAsync(Org.Api("api-keys"), new { name = "admins", role = "member" }).ExpectAsync(HttpStatusCode.Created);
        await asAdmin.DeleteAsync(Org.Api($"api-keys/{own.Str("id")}")).ExpectAsync(HttpStatusCode.NoContent);
        await owner.DeleteAsync(Org.Api($"api-keys/{ownersAgent.Str("id")}")).ExpectAsync(HttpStatusCode.NoContent);
        await agent.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }

    private async Task<System.Text.Json.JsonElement> ListedAsync(string keyId)
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        string? cursor = null;
        do
        {
            var page = await owner.GetAsync(Org.Api("api-keys" + (cursor is null ? "" : "?cursor=" + cursor))).ExpectAsync(HttpStatusCode.OK);
            foreach (var key in page.GetProperty("items").EnumerateArray())
            {
                if (key.Str("id") == keyId)
                {
                    return key;
                }
            }

            cursor = page.OptStr("nextCursor");
        }
        while (cursor is not null);

        throw new InvalidOperationException($"API key {keyId} is not listed.");
    }
}

public sealed class SqliteMemberKeyTests(SqliteHostFixture fixture) : MemberKeyTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresMemberKeyTests(PostgresHostFixture fixture) : MemberKeyTests(fixture), IClassFixture<PostgresHostFixture>;
