using System.Collections.Concurrent;
using System.Globalization;
using Clarity.Features.Identity;
using Microsoft.Extensions.Options;

namespace Clarity.Hosting.RateLimiting;

/// <summary>The outcome for one request: admitted or not, and the header values of the most constraining bucket.</summary>
public sealed record RateLimitDecision(bool Admitted, BucketKind Kind, BucketState State);

/// <summary>
/// The API's token buckets on this node: one per user, per API key and per org, created on first use and dropped
/// when idle. A request by a user draws from the user's bucket and, on an org route, the org's; a request by an API
/// key draws from the key's and its org's. It is admitted only when every bucket it draws from has a token, and
/// then takes one from each.
/// On PostgreSQL, <see cref="MaintainAsync"/> runs every <see cref="RateLimitOptions.SyncInterval"/>: each bucket used
/// since the last run pushes what it admitted to its shared row and takes back the shared level, which includes
/// every node's spending (a negative level is a debt this node repays before admitting more). A bucket created on
/// this node starts from its shared row. See docs/operations.md for the bound on overshoot across nodes.
/// </summary>
public sealed partial class ApiRateLimiter(IOptions<ClarityOptions> options, RateLimitStore store, IdentityStore identity, TimeProvider clock, ILogger<ApiRateLimiter> logger)
{
    private static readonly TimeSpan s_pruneEvery = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, Entry> _buckets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Guid, string> _orgSlugs = new();
    private readonly long _origin = clock.GetTimestamp();
    private readonly RateLimitOptions _limits = options.Value.RateLimits;
    private TimeSpan _lastPrune;

    private TimeSpan Now => clock.GetElapsedTime(_origin);

    /// <summary>
    /// Takes a token for the caller's request from each bucket it draws from, or from none when one is empty.
    /// Null when every bucket that would apply is turned off.
    /// </summary>
    public async ValueTask<RateLimitDecision?> AcquireAsync(Caller caller, OrgContext? org, CancellationToken ct)
    {
        BucketRef? principal;
        BucketRef? orgBucket;
        if (caller.ApiKey is { } key)
        {
            var slug = org?.Slug ?? await SlugOfAsync(key.OrgId, ct);
            principal = BucketRef.For(BucketKind.ApiKey, key.Id, _limits.For(BucketKind.ApiKey, slug));
            orgBucket = BucketRef.For(BucketKind.Org, key.OrgId, _limits.For(BucketKind.Org, slug));
        }
        else
        {
            principal = BucketRef.For(BucketKind.User, caller.UserId!.Value, _limits.For(BucketKind.User, null));
            orgBucket = org is null ? null : BucketRef.For(BucketKind.Org, org.OrgId, _limits.For(BucketKind.Org, org.Slug));
        }

        if (org is not null)
        {
            _orgSlugs.TryAdd(org.OrgId, org.Slug);
        }

        if (principal is null && orgBucket is null)
        {
            return null;
        }

        while (true)
        {
            var first = principal is null ? null : await GetAsync(principal.Value);
            var second = orgBucket is null ? null : await GetAsync(orgBucket.Value);
            if (TryTake(first, principal?.Kind, second, orgBucket?.Kind) is { } decision)
            {
                return decision;
            }

            // A bucket was dropped while we looked it up: its successor is in the table now.
        }
    }

