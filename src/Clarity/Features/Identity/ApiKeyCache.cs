using System.Collections.Concurrent;
using Clarity.Events;

namespace Clarity.Features.Identity;

/// <summary>
/// Remembers recently used API keys for a few seconds so that authenticating a request does not cost a database
/// read. Revoking a key evicts it at once on this node and, through the event bus, on every other node; the short
/// lifetime bounds staleness even if a cross-node notification were lost. Unknown keys are never cached.
/// </summary>
public sealed class ApiKeyCache : IDisposable
{
    private static readonly TimeSpan s_lifetime = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<string, Entry> _byHash = new(StringComparer.Ordinal);
    private readonly IdentityStore _store;
    private readonly TimeProvider _clock;
    private readonly IDisposable _subscription;

    public ApiKeyCache(IdentityStore store, IEventBus events, TimeProvider clock)
    {
        _store = store;
        _clock = clock;
        _subscription = events.Subscribe(e =>
        {
            if (e is ApiKeyRevoked revoked)
            {
                Evict(revoked.KeyId);
            }
        });
    }

    public async ValueTask<ApiKeyPrincipal?> FindAsync(string secretHash, CancellationToken ct)
    {
        var now = _clock.GetTimestamp();
        if (_byHash.TryGetValue(secretHash, out var entry) && _clock.GetElapsedTime(entry.CachedAt, now) < s_lifetime)
        {
            return entry.Key;
        }

        var key = await _store.FindApiKeyAsync(secretHash, ct);
        if (key is null)
        {
            _byHash.TryRemove(secretHash, out _);
            return null;
        }

        if (_byHash.Count > 100_000)
        {
            _byHash.Clear();
        }

        _byHash[secretHash] = new Entry(key, now);
        return key;
    }

    public void Evict(Guid keyId)
    {
        foreach (var (hash, entry) in _byHash)
        {
            if (entry.Key.Id == keyId)
            {
                _byHash.TryRemove(hash, out _);
            }
        }
    }

    public void Dispose() => _subscription.Dispose();

    private readonly record struct Entry(ApiKeyPrincipal Key, long CachedAt);
}
