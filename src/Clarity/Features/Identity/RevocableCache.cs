using System.Collections.Concurrent;

namespace Clarity.Features.Identity;

/// <summary>
/// Remembers credentials (API keys, sign-in sessions) for a few seconds so that authenticating a request does not cost
/// a database read, and forgets them at once when they are revoked. Revocation cannot be undone by a read that
/// raced it: every eviction bumps an epoch, and a value read while an eviction happened is not kept (the read is
/// re-checked after it is stored, so it cannot slip in behind the eviction either). Unknown keys are never cached.
/// The short lifetime bounds staleness even if a cross-node eviction were lost.
/// </summary>
public sealed class RevocableCache<TKey, TValue>(TimeProvider clock, TimeSpan lifetime, int maxEntries = 100_000)
    where TKey : notnull
    where TValue : class
{
    private readonly ConcurrentDictionary<TKey, Entry> _entries = new();
    private long _epoch;

    public async ValueTask<TValue?> GetAsync(TKey key, Func<TKey, CancellationToken, Task<TValue?>> load, CancellationToken ct)
    {
        var now = clock.GetTimestamp();
        if (_entries.TryGetValue(key, out var cached) && clock.GetElapsedTime(cached.CachedAt, now) < lifetime)
        {
            return cached.Value;
        }

        var epoch = Interlocked.Read(ref _epoch);
        var value = await load(key, ct);
        if (value is null)
        {
            _entries.TryRemove(key, out _);
            return null;
        }

        if (Interlocked.Read(ref _epoch) != epoch)
        {
            // Something was revoked while we read: the value may predate that revocation's commit. Use it for this
            // request (it raced the revocation) but do not keep it.
            return value;
        }

        if (_entries.Count >= maxEntries)
        {
            _entries.Clear();
        }

        var entry = new Entry(value, now);
        _entries[key] = entry;
        if (Interlocked.Read(ref _epoch) != epoch)
        {
            _entries.TryRemove(new KeyValuePair<TKey, Entry>(key, entry));
        }

        return value;
    }

    /// <summary>Forgets every cached value that <paramref name="match"/> selects, and makes in-flight reads not cache theirs.</summary>
    public void Evict(Func<TValue, bool> match)
    {
        Interlocked.Increment(ref _epoch);
        foreach (var (key, entry) in _entries)
        {
            if (match(entry.Value))
            {
                _entries.TryRemove(new KeyValuePair<TKey, Entry>(key, entry));
            }
        }
    }

    private sealed record Entry(TValue Value, long CachedAt);
}
