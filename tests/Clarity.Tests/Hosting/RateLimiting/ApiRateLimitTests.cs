using System.Net;
using System.Net.Http.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Hosting.RateLimiting;

/// <summary>
/// The API's token buckets on one node: per API key, per user, per org (shared by its keys), per-org overrides, the
/// RateLimit-* headers and the 429. Refill rates are tiny (one permit per 1,000 s) so that nothing refills during a
/// test; each test uses its own keys, users and orgs.
/// </summary>
public abstract class ApiRateLimitTests(RateLimitFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    private async Task<(string Id, string Secret)> NewKeyAsync(OrgSession org, string role = "member")
    {
        using var owner = Host.CreateClient(org.OwnerToken);
        var key = await owner.PostAsJsonAsync(org.Api("api-keys"), new { name = Work.Unique("key"), role }).ExpectAsync(HttpStatusCode.Created);
        return (key.Str("id"), key.Str("secret"));
    }

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : "";

    [Fact]
    public async Task ApiKey_OverItsBurst_Answers429ProblemWithRetryAfter()
    {
        var (_, secret) = await NewKeyAsync(Org);
        using var client = Host.CreateClient(secret);
        for (var remaining = RateLimitFixture.KeyBurst - 1; remaining >= 0; remaining--)
        {
            using var ok = await client.GetAsync(Org.Api("tasks"));
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            Assert.Equal(RateLimitFixture.KeyBurst.ToString(), Header(ok, "RateLimit-Limit"));
            Assert.Equal(remaining.ToString(), Header(ok, "RateLimit-Remaining"));
            Assert.True(long.Parse(Header(ok, "RateLimit-Reset")) > 0);
        }

        using var refused = await client.GetAsync(Org.Api("tasks"));
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("0", Header(refused, "RateLimit-Remaining"));
        Assert.Equal(RateLimitFixture.KeyBurst.ToString(), Header(refused, "RateLimit-Limit"));
        // One permit per 1,000 s: the next one comes in about 1,000 s.
        var retryAfter = refused.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value.TotalSeconds, 900, 1000);
        var problem = await Task.FromResult(refused).ExpectProblemAsync(HttpStatusCode.TooManyRequests, "rate-limited");
        Assert.Equal("Too many requests", problem.Str("title"));
        Assert.Contains("this API key", problem.Str("detail"), StringComparison.Ordinal);

        // Another key of the same org has its own bucket.
        var (_, other) = await NewKeyAsync(Org);
        using var second = Host.CreateClient(other);
        await second.GetAsync(Org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task User_OverItsBurst_Answers429_OnEveryRouteTheyCall()
    {
        var token = (await Host.AddPersonAsync(Org, "member")).Token;

        using var user = Host.CreateClient(token);
        for (var i = 0; i < RateLimitFixture.UserBurst; i++)
        {
            // The user's bucket counts routes in an org and routes outside any org alike.
            using var ok = await user.GetAsync(i % 2 == 0 ? "api/v1/me" : Org.Api("tasks"));
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        var problem = await user.GetAsync("api/v1/me").ExpectProblemAsync(HttpStatusCode.TooManyRequests, "rate-limited");
        Assert.Contains("your user", problem.Str("detail"), StringComparison.Ordinal);
        await user.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.TooManyRequests, "rate-limited");
    }

    [Fact]
    public async Task OrgBucket_IsSharedByTheOrgsKeys_AndSetPerOrg()
    {
        // "capped" has an org bucket (burst 10) and a smaller key burst (5) by override; other orgs have no org bucket.
        var capped = await Host.CreateOrgAsync(Org, "capped");
        // Setting up the org took 4 of its 10 permits (the owner created four keys): 6 are left.
        using var first = Host.CreateClient(capped.Keys["member"]);
        using var response = await first.GetAsync(capped.Api("tasks"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // The key's bucket (5, now 4 left) constrains more than the org's (10, now 5 left).
        Assert.Equal("5", Header(response, "RateLimit-Limit"));
        Assert.Equal("4", Header(response, "RateLimit-Remaining"));

        for (var i = 0; i < 3; i++)
        {
            await first.GetAsync(capped.Api("tasks")).ExpectAsync(HttpStatusCode.OK);
        }

        // Two permits are left in the org; the second key has its own full bucket, but the org's runs out.
        using var second = Host.CreateClient(capped.Keys["viewer"]);
        await second.GetAsync(capped.Api("tasks")).ExpectAsync(HttpStatusCode.OK);
        using var last = await second.GetAsync(capped.Api("tasks"));
        Assert.Equal(HttpStatusCode.OK, last.StatusCode);
        Assert.Equal("10", Header(last, "RateLimit-Limit"));
        Assert.Equal("0", Header(last, "RateLimit-Remaining"));

        var problem = await second.GetAsync(capped.Api("tasks")).ExpectProblemAsync(HttpStatusCode.TooManyRequests, "rate-limited");
        Assert.Contains("this org", problem.Str("detail"), StringComparison.Ordinal);
        // The owner's requests in that org draw from it too.
        using var owner = Host.CreateClient(Org.OwnerToken);
        await owner.GetAsync(capped.Api("tasks")).ExpectProblemAsync(HttpStatusCode.TooManyRequests, "rate-limited");
        // Other orgs are untouched.
        await owner.GetAsync(Org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task PerOrgOverride_OfZero_TurnsTheKeyBucketOff_AndNoHeadersAreSent()
    {
        // "open": its keys' bucket is off by override, and there is no org bucket by default.
        var open = await Host.CreateOrgAsync(Org, "open");
        using var key = Host.CreateClient(open.Keys["member"]);
        for (var i = 0; i < RateLimitFixture.KeyBurst + 2; i++)
        {
            using var response = await key.GetAsync(open.Api("tasks"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.False(response.Headers.Contains("RateLimit-Limit"));
        }
    }

    [Fact]
    public async Task ErrorAnswers_OfLimitedRequests_CarryTheHeadersToo()
    {
        var (_, secret) = await NewKeyAsync(Org, "viewer");
        using var client = Host.CreateClient(secret);
        using var notFound = await client.GetAsync(Org.Api($"tasks/{Guid.NewGuid()}"));
        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
        Assert.Equal((RateLimitFixture.KeyBurst - 1).ToString(), Header(notFound, "RateLimit-Remaining"));

        using var forbidden = await client.PostAsJsonAsync(Org.Api("tasks"), new { queue = "q", title = "t" });
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        Assert.Equal((RateLimitFixture.KeyBurst - 2).ToString(), Header(forbidden, "RateLimit-Remaining"));
    }

    [Fact]
    public async Task HealthMetricsAndPublicEndpoints_AreNotLimited()
    {
        var (_, secret) = await NewKeyAsync(Org);
        using var client = Host.CreateClient(secret);
        for (var i = 0; i < RateLimitFixture.KeyBurst; i++)
        {
            await client.GetAsync(Org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);
        }

        await client.GetAsync(Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.TooManyRequests, "rate-limited");
        foreach (var path in new[] { "healthz", "readyz", "metrics", "openapi/v1.json", "api/v1/setup" })
        {
            using var response = await client.GetAsync(path);
            Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode}");
            Assert.False(response.Headers.Contains("RateLimit-Limit"), path);
        }
    }
}

/// <summary>
/// Tiny refill rates (nothing refills during a test), a key burst of 3 and a user burst of 60; no org bucket except
/// for the orgs "capped" (burst 10, key burst 5) and "open" (key bucket off); CORS allows one origin.
/// </summary>
public abstract class RateLimitFixture(Backend backend) : HostFixture(backend, new Dictionary<string, string?>
{
    ["Clarity:RateLimits:User:PermitsPerSecond"] = "0.001",
    ["Clarity:RateLimits:User:Burst"] = UserBurst.ToString(),
    ["Clarity:RateLimits:ApiKey:PermitsPerSecond"] = "0.001",
    ["Clarity:RateLimits:ApiKey:Burst"] = KeyBurst.ToString(),
    ["Clarity:RateLimits:Org:PermitsPerSecond"] = "0",
    ["Clarity:RateLimits:Orgs:capped:Org:PermitsPerSecond"] = "0.001",
    ["Clarity:RateLimits:Orgs:capped:Org:Burst"] = "10",
    ["Clarity:RateLimits:Orgs:capped:ApiKey:Burst"] = "5",
    ["Clarity:RateLimits:Orgs:open:ApiKey:PermitsPerSecond"] = "0",
    ["Clarity:Cors:AllowedOrigins:0"] = CorsTests.AllowedOrigin,
})
{
    public const int KeyBurst = 3;

    public const int UserBurst = 60;
}

public sealed class SqliteRateLimitFixture() : RateLimitFixture(Backend.Sqlite);

public sealed class PostgresRateLimitFixture() : RateLimitFixture(Backend.Postgres);

public sealed class SqliteApiRateLimitTests(SqliteRateLimitFixture fixture) : ApiRateLimitTests(fixture), IClassFixture<SqliteRateLimitFixture>;

public sealed class PostgresApiRateLimitTests(PostgresRateLimitFixture fixture) : ApiRateLimitTests(fixture), IClassFixture<PostgresRateLimitFixture>;
