using System.Net;
using Clarity.Hosting;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Hosting;

/// <summary>
/// Kestrel refuses an over-long request line or header block before any middleware runs, with a bare status. Up to
/// a hard ceiling, Clarity's own limits (Limits:MaxUrlBytes, MaxRequestHeadersBytes, MaxRequestHeaderCount) answer
/// first, with problem+json.
/// </summary>
public abstract class RequestGuardTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : HostFixture
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task AUrlOverTheLimit_Is414Problem()
    {
        using var client = Host.CreateClient(Org.OwnerToken);
        var problem = await client.GetAsync(Org.Api("tasks?queue=" + new string('q', 9 * 1024))).ExpectProblemAsync(HttpStatusCode.RequestUriTooLong, "uri-too-long");
        Assert.Contains("8192", problem.Str("detail"), StringComparison.Ordinal);

        // Just under the limit the request goes through (and the queue name is then judged on its own terms).
        await client.GetAsync(Org.Api("tasks?status=queued&x=" + new string('q', 7 * 1024))).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task AUrlBeyondTheHardCeiling_GetsKestrelsBare414()
    {
        using var client = Host.CreateClient(Org.OwnerToken);
        using var response = await client.GetAsync(Org.Api("tasks?x=" + new string('q', 2 * RequestGuard.MaxUrlCeiling)));
        Assert.Equal(HttpStatusCode.RequestUriTooLong, response.StatusCode);
    }

    [Fact]
    public async Task AHeaderBlockOverTheLimit_Is431Problem()
    {
        using var client = Host.CreateClient(Org.OwnerToken);
        using var big = new HttpRequestMessage(HttpMethod.Get, Org.Api("tasks"));
        big.Headers.Add("X-Padding", new string('h', 33 * 1024));
        await client.SendAsync(big).ExpectProblemAsync(HttpStatusCode.RequestHeaderFieldsTooLarge, "headers-too-large");

        using var fits = new HttpRequestMessage(HttpMethod.Get, Org.Api("tasks"));
        fits.Headers.Add("X-Padding", new string('h', 24 * 1024));
        await client.SendAsync(fits).ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task TooManyHeaderLines_Is431Problem()
    {
        using var client = Host.CreateClient(Org.OwnerToken);
        using var request = new HttpRequestMessage(HttpMethod.Get, Org.Api("tasks"));
        for (var i = 0; i < 150; i++)
        {
            request.Headers.Add($"X-Line-{i}", "1");
        }

        await client.SendAsync(request).ExpectProblemAsync(HttpStatusCode.RequestHeaderFieldsTooLarge, "headers-too-large");
    }

    [Fact]
    public async Task AHeaderBlockBeyondTheHardCeiling_GetsKestrelsBare431()
    {
        using var client = Host.CreateClient(Org.OwnerToken);
        using var request = new HttpRequestMessage(HttpMethod.Get, Org.Api("tasks"));
        for (var i = 0; i < 3; i++)
        {
            request.Headers.Add($"X-Padding-{i}", new string('h', RequestGuard.MaxHeadersCeiling));
        }

        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
    }
}

public sealed class SqliteRequestGuardTests(SqliteHostFixture fixture) : RequestGuardTests<SqliteHostFixture>(fixture);

public sealed class PostgresRequestGuardTests(PostgresHostFixture fixture) : RequestGuardTests<PostgresHostFixture>(fixture);
