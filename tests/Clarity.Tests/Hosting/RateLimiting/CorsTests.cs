using System.Net;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Hosting.RateLimiting;

/// <summary>CORS: closed unless Clarity:Cors:AllowedOrigins names origins; then the framework's CORS middleware answers them.</summary>
public abstract class CorsTests(RateLimitFixture fixture)
{
    public const string AllowedOrigin = "https://app.example";

    private static HttpRequestMessage Preflight(string path, string origin)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, path);
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        request.Headers.Add("Access-Control-Request-Headers", "authorization,content-type");
        return request;
    }

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : "";

    [Fact]
    public async Task Preflight_FromAnAllowedOrigin_GetsTheCorsHeaders_WithoutCredentials()
    {
        using var client = fixture.Host.CreateClient();
        using var response = await client.SendAsync(Preflight(fixture.Org.Api("tasks"), AllowedOrigin));
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(AllowedOrigin, Header(response, "Access-Control-Allow-Origin"));
        Assert.Contains("POST", Header(response, "Access-Control-Allow-Methods"), StringComparison.Ordinal);
        Assert.Contains("authorization", Header(response, "Access-Control-Allow-Headers"), StringComparison.OrdinalIgnoreCase);
        Assert.False(response.Headers.Contains("Access-Control-Allow-Credentials"));
    }

    [Fact]
    public async Task Preflight_FromAnotherOrigin_GetsNoCorsHeaders()
    {
        using var client = fixture.Host.CreateClient();
        using var response = await client.SendAsync(Preflight(fixture.Org.Api("tasks"), "https://evil.example"));
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.False(response.Headers.Contains("Access-Control-Allow-Methods"));
    }

    [Fact]
    public async Task Request_FromAnAllowedOrigin_MayReadTheRateLimitHeaders_EvenOnAnError()
    {
        using var client = fixture.Host.CreateClient(fixture.Org.Keys["viewer"]);
        using var request = new HttpRequestMessage(HttpMethod.Get, fixture.Org.Api($"tasks/{Guid.NewGuid()}"));
        request.Headers.Add("Origin", AllowedOrigin);
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(AllowedOrigin, Header(response, "Access-Control-Allow-Origin"));
        var exposed = Header(response, "Access-Control-Expose-Headers");
        foreach (var name in new[] { "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After", "X-Correlation-Id" })
        {
            Assert.Contains(name, exposed, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task WithoutAllowedOrigins_NoCorsHeadersAreSent()
    {
        await using var host = await ClarityHost.StartAsync(fixture.Backend);
        using var client = host.CreateClient();
        using var preflight = await client.SendAsync(Preflight("api/v1/orgs/acme/tasks", AllowedOrigin));
        Assert.False(preflight.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.False(preflight.Headers.Contains("Access-Control-Allow-Methods"));

        using var request = new HttpRequestMessage(HttpMethod.Get, "healthz");
        request.Headers.Add("Origin", AllowedOrigin);
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }
}

public sealed class SqliteCorsTests(SqliteRateLimitFixture fixture) : CorsTests(fixture), IClassFixture<SqliteRateLimitFixture>;

public sealed class PostgresCorsTests(PostgresRateLimitFixture fixture) : CorsTests(fixture), IClassFixture<PostgresRateLimitFixture>;