    /// <summary>
    /// Limits an authenticated API request; <see cref="AccessMiddleware"/> calls it once the caller (and the org, when
    /// the caller belongs to it) is known, before answering, so refused requests count too. Public endpoints (health,
    /// metrics, OpenAPI, static assets; sign-in and setup have their own throttle) and dashboard pages never come
    /// here. A long-poll or a stream is one request, so it counts once. The answer carries <c>RateLimit-Limit</c>,
    /// <c>RateLimit-Remaining</c> and <c>RateLimit-Reset</c> of the most constraining bucket; over the limit it is
    /// 429 problem+json (<c>urn:clarity:problem:rate-limited</c>) with <c>Retry-After</c>.
    /// </summary>
    public async ValueTask EnforceAsync(HttpContext context, Caller caller, OrgContext? org)
    {
        if (await AcquireAsync(caller, org, context.RequestAborted) is not { } decision)
        {
            return;
        }

        // Set as the response starts: an error answer clears the headers set before it.
        context.Response.OnStarting(static state =>
        {
            var (response, bucket) = ((HttpResponse, BucketState))state;
            response.Headers["RateLimit-Limit"] = bucket.Limit.ToString(CultureInfo.InvariantCulture);
            response.Headers["RateLimit-Remaining"] = bucket.Remaining.ToString(CultureInfo.InvariantCulture);
            response.Headers["RateLimit-Reset"] = bucket.ResetSeconds.ToString(CultureInfo.InvariantCulture);
            return Task.CompletedTask;
        }, (context.Response, decision.State));

        if (!decision.Admitted)
        {
            var whose = decision.Kind switch
            {
                BucketKind.User => "your user",
                BucketKind.ApiKey => "this API key",
                _ => "this org",
            };
            throw Problems.RateLimited(
                $"Too many requests for {whose}; try again in {Wait.Describe(decision.State.RetryAfterSeconds)}.",
                TimeSpan.FromSeconds(decision.State.RetryAfterSeconds));
        }
    }

    /// <summary>The bucket's level on this node without taking from it, or null when this node holds none (for tests).</summary>
    public double? Peek(BucketKind kind, Guid id)
    {
        if (!_buckets.TryGetValue(BucketRef.KeyOf(kind, id), out var entry) || !entry.Bucket.IsCompletedSuccessfully)
        {
            return null;
        }

        var bucket = entry.Bucket.Result;
        lock (bucket.Sync)
        {
            bucket.Refill(Now);
            return bucket.Level;
        }
    }

    private RateLimitDecision? TryTake(TokenBucket? first, BucketKind? firstKind, TokenBucket? second, BucketKind? secondKind)
    {
        var now = Now;
        // Always the principal's bucket before the org's: every request locks in the same order.
        first?.Sync.Enter();
        try
        {
            second?.Sync.Enter();
            try
            {
                if (first?.Retired == true || second?.Retired == true)
                {
                    return null;
                }

                first?.Refill(now);
                first?.Touch(now);
                second?.Refill(now);
                second?.Touch(now);
                var admitted = (first?.CanTake ?? true) && (second?.CanTake ?? true);
                if (admitted)
                {
                    first?.Take();
                    second?.Take();
                }

                return Decide(admitted, first, firstKind, second, secondKind);
            }
            finally
            {
                second?.Sync.Exit();
            }
        }
        finally
        {
            first?.Sync.Exit();
        }
    }

    /// <summary>The headers come from the bucket that constrains most: the one that refused, else the one with least left.</summary>
    private static RateLimitDecision Decide(bool admitted, TokenBucket? first, BucketKind? firstKind, TokenBucket? second, BucketKind? secondKind)
    {
        var a = first?.State();
        var b = second?.State();
        if (a is null)
        {
            return new RateLimitDecision(admitted, secondKind!.Value, b!.Value);
        }

        if (b is null)
        {
            return new RateLimitDecision(admitted, firstKind!.Value, a.Value);
        }

        var pickSecond = admitted
            ? b.Value.Remaining < a.Value.Remaining || (b.Value.Remaining == a.Value.Remaining && b.Value.ResetSeconds > a.Value.ResetSeconds)
            : b.Value.RetryAfterSeconds > a.Value.RetryAfterSeconds;
        return pickSecond ? new RateLimitDecision(admitted, secondKind!.Value, b.Value) : new RateLimitDecision(admitted, firstKind!.Value, a.Value);
    }

    private async ValueTask<TokenBucket> GetAsync(BucketRef bucket)
    {
        var entry = _buckets.GetOrAdd(bucket.Key, static (key, state) => new Entry(state.Self, key, state.Bucket), (Self: this, Bucket: bucket));
        return await entry.Bucket;
    }

    private async Task<TokenBucket> CreateAsync(string key, BucketOptions limits)
    {
        double level = limits.Burst;
        if (store.Shared)
        {
            try
            {
                level = await store.ReadLevelAsync(key, limits.PermitsPerSecond, limits.Burst, CancellationToken.None) ?? limits.Burst;
            }
            catch (Exception ex)
            {
                // The database will say more at the next sync; meanwhile this node limits on its own.
                Log.ReadFailed(logger, ex, key);
            }
        }

        return new TokenBucket(limits.PermitsPerSecond, limits.Burst, level, Now);
    }

