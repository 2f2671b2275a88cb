using Clarity.Events;

namespace Clarity.Features.Identity;

/// <summary>
/// Recently used API keys, by the hash of their secret, for a few seconds. Revoking a key, or capping its role, evicts
/// it at once on this node and, through the event bus, on every other node.
/// </summary>
public sealed class ApiKeyCache : IDisposable
{
    private readonly RevocableCache<string, ApiKeyPrincipal> _cache;
    private readonly IdentityStore _store;
    private readonly IDisposable _subscription;

    public ApiKeyCache(IdentityStore store, IEventBus events, TimeProvider clock)
    {
        _store = store;
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

    public void Dispose() => _subscription.Dispose();
}
