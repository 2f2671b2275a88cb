using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using Clarity.Features.Identity;
using Clarity.Hosting;
using Clarity.Hosting.Authorization;
using Clarity.Storage;
using Clarity.Tests.Features.Stream;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Hosting.Authorization;

/// <summary>
/// Roles are data: the built-in ones are seeded rows, and a role added as rows grants exactly its permissions (its own and
/// those it inherits) through every path: the API, the dashboard and the stream, including a stream's periodic re-check.
/// The rules that compare roles (granting, outranking, capping keys, the org's last owner) compare permission sets.
/// </summary>
public abstract class RoleDataTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task BuiltInRoles_AreSeededRows_WithTheirDocumentedPermissions()
    {
        string[] viewer = ["agents:read", "org:read", "runs:read", "tasks:read", "workflows:read"];
        string[] member = [.. viewer, "agents:write", "runs:manage", "tasks:respond", "tasks:write"];
        string[] admin = [.. member, "apikeys:manage", "audit:read", "members:manage", "members:read", "notifications:manage", "webhooks:manage", "workflows:manage"];
        string[] owner = [.. admin, "org:admin"];
        var expected = new Dictionary<string, string[]> { ["viewer"] = viewer, ["member"] = member, ["admin"] = admin, ["owner"] = owner };

        await using var c = await Host.Services.GetRequiredService<Database>().OpenReadAsync();
        var rows = await c.QueryAsync<(string Name, string Permission)>(
            "SELECT r.name AS Name, p.permission AS Permission FROM roles r JOIN role_permissions p ON p.role_id = r.id WHERE r.org_id IS NULL");
        var stored = rows.GroupBy(r => r.Name).ToDictionary(g => g.Key, g => g.Select(r => r.Permission).Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), stored.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, permissions) in expected)
        {
            Assert.Equal(permissions.Order(StringComparer.Ordinal), stored[name]);
        }

        var roles = await RolesAsync(Org.Org);
        Assert.Equal(BuiltInRoles.All, roles.All.Where(r => expected.ContainsKey(r.Name)).Select(r => r.Name));
        Assert.Equal(Permissions.All.Order(StringComparer.Ordinal), roles.Resolve(BuiltInRoles.Owner).Permissions.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task ARoleAddedAsData_GrantsExactlyItsPermissions_OnEveryOrgRoute()
    {
        var triager = await AddRoleAsync(Org.Org, "triager", inherits: BuiltInRoles.Viewer, Permissions.TasksRespond);
        using var owner = Host.CreateClient(Org.OwnerToken);
        var key = await owner.PostAsJsonAsync(Org.Api("api-keys"), new { name = "triage-bot", role = triager }).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal(triager, key.Str("role"));
        string[] granted = [Permissions.OrgRead, Permissions.TasksRead, Permissions.AgentsRead, Permissions.WorkflowsRead, Permissions.RunsRead, Permissions.TasksRespond];

        using var client = Host.CreateClient(key.Str("secret"));
        foreach (var route in RouteTable.OrgScoped)
        {
            using var response = await SendAsync(client, route, Org);
            var body = await response.Content.ReadAsStringAsync();
            var status = (int)response.StatusCode;
            if (granted.Contains(route.Permission))
            {
                Assert.True(status is not (401 or 403 or 500), $"{route.Key} as {triager} (holds {route.Permission}): {status} {body}");
            }
            else
            {
                Assert.True(status == 403, $"{route.Key} as {triager} (lacks {route.Permission}): {status} {body}");
                Assert.Contains($"lacks the '{route.Permission}' permission", body, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task ARoleAddedAsData_DecidesWhatTheDashboardShowsAndAllows()
    {
        var watcher = await AddRoleAsync(Org.Org, "watcher", inherits: null, Permissions.OrgRead);
        var triager = await AddRoleAsync(Org.Org, "triager", inherits: BuiltInRoles.Viewer, Permissions.TasksRespond);
        var watching = await Host.AddPersonAsync(Org, watcher);
        var triaging = await Host.AddPersonAsync(Org, triager);
        var viewing = await Host.AddPersonAsync(Org, BuiltInRoles.Viewer);

        using (var browser = Host.CreateCookieClient(watching.Token))
        {
            Assert.Equal(HttpStatusCode.OK, await PageStatusAsync(browser, $"o/{Org.Org}"));
            Assert.Equal(HttpStatusCode.Forbidden, await PageStatusAsync(browser, $"o/{Org.Org}/search"));
            Assert.Equal(HttpStatusCode.Forbidden, await PageStatusAsync(browser, $"o/{Org.Org}/agents"));
        }

        const string ReadOnly = "can read questions but not answer them";
        using (var browser = Host.CreateCookieClient(triaging.Token))
        {
            Assert.Equal(HttpStatusCode.OK, await PageStatusAsync(browser, $"o/{Org.Org}/search"));
            var page = await browser.GetStringAsync($"o/{Org.Org}/clarifications");
            Assert.DoesNotContain(ReadOnly, page, StringComparison.Ordinal);
            Assert.Contains(triager, await browser.GetStringAsync($"o/{Org.Org}/settings"), StringComparison.Ordinal);
        }

        using (var browser = Host.CreateCookieClient(viewing.Token))
        {
            Assert.Contains(ReadOnly, await browser.GetStringAsync($"o/{Org.Org}/clarifications"), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ARoleAddedAsData_DecidesTheStream_AndTakingAPermissionAwayEndsItsOpenStreams()
    {
        var watcher = await AddRoleAsync(Org.Org, "watcher", inherits: null, Permissions.OrgRead);
        var streamer = await AddRoleAsync(Org.Org, "streamer", inherits: null, Permissions.OrgRead, Permissions.TasksRead);
        using var owner = Host.CreateClient(Org.OwnerToken);
        var watcherKey = await owner.PostAsJsonAsync(Org.Api("api-keys"), new { name = "no-stream", role = watcher }).ExpectAsync(HttpStatusCode.Created);
        var streamerKey = await owner.PostAsJsonAsync(Org.Api("api-keys"), new { name = "stream", role = streamer }).ExpectAsync(HttpStatusCode.Created);
        var person = await Host.AddPersonAsync(Org, streamer);

        using (var refused = Host.CreateClient(watcherKey.Str("secret")))
        {
            await refused.GetAsync(Org.Api("events?topics=tasks")).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        }

        await using var keyStream = await StreamSocket.ConnectAsync(Host.BaseAddress, Org.Org, streamerKey.Str("secret"));
        await keyStream.SubscribeAsync(["tasks"]);
        await using var userStream = await StreamSocket.ConnectAsync(Host.BaseAddress, Org.Org, person.Token);
        await userStream.SubscribeAsync(["tasks"]);
        await using var ownerStream = await StreamSocket.ConnectAsync(Host.BaseAddress, Org.Org, Org.OwnerToken);
        await ownerStream.SubscribeAsync(["tasks"]);

        Assert.True(await Host.Services.GetRequiredService<RoleCatalog>().SetPermissionsAsync(await RoleIdAsync(streamer), [Permissions.OrgRead], CancellationToken.None));

        foreach (var socket in new[] { keyStream, userStream })
        {
            while (await socket.ReceiveAsync() is { } message)
            {
                Assert.NotEqual("error", message.Str("type"));
            }

            Assert.Equal(WebSocketCloseStatus.PolicyViolation, socket.CloseStatus);
            Assert.Equal("access-revoked", socket.CloseStatusDescription);
        }

        using var agent = Host.CreateClient(Org.MemberKey);
        var task = await StreamTests.NewTaskAsync(agent, Org);
        await ownerStream.NextAsync(m => m.IsTaskEvent(task), "the owner's stream runs on");
    }

    [Fact]
    public async Task GrantingAndRevoking_FollowPermissionSets_NotNames()
    {
        var auditor = await AddRoleAsync(Org.Org, "auditor", inherits: null, Permissions.OrgRead, Permissions.OrgAdmin);
        var helper = await AddRoleAsync(Org.Org, "helper", inherits: BuiltInRoles.Viewer, Permissions.TasksRespond);
        using var admin = Host.CreateClient(Org.Keys[BuiltInRoles.Admin]);
        using var owner = Host.CreateClient(Org.OwnerToken);

        // auditor holds org:admin, which an admin lacks, however few permissions it holds besides.
        await admin.PostAsJsonAsync(Org.Api("api-keys"), new { name = "x", role = auditor }).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await admin.PostAsJsonAsync(Org.Api("invitations"), new { email = Work.Unique("a") + "@example.com", role = auditor }).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await admin.PostAsJsonAsync(Org.Api("api-keys"), new { name = "y", role = helper }).ExpectAsync(HttpStatusCode.Created);

        var audit = await owner.PostAsJsonAsync(Org.Api("api-keys"), new { name = "audit", role = auditor }).ExpectAsync(HttpStatusCode.Created);
        await admin.DeleteAsync(Org.Api($"api-keys/{audit.Str("id")}")).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await owner.DeleteAsync(Org.Api($"api-keys/{audit.Str("id")}")).ExpectAsync(HttpStatusCode.NoContent);

        var unknown = await owner.PostAsJsonAsync(Org.Api("api-keys"), new { name = "z", role = "nobody" }).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.Contains(helper, unknown.Str("detail"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChangingARole_CapsTheMembersKeys_WhoseRoleHoldsAPermissionTheNewOneLacks()
    {
        var helper = await AddRoleAsync(Org.Org, "helper", inherits: BuiltInRoles.Viewer, Permissions.TasksRespond);
        var watcher = await AddRoleAsync(Org.Org, "watcher", inherits: null, Permissions.OrgRead);
        var person = await Host.AddPersonAsync(Org, BuiltInRoles.Admin);
        using var asPerson = Host.CreateClient(person.Token);
        var strong = await asPerson.PostAsJsonAsync(Org.Api("api-keys"), new { name = "strong", role = BuiltInRoles.Admin }).ExpectAsync(HttpStatusCode.Created);
        var helping = await asPerson.PostAsJsonAsync(Org.Api("api-keys"), new { name = "helping", role = helper }).ExpectAsync(HttpStatusCode.Created);
        using var owner = Host.CreateClient(Org.OwnerToken);

        // helper's permissions are all a member's: only the admin key is capped.
        var change = await owner.PutAsJsonAsync(Org.Api($"members/{person.UserId}"), new { role = BuiltInRoles.Member }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([(strong.Str("id"), BuiltInRoles.Member)], change.GetProperty("cappedApiKeys").EnumerateArray().Select(k => (k.Str("id"), k.Str("role"))));

        // watcher holds only org:read: both keys hold more, and both are capped to it.
        change = await owner.PutAsJsonAsync(Org.Api($"members/{person.UserId}"), new { role = watcher }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(
            new[] { strong.Str("id"), helping.Str("id") }.Order(StringComparer.Ordinal),
            change.GetProperty("cappedApiKeys").EnumerateArray().Select(k => k.Str("id")).Order(StringComparer.Ordinal));
        using var helpingKey = Host.CreateClient(helping.Str("secret"));
        await helpingKey.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await helpingKey.GetAsync($"api/v1/orgs/{Org.Org}").ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task AnOrgKeepsAMemberHoldingOrgAdmin_WhateverTheirRoleIsCalled()
    {
        var org = await Host.CreateOrgAsync(Org, Work.Unique("keep"));
        var steward = await AddRoleAsync(org.Org, "steward", inherits: BuiltInRoles.Viewer, Permissions.MembersRead, Permissions.MembersManage, Permissions.OrgAdmin);
        var person = await Host.AddPersonAsync(org, steward);
        using var owner = Host.CreateClient(org.OwnerToken);
        var ownerId = (await owner.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK)).GetProperty("user").Str("id");

        // The steward holds org:admin, so the owner may step down...
        await owner.PutAsJsonAsync($"api/v1/orgs/{org.Org}/members/{ownerId}", new { role = BuiltInRoles.Admin }).ExpectAsync(HttpStatusCode.OK);

        // ...and now the steward is the last member holding it.
        using var asSteward = Host.CreateClient(person.Token);
        await asSteward.PutAsJsonAsync($"api/v1/orgs/{org.Org}/members/{person.UserId}", new { role = BuiltInRoles.Viewer }).ExpectProblemAsync(HttpStatusCode.Conflict, "last-owner");
        await asSteward.DeleteAsync($"api/v1/orgs/{org.Org}/members/{person.UserId}").ExpectProblemAsync(HttpStatusCode.Conflict, "last-owner");
    }

    /// <summary>Adds a role of <paramref name="slug"/> as rows, under a unique name; returns the name.</summary>
    private async Task<string> AddRoleAsync(string slug, string name, string? inherits, params string[] permissions)
    {
        var unique = Work.Unique(name);
        var org = await Host.Services.GetRequiredService<IdentityStore>().FindOrgBySlugAsync(slug, CancellationToken.None);
        Guid? parent = inherits is null ? null : await RoleIdAsync(inherits);
        await Host.Services.GetRequiredService<RoleCatalog>().CreateAsync(org!.Id, unique, parent, permissions, CancellationToken.None);
        return unique;
    }

    private async Task<Guid> RoleIdAsync(string name)
    {
        await using var c = await Host.Services.GetRequiredService<Database>().OpenReadAsync();
        return await c.QuerySingleAsync<Guid>("SELECT id FROM roles WHERE name = @name", new { name });
    }

    private async Task<RoleSet> RolesAsync(string slug)
    {
        var org = await Host.Services.GetRequiredService<IdentityStore>().FindOrgBySlugAsync(slug, CancellationToken.None);
        return await Host.Services.GetRequiredService<RoleCatalog>().ForOrgAsync(org!.Id, CancellationToken.None);
    }

    private static async Task<HttpStatusCode> PageStatusAsync(HttpClient browser, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/html");
        using var response = await browser.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>Calls the route with {org} set to the org, every other parameter a random Guid, and {} as the body.</summary>
    private static Task<HttpResponseMessage> SendAsync(HttpClient client, ApiRoute route, OrgSession org)
    {
        var request = new HttpRequestMessage(new HttpMethod(route.Method), route.Fill(name => name == "org" ? org.Org : Guid.NewGuid().ToString()));
        if (route.HasBody)
        {
            request.Content = new StringContent(route.BodyIsArray ? "[]" : "{}", Encoding.UTF8, "application/json");
        }

        return client.SendAsync(request);
    }
}

// Every org route with one key, and streams that re-check access every second.
public sealed class SqliteRoleDataFixture() : HostFixture(Backend.Sqlite, RateLimitsOff.With(new Dictionary<string, string?> { ["Clarity:Stream:AccessCheckInterval"] = "00:00:01" }));

public sealed class PostgresRoleDataFixture() : HostFixture(Backend.Postgres, RateLimitsOff.With(new Dictionary<string, string?> { ["Clarity:Stream:AccessCheckInterval"] = "00:00:01" }));

public sealed class SqliteRoleDataTests(SqliteRoleDataFixture fixture) : RoleDataTests(fixture), IClassFixture<SqliteRoleDataFixture>;

public sealed class PostgresRoleDataTests(PostgresRoleDataFixture fixture) : RoleDataTests(fixture), IClassFixture<PostgresRoleDataFixture>;
