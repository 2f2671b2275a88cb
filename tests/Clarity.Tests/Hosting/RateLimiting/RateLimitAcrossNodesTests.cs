using System.Net;
using System.Net.Http.Json;
using Clarity.Hosting.RateLimiting;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit;

namespace Clarity.Tests.Hosting.RateLimiting;

/// <summary>
/// PostgreSQL, two nodes on one database: a bucket spent on one node is spent on the other after a sync. Waits use
/// generous deadlines; nothing asserts how long a sync takes.
/// </summary>
public sealed class RateLimitAcrossNodesTests
{
    private const int Burst = 5;

    /// <summary>Two nodes on one new database, API keys limited to a burst of 5 (refilling one per 1,000 s).</summary>
    private sealed class Cluster : IAsyncDisposable
    {
        public ClarityHost A { get; private init; } = null!;

        public ClarityHost B { get; private init; } = null!;

        public OrgSession Org { get; private init; } = null!;

        public static async Task<Cluster> StartAsync(TimeSpan syncInterval)
        {
            var a = await ClarityHost.StartAsync(Backend.Postgres, new Dictionary<string, string?>
            {
                ["Clarity:RateLimits:ApiKey:PermitsPerSecond"] = "0.001",
                ["Clarity:RateLimits:ApiKey:Burst"] = Burst.ToString(),
                ["Clarity:RateLimits:SyncInterval"] = syncInterval.ToString(),
            });
            var b = await ClarityHost.StartNodeAsync(a);
            return new Cluster { A = a, B = b, Org = await a.SetupAsync("acme") };
        }

        public async Task<(Guid Id, string Secret)> NewKeyAsync()
        {
            using var owner = A.CreateClient(Org.OwnerToken);
            var key = await owner.PostAsJsonAsync(Org.Api("api-keys"), new { name = Work.Unique("key"), role = "member" }).ExpectAsync(HttpStatusCode.Created);
            return (Guid.Parse(key.Str("id")), key.Str("secret"));
        }

        public async ValueTask DisposeAsync()
        {
            await B.DisposeAsync();
            await A.DisposeAsync();
        }
    }

    private static async Task DrainAsync(HttpClient client, string path)
    {
        for (var i = 0; i < 100; i++)
        {
            using var response = await client.GetAsync(path);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                return;
            }

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Fail("The bucket never ran out.");
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        while (!await condition())
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, $"Gave up waiting until {what}.");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task KeyDrainedOnOneNode_IsRefusedOnTheOther_OnceTheDrainIsShared()
    {
        await using var cluster = await Cluster.StartAsync(TimeSpan.FromMilliseconds(200));
        var (id, secret) = await cluster.NewKeyAsync();
        using var onA = ClarityHost.ClientFor(cluster.A.BaseAddress, secret);
        await DrainAsync(onA, cluster.Org.Api("tasks"));

        // Node A pushes what it admitted to the shared row on its next sync.
        await WaitUntilAsync(async () =>
        {
            await using var connection = new NpgsqlConnection(cluster.A.PostgresConnectionString);
            await connection.OpenAsync();
            await using var read = new NpgsqlCommand("SELECT level FROM rate_limit_buckets WHERE bucket = @bucket", connection);
            read.Parameters.AddWithValue("bucket", "key:" + id.ToString("N"));
            return await read.ExecuteScalarAsync() is double level && level < 1;
        }, "node A has shared the drained bucket");

        // Node B has never seen this key: its bucket starts from the shared row, already empty.
        using var onB = ClarityHost.ClientFor(cluster.B.BaseAddress, secret);
        using var refused = await onB.GetAsync(cluster.Org.Api("tasks"));
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("0", refused.Headers.GetValues("RateLimit-Remaining").Single());
        Assert.NotNull(refused.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task BucketHeldOnOneNode_LearnsOfTheOtherNodesSpending_AtItsNextSync()
    {
        // The nodes' own timers are far off (1 minute): this test runs each node's sync itself, in a known order.
        await using var cluster = await Cluster.StartAsync(TimeSpan.FromMinutes(1));
        var limiterA = cluster.A.Services.GetRequiredService<ApiRateLimiter>();
        var limiterB = cluster.B.Services.GetRequiredService<ApiRateLimiter>();

        var (id, secret) = await cluster.NewKeyAsync();
        using var onB = ClarityHost.ClientFor(cluster.B.BaseAddress, secret);
        await onB.GetAsync(cluster.Org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(Burst - 1, limiterB.Peek(BucketKind.ApiKey, id) ?? double.NaN, precision: 3);

        // A has not heard of B's request: it admits a whole burst, then refuses.
        using var onA = ClarityHost.ClientFor(cluster.A.BaseAddress, secret);
        await DrainAsync(onA, cluster.Org.Api("tasks"));

        await limiterA.MaintainAsync(CancellationToken.None);
        await limiterB.MaintainAsync(CancellationToken.None);

        // Together they admitted one more than the burst: B now holds that debt and refuses.
        Assert.Equal(-1, limiterB.Peek(BucketKind.ApiKey, id) ?? double.NaN, precision: 1);
        var problem = await onB.GetAsync(cluster.Org.Api("tasks")).ExpectProblemAsync(HttpStatusCode.TooManyRequests, "rate-limited");
        Assert.Contains("this API key", problem.Str("detail"), StringComparison.Ordinal);
    }
}
