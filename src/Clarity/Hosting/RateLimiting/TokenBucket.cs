namespace Clarity.Hosting.RateLimiting;

/// <summary>What a bucket tells the caller: the <c>RateLimit-*</c> header values and, when empty, how long to wait.</summary>
/// <param name="Limit">the burst: the most requests the bucket holds</param>
/// <param name="Remaining">whole requests left now</param>
/// <param name="ResetSeconds">seconds until the bucket is full again</param>
/// <param name="RetryAfterSeconds">seconds until one request is admitted again; 0 when one is admitted now</param>
public readonly record struct BucketState(int Limit, int Remaining, long ResetSeconds, long RetryAfterSeconds);

/// <summary>
/// A token bucket that refills at <see cref="PermitsPerSecond"/> up to <see cref="Burst"/>, and whose level may fall
/// below zero: a debt that the refill repays before anything more is admitted. The debt is how a node hears that
/// other nodes spent the shared bucket (<see cref="BeginSync"/>/<see cref="CompleteSync"/>): it pushes what it
/// admitted, takes back the shared level, and keeps admitting locally in between.
/// Times are monotonic offsets (any origin); the caller holds <see cref="Sync"/> around every call that reads or
/// changes the level, so that one request can take from several buckets at once or from none.
/// </summary>
public sealed class TokenBucket
{
    private double _level;
    private TimeSpan _at;
    private double _unsynced;
    private double _pushing;

    public TokenBucket(double permitsPerSecond, int burst, double level, TimeSpan now)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(permitsPerSecond);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(burst);
        PermitsPerSecond = permitsPerSecond;
        Burst = burst;
        _level = Math.Min(burst, level);
        _at = now;
        LastUsed = now;
    }

    public Lock Sync { get; } = new();

    public double PermitsPerSecond { get; }

    public int Burst { get; }

    /// <summary>The level at the last <see cref="Refill"/>; negative while in debt.</summary>
    public double Level => _level;

    /// <summary>When a request last asked this bucket (admitted or not).</summary>
    public TimeSpan LastUsed { get; private set; }

    /// <summary>Set once the bucket has been dropped from its node's table; a caller holding it looks it up again.</summary>
    public bool Retired { get; private set; }

    /// <summary>Requests admitted that no sync has pushed yet (including one being pushed now).</summary>
    public double Unsynced => _unsynced + _pushing;

    /// <summary>Adds what has dripped in since the last call, up to <see cref="Burst"/>.</summary>
    public void Refill(TimeSpan now)
    {
        if (now > _at)
        {
            _level = Math.Min(Burst, _level + (PermitsPerSecond * (now - _at).TotalSeconds));
            _at = now;
        }
    }

    /// <summary>True when a request may be admitted at the last <see cref="Refill"/>.</summary>
    public bool CanTake => _level >= 1;

    public void Touch(TimeSpan now)
    {
        if (now > LastUsed)
        {
            LastUsed = now;
        }
    }

    /// <summary>Admits one request. Call after <see cref="Refill"/> and <see cref="CanTake"/>.</summary>
    public void Take()
    {
        _level -= 1;
        _unsynced += 1;
    }

    public BucketState State()
    {
        var remaining = _level >= 1 ? (int)Math.Min(Burst, Math.Floor(_level)) : 0;
        var reset = _level >= Burst ? 0 : Seconds((Burst - _level) / PermitsPerSecond);
        var retry = _level >= 1 ? 0 : Math.Max(1, Seconds((1 - _level) / PermitsPerSecond));
        return new BucketState(Burst, remaining, reset, retry);
    }

    /// <summary>Starts a sync: returns what was admitted since the last one, for the caller to push to the shared row.</summary>
    public double BeginSync()
    {
        _pushing += _unsynced;
        _unsynced = 0;
        return _pushing;
    }

    /// <summary>
    /// Ends a sync: the shared row, having subtracted what this node pushed and what every other node pushed, is at
    /// <paramref name="sharedLevel"/> now. What this node admitted since <see cref="BeginSync"/> is not in it yet.
    /// </summary>
    public void CompleteSync(double sharedLevel, TimeSpan now)
    {
        _pushing = 0;
        _level = Math.Min(Burst, sharedLevel) - _unsynced;
        if (now > _at)
        {
            _at = now;
        }
    }

    /// <summary>The push did not happen: keep what was admitted for the next sync.</summary>
    public void FailSync()
    {
        _unsynced += _pushing;
        _pushing = 0;
    }

    public void Retire() => Retired = true;

    private static long Seconds(double seconds) => seconds >= long.MaxValue ? long.MaxValue : (long)Math.Ceiling(seconds - 1e-9);
}
