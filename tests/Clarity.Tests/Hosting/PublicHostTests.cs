using System.Net;
using System.Text.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Hosting;

/// <summary>
/// The server's public address comes from configuration, never from the request: Clarity:AllowedHosts filters the
/// Host header, and the OpenAPI document names Clarity:PublicUrl (or no server at all).
/// </summary>
public abstract class PublicHostTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : PublicHostFixture
{
    private ClarityHost Host => fixture.Host;

    [Fact]
    public async Task AHostThatIsNotAllowed_Is400Problem()
    {
        using var client = Host.CreateClient(fixture.Org.OwnerToken);
        using var evil = new HttpRequestMessage(HttpMethod.Get, fixture.Org.Api("tasks"));
        evil.Headers.Host = "evil.example";
        await client.SendAsync(evil).ExpectProblemAsync(HttpStatusCode.BadRequest, "bad-request");

        using var allowed = new HttpRequestMessage(HttpMethod.Get, fixture.Org.Api("tasks"));
        allowed.Headers.Host = "node-1.clarity.example";
        await client.SendAsync(allowed).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task OpenApi_NamesThePublicUrl_NeverTheHostHeader()
    {
        using var client = Host.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "openapi/v1.json");
        request.Headers.Host = "hostile.clarity.example";
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("hostile", text, StringComparison.OrdinalIgnoreCase);
        var servers = JsonDocument.Parse(text).RootElement.GetProperty("servers");
        Assert.Equal("https://api.clarity.example/base", Assert.Single(servers.EnumerateArray()).Str("url"));
    }

    [Fact]
    public async Task OpenApi_WithoutAPublicUrl_NamesNoServer_WhateverTheHostHeader()
    {
        await using var plain = await ClarityHost.StartAsync(fixture.Backend);
        using var client = plain.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "openapi/v1.json");
        request.Headers.Host = "evil.example:666";
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("evil.example", text, StringComparison.OrdinalIgnoreCase);
        Assert.False(JsonDocument.Parse(text).RootElement.TryGetProperty("servers", out _), "the document names a server");
    }
}

/// <summary>A host that answers only to localhost, 127.0.0.1 and *.clarity.example, with a public URL set.</summary>
public abstract class PublicHostFixture(Backend backend) : HostFixture(backend, new Dictionary<string, string?>
{
    ["Clarity:AllowedHosts"] = "localhost; 127.0.0.1; *.clarity.example",
    ["Clarity:PublicUrl"] = "https://api.clarity.example/base/",
});

public sealed class SqlitePublicHostFixture() : PublicHostFixture(Backend.Sqlite);

public sealed class PostgresPublicHostFixture() : PublicHostFixture(Backend.Postgres);

public sealed class SqlitePublicHostTests(SqlitePublicHostFixture fixture) : PublicHostTests<SqlitePublicHostFixture>(fixture);

public sealed class PostgresPublicHostTests(PostgresPublicHostFixture fixture) : PublicHostTests<PostgresPublicHostFixture>(fixture);
