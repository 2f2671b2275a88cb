using System.Net;
using System.Net.Http.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Tasks;

/// <summary>The three shapes of claim (one queue, several queues, any queue) all honour priority, then age.</summary>
public abstract class ClaimShapeTests(Backend backend) : IAsyncLifetime
{
    private ClarityHost _host = null!;
    private OrgSession _org = null!;

    public async Task InitializeAsync()
    {
        _host = await ClarityHost.StartAsync(backend);
        _org = await _host.SetupAsync();
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<string> CreateAsync(HttpClient client, string queue, string title, int priority = 0)
    {
        var task = await client.PostAsJsonAsync(_org.Api("tasks"), new { queue, title, priority }).ExpectAsync(HttpStatusCode.Created);
        return task.GetProperty("id").GetString()!;
    }

    private async Task<string?> CheckoutAsync(HttpClient client, string[]? queues)
    {
        var response = await client.PostAsJsonAsync(_org.Api("work/checkout"), new { agent = "shape-agent", queues });
        if (response.StatusCode == HttpStatusCode.NoContent)
        {
            return null;
        }

        var body = await response.ReadJsonAsync();
        return body.GetProperty("task").GetProperty("title").GetString();
    }

    [Fact]
    public async Task Checkout_FromSeveralQueues_TakesTheHighestPriorityThenTheOldestAcrossThem()
    {
        using var client = _host.CreateClient(_org.MemberKey);
        await CreateAsync(client, "multi-a", "a-old");
        await CreateAsync(client, "multi-b", "b-urgent", priority: 5);
        await CreateAsync(client, "multi-a", "a-new");
        await CreateAsync(client, "multi-c", "c-ignored", priority: 9);

        string[] queues = ["multi-a", "multi-b"];
        Assert.Equal("b-urgent", await CheckoutAsync(client, queues));
        Assert.Equal("a-old", await CheckoutAsync(client, queues));
        Assert.Equal("a-new", await CheckoutAsync(client, queues));
        Assert.Null(await CheckoutAsync(client, queues));
    }

    [Fact]
    public async Task Checkout_WithoutQueues_TakesFromAnyQueueInPriorityOrder()
    {
        using var client = _host.CreateClient(_org.Keys["admin"]);
        await CreateAsync(client, "any-x", "x-low", priority: -500);
        await CreateAsync(client, "any-y", "y-high", priority: 700);

        Assert.Equal("y-high", await CheckoutAsync(client, null));
    }
}

public sealed class SqliteClaimShapeTests() : ClaimShapeTests(Backend.Sqlite);

public sealed class PostgresClaimShapeTests() : ClaimShapeTests(Backend.Postgres);
