using Clarity.Features.Identity;
using Xunit;

namespace Clarity.Tests.Features.Identity;

/// <summary>The credential cache: a read that raced a revocation never refills the cache with what it read.</summary>
public sealed class RevocableCacheTests
{
    private sealed record Key(string Name, bool Revoked);

    [Fact]
    public async Task ARead_ThatStartedBeforeARevocation_IsNotCached()
    {
        var cache = new RevocableCache<string, Key>(TimeProvider.System, TimeSpan.FromMinutes(5));
        var stale = new TaskCompletionSource<Key?>();
        var loads = 0;

        // A read starts (the key is still valid in the database snapshot it sees)...
        var racing = cache.GetAsync("k", (_, _) => { loads++; return stale.Task; }, CancellationToken.None).AsTask();
        // ...the revocation commits and evicts...
        cache.Evict(k => k.Name == "k");
        // ...and only then does the read return its stale value.
        stale.SetResult(new Key("k", Revoked: false));
        Assert.False((await racing)!.Revoked);

        // The next request reads again and sees the revocation.
        var fresh = await cache.GetAsync("k", (_, _) => { loads++; return Task.FromResult<Key?>(new Key("k", Revoked: true)); }, CancellationToken.None);
        Assert.True(fresh!.Revoked);
        Assert.Equal(2, loads);
    }

    [Fact]
    public async Task AValue_IsServedFromTheCache_UntilEvicted()
    {
        var cache = new RevocableCache<string, Key>(TimeProvider.System, TimeSpan.FromMinutes(5));
        var loads = 0;
        Task<Key?> Load(string name, CancellationToken ct)
        {
            loads++;
            return Task.FromResult<Key?>(new Key(name, Revoked: false));
        }

        await cache.GetAsync("k", Load, CancellationToken.None);
        await cache.GetAsync("k", Load, CancellationToken.None);
        Assert.Equal(1, loads);

        cache.Evict(k => k.Name == "k");
        await cache.GetAsync("k", Load, CancellationToken.None);
        Assert.Equal(2, loads);
    }

    [Fact]
    public async Task UnknownKeys_AreNeverCached()
    {
        var cache = new RevocableCache<string, Key>(TimeProvider.System, TimeSpan.FromMinutes(5));
        var loads = 0;
        for (var i = 0; i < 3; i++)
        {
            Assert.Null(await cache.GetAsync("missing", (_, _) => { loads++; return Task.FromResult<Key?>(null); }, CancellationToken.None));
        }

        Assert.Equal(3, loads);
    }
}
