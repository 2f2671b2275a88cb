using System.Collections.Concurrent;
using Clarity.Events;

namespace Clarity.Features.Identity;

/// <summary>
/// Recently used API keys, by the hash of their secret, for a few seconds. Revoking a key, or capping its role, evicts
/// it at once on this node and, through the event bus, on every other node.
/// </summary>
public sealed class ApiKeyCache : IDisposable
{
    private static readonly TimeSpan s_touchEvery = TimeSpan.FromMinutes(1);
    private readonly RevocableCache<string, ApiKeyPrincipal> _cache;
    private readonly ConcurrentDictionary<Guid, long> _touched = new();
    private readonly IdentityStore _store;
    private readonly TimeProvider _clock;
    private readonly IDisposable _subscription;

    public ApiKeyCache(IdentityStore store, IEventBus events, TimeProvider clock)
    {
        _store = store;
        _clock = clock;
        _cache = new RevocableCache<string, ApiKeyPrincipal>(clock, TimeSpan.FromSeconds(5));
        _subscription = events.Subscribe(e =>
        {
            switch (e)
            {
                case ApiKeyRevoked revoked:
                    Evict(revoked.KeyId);
                    break;
                case ApiKeysChanged changed:
                    Evict(changed.KeyIds);
                    break;
            }
        });
    }

    public ValueTask<ApiKeyPrincipal?> FindAsync(string secretHash, CancellationToken ct) =>
        _cache.GetAsync(secretHash, _store.FindApiKeyAsync, ct);

    public void Evict(Guid keyId) => _cache.Evict(k => k.Id == keyId);

    public void Evict(IReadOnlyCollection<Guid> keyIds) => _cache.Evict(k => keyIds.Contains(k.Id));

    /// <summary>Records that the key was used. last_used_at is informative: written at most once a minute per key, never a write per request.</summary>
    public async Task TouchAsync(ApiKeyPrincipal key)
    {
        var now = _clock.GetUtcNow();
        var last = _touched.GetOrAdd(key.Id, _ => key.LastUsedAt ?? 0);
        if (now.ToUnixTimeMilliseconds() - last < s_touchEvery.TotalMilliseconds)
        {
            return;
        }

        _touched[key.Id] = now.ToUnixTimeMilliseconds();
        await _store.TouchApiKeyAsync(key.Id, now, CancellationToken.None);
    }

    public void Dispose() => _subscription.Dispose();
}
