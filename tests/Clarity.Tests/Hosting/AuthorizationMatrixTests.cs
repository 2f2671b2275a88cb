using System.Net;
using System.Text;
using System.Text.Json;
using Clarity.Features.Identity;
using Clarity.Hosting;
using Clarity.Hosting.Authorization;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Hosting;

/// <summary>
/// The authorization matrix, generated from the server's route table: every org-scoped route is called by every
/// role in its own org, in another org, with a revoked key and anonymously, and the answer must match the role's
/// permissions. A route added later is covered without editing this file.
/// </summary>
public abstract class AuthorizationMatrixTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : TwoOrgFixture
{
    public static TheoryData<string> OrgRoutes => [.. RouteTable.OrgScoped.Select(r => r.Key)];

    public static TheoryData<string, string> OrgRoutesByRole
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var route in RouteTable.OrgScoped)
            {
                foreach (var role in BuiltInRoles.All)
                {
                    data.Add(route.Key, role);
                }
            }

            return data;
        }
    }

    public static TheoryData<string> CallerRoutes => [.. RouteTable.All.Where(r => r.Access is AccessKind.Caller or AccessKind.User).Select(r => r.Key)];

    public static TheoryData<string> UserRoutes => [.. RouteTable.All.Where(r => r.Access is AccessKind.User).Select(r => r.Key)];

    private ClarityHost Host => fixture.Host;

    [Fact]
    public void EveryEndpoint_DeclaresExactlyOneAccessRule()
    {
        var running = RouteTable.From(Host.Services);
        Assert.NotEmpty(running);
        var undeclared = running.Where(r => r.DeclarationCount != 1).Select(r => $"{r.Key} declares {r.DeclarationCount} access rules").ToList();
        Assert.True(undeclared.Count == 0, string.Join(Environment.NewLine, undeclared));
    }

    [Fact]
    public void RouteTable_OfTheRunningHost_IsTheOneTheTheoriesCover()
    {
        var running = RouteTable.From(Host.Services).Select(r => r.Key).ToList();
        Assert.Equal(RouteTable.All.Select(r => r.Key), running);
        Assert.Contains(RouteTable.All, r => r.Key == "POST /api/v1/orgs/{org}/tasks");
    }

    [Fact]
    public void EveryOrgScopedRoute_HasTheOrgParameterAndAKnownPermission()
    {
        foreach (var route in RouteTable.OrgScoped)
        {
            Assert.Contains("org", route.Parameters);
            Assert.Contains(route.Permission!, Permissions.All);
        }
    }

    [Theory]
    [MemberData(nameof(OrgRoutes))]
    public async Task OrgRoute_Anonymous_Is401(string routeKey)
    {
        using var client = Host.CreateClient();
        await AssertProblemAsync(await SendAsync(client, routeKey, fixture.Own), HttpStatusCode.Unauthorized, "unauthorized", routeKey);
    }

    [Theory]
    [MemberData(nameof(OrgRoutesByRole))]
    public async Task OrgRoute_RevokedKey_Is401(string routeKey, string role)
    {
        using var client = Host.CreateClient(fixture.RevokedKeys[role]);
        await AssertProblemAsync(await SendAsync(client, routeKey, fixture.Own), HttpStatusCode.Unauthorized, "unauthorized", routeKey);
    }

    [Theory]
    [MemberData(nameof(OrgRoutesByRole))]
    public async Task OrgRoute_KeyOfAnotherOrg_Is404(string routeKey, string role)
    {
        using var client = Host.CreateClient(fixture.Own.Keys[role]);
        var problem = await AssertProblemAsync(await SendAsync(client, routeKey, fixture.Other), HttpStatusCode.NotFound, "not-found", routeKey);
        Assert.Contains("Org '", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(OrgRoutesByRole))]
    public async Task OrgRoute_OwnOrg_AnswersAccordingToTheRolesPermissions(string routeKey, string role)
    {
        var route = RouteTable.Find(routeKey);
        using var client = Host.CreateClient(fixture.Own.Keys[role]);
        using var response = await SendAsync(client, routeKey, fixture.Own);
        var body = await response.Content.ReadAsStringAsync();
        var status = (int)response.StatusCode;
        Assert.True(status != 500, $"{routeKey} as {role}: 500 {body}");
        if (!(await RolesOfOwnOrgAsync()).Resolve(role).Grants(route.Permission!))
        {
            await AssertProblemAsync(response, HttpStatusCode.Forbidden, "forbidden", $"{routeKey} as {role}");
            return;
        }

        Assert.True(status is not (401 or 403), $"{routeKey} as {role} (has {route.Permission}): {status} {body}");
        if (status == 404)
        {
            Assert.DoesNotContain("Org '", body, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(CallerRoutes))]
    public async Task CallerRoute_Anonymous_Is401(string routeKey)
    {
        using var client = Host.CreateClient();
        await AssertProblemAsync(await SendAsync(client, routeKey, fixture.Own), HttpStatusCode.Unauthorized, "unauthorized", routeKey);
    }

    [Theory]
    [MemberData(nameof(UserRoutes))]
    public async Task UserRoute_WithAnApiKey_Is403(string routeKey)
    {
        using var client = Host.CreateClient(fixture.Own.Keys[BuiltInRoles.Owner]);
        await AssertProblemAsync(await SendAsync(client, routeKey, fixture.Own), HttpStatusCode.Forbidden, "forbidden", routeKey);
    }

    /// <summary>The roles of the caller's own org as the server reads them (the roles table), which the answers must follow.</summary>
    private async Task<RoleSet> RolesOfOwnOrgAsync()
    {
        var org = await Host.Services.GetRequiredService<IdentityStore>().FindOrgBySlugAsync(fixture.Own.Org, CancellationToken.None);
        return await Host.Services.GetRequiredService<RoleCatalog>().ForOrgAsync(org!.Id, CancellationToken.None);
    }

    /// <summary>Calls the route with {org} set to the session's org, every other parameter a random Guid, and {} as the body.</summary>
    private static Task<HttpResponseMessage> SendAsync(HttpClient client, string routeKey, OrgSession org)
    {
        var route = RouteTable.Find(routeKey);
        var path = route.Fill(name => name == "org" ? org.Org : Guid.NewGuid().ToString());
        var request = new HttpRequestMessage(new HttpMethod(route.Method), path);
        if (route.HasBody)
        {
            request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        }

        return client.SendAsync(request);
    }

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string slug, string what)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == status, $"{what}: expected {(int)status} but got {(int)response.StatusCode}: {body}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var json = JsonDocument.Parse(body).RootElement.Clone();
            Assert.Equal("urn:clarity:problem:" + slug, json.GetProperty("type").GetString());
            return json;
        }
    }
}

// Every route × every role with the same keys: far more requests per key than the default buckets hold.
public sealed class SqliteAuthorizationMatrixFixture() : TwoOrgFixture(Backend.Sqlite, RateLimitsOff.With());

public sealed class PostgresAuthorizationMatrixFixture() : TwoOrgFixture(Backend.Postgres, RateLimitsOff.With());

public sealed class SqliteAuthorizationMatrixTests(SqliteAuthorizationMatrixFixture fixture)
    : AuthorizationMatrixTests<SqliteAuthorizationMatrixFixture>(fixture);

public sealed class PostgresAuthorizationMatrixTests(PostgresAuthorizationMatrixFixture fixture)
    : AuthorizationMatrixTests<PostgresAuthorizationMatrixFixture>(fixture);