    private async ValueTask<string?> SlugOfAsync(Guid orgId, CancellationToken ct)
    {
        if (_orgSlugs.TryGetValue(orgId, out var slug))
        {
            return slug;
        }

        var org = await identity.FindOrgAsync(orgId, ct);
        if (org is not null)
        {
            // Slugs never change, so a found one is kept.
            _orgSlugs.TryAdd(orgId, org.Slug);
        }

        return org?.Slug;
    }

    /// <summary>
    /// Drops buckets nobody used since the last run (on SQLite, once they are full again), and on PostgreSQL pushes
    /// what the others admitted to the shared rows and takes back their levels.
    /// </summary>
    public async Task MaintainAsync(CancellationToken ct)
    {
        var now = Now;
        var idleAfter = _limits.SyncInterval;
        var batch = new List<(string Key, TokenBucket Bucket, double Used)>();
        foreach (var (key, entry) in _buckets)
        {
            if (!entry.Bucket.IsCompletedSuccessfully)
            {
                continue;
            }

            var bucket = entry.Bucket.Result;
            lock (bucket.Sync)
            {
                bucket.Refill(now);
                var idle = now - bucket.LastUsed >= idleAfter && bucket.Unsynced == 0;
                if (idle && (store.Shared || bucket.Level >= bucket.Burst))
                {
                    // Dropped under its lock, so no request takes from it afterwards; the next one starts a new
                    // bucket (from the shared row on PostgreSQL, which has everything this one pushed).
                    bucket.Retire();
                    _buckets.TryRemove(KeyValuePair.Create(key, entry));
                    continue;
                }

                if (store.Shared)
                {
                    batch.Add((key, bucket, bucket.BeginSync()));
                }
            }
        }

        if (batch.Count > 0)
        {
            await SyncAsync(batch, ct);
        }

        if (store.Shared && now - _lastPrune >= s_pruneEvery)
        {
            _lastPrune = now;
            await store.PruneAsync(ct);
        }
    }

    private async Task SyncAsync(List<(string Key, TokenBucket Bucket, double Used)> batch, CancellationToken ct)
    {
        IReadOnlyDictionary<string, double> levels;
        try
        {
            levels = await store.SyncAsync(batch.Select(b => new SharedBucketPush(b.Key, b.Bucket.PermitsPerSecond, b.Bucket.Burst, b.Used)).ToList(), ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            foreach (var (_, bucket, _) in batch)
            {
                lock (bucket.Sync)
                {
                    bucket.FailSync();
                }
            }

            Log.SyncFailed(logger, ex, batch.Count);
            return;
        }

        var now = Now;
        foreach (var (key, bucket, _) in batch)
        {
            lock (bucket.Sync)
            {
                if (levels.TryGetValue(key, out var level))
                {
                    bucket.CompleteSync(level, now);
                }
                else
                {
                    bucket.FailSync();
                }
            }
        }
    }

    private readonly record struct BucketRef(BucketKind Kind, string Key, BucketOptions Limits)
    {
        public static BucketRef? For(BucketKind kind, Guid id, BucketOptions? limits) =>
            limits is null ? null : new BucketRef(kind, KeyOf(kind, id), limits);

        public static string KeyOf(BucketKind kind, Guid id) => kind switch
        {
            BucketKind.User => "user:",
            BucketKind.ApiKey => "key:",
            _ => "org:",
        } + id.ToString("N");
    }

    private sealed class Entry(ApiRateLimiter limiter, string key, BucketRef bucket)
    {
        private readonly Lazy<Task<TokenBucket>> _bucket = new(() => limiter.CreateAsync(key, bucket.Limits));

        public Task<TokenBucket> Bucket => _bucket.Value;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Could not read the shared rate-limit bucket {Key}; this node starts it full")]
        public static partial void ReadFailed(ILogger logger, Exception error, string key);

        [LoggerMessage(2, LogLevel.Warning, "Could not sync {Count} rate-limit buckets with the database; each node limits on its own until it can")]
        public static partial void SyncFailed(ILogger logger, Exception error, int count);
    }
}
