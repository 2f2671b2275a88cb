using System.ComponentModel.DataAnnotations;
using System.Net;

namespace Clarity.Hosting.RateLimiting;

/// <summary>
/// <c>Clarity:RateLimits</c>: token buckets for the API (per user, per API key, per org, with per-org overrides),
/// the sign-in and setup throttle, and the gate on password hashing.
/// </summary>
public sealed class RateLimitOptions
{
    /// <summary>Every signed-in user's bucket, across all the orgs they use. Default 50 requests/s, burst 200.</summary>
    public BucketOptions User { get; set; } = new() { PermitsPerSecond = 50, Burst = 200 };

    /// <summary>Every API key's bucket. Default 200 requests/s, burst 1,000.</summary>
    public BucketOptions ApiKey { get; set; } = new() { PermitsPerSecond = 200, Burst = 1000 };

    /// <summary>Every org's bucket, shared by all its users and keys. Default 1,000 requests/s, burst 5,000.</summary>
    public BucketOptions Org { get; set; } = new() { PermitsPerSecond = 1000, Burst = 5000 };

    /// <summary>Overrides of the <see cref="Org"/> and <see cref="ApiKey"/> buckets for one org, by slug.</summary>
    public Dictionary<string, OrgRateLimitOptions> Orgs { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// On PostgreSQL, how often each node pushes what it admitted to the shared bucket rows and takes back their
    /// level. Default 1 second; 100 ms to 1 minute.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan SyncInterval { get; set; } = TimeSpan.FromSeconds(1);

    public SignInLimitOptions SignIn { get; set; } = new();

    public PasswordHashingOptions PasswordHashing { get; set; } = new();

    /// <summary>The bucket settings that apply to <paramref name="kind"/> in the org <paramref name="orgSlug"/>; null when that bucket is off.</summary>
    public BucketOptions? For(BucketKind kind, string? orgSlug)
    {
        var deployment = kind switch
        {
            BucketKind.User => User,
            BucketKind.ApiKey => ApiKey,
            _ => Org,
        };
        var perOrg = orgSlug is not null && kind != BucketKind.User && Orgs.TryGetValue(orgSlug, out var o)
            ? (kind == BucketKind.ApiKey ? o.ApiKey : o.Org)
            : null;
        var effective = new BucketOptions
        {
            PermitsPerSecond = perOrg?.PermitsPerSecond ?? deployment.PermitsPerSecond,
            Burst = perOrg?.Burst ?? deployment.Burst,
        };
        return effective.PermitsPerSecond > 0 ? effective : null;
    }

    internal void Validate(List<string> failures)
    {
        Check(User, "Clarity:RateLimits:User", failures);
        Check(ApiKey, "Clarity:RateLimits:ApiKey", failures);
        Check(Org, "Clarity:RateLimits:Org", failures);
        foreach (var (slug, org) in Orgs)
        {
            Check(org.Org, $"Clarity:RateLimits:Orgs:{slug}:Org", failures);
            Check(org.ApiKey, $"Clarity:RateLimits:Orgs:{slug}:ApiKey", failures);
        }

        if (SignIn.ForgetAfter <= SignIn.MaxDelay)
        {
            failures.Add($"Clarity:RateLimits:SignIn:ForgetAfter: must be longer than MaxDelay ({SignIn.MaxDelay}); it is {SignIn.ForgetAfter}.");
        }

        if (SignIn.BaseDelay > SignIn.MaxDelay)
        {
            failures.Add($"Clarity:RateLimits:SignIn:BaseDelay: must not exceed MaxDelay ({SignIn.MaxDelay}); it is {SignIn.BaseDelay}.");
        }
    }

    private static void Check(BucketOptions? bucket, string section, List<string> failures)
    {
        if (bucket is null)
        {
            return;
        }

        if (bucket.PermitsPerSecond is < 0 or > 1_000_000 || double.IsNaN(bucket.PermitsPerSecond))
        {
            failures.Add($"{section}:PermitsPerSecond: must be between 0 (off) and 1000000; it is {bucket.PermitsPerSecond}.");
        }

        if (bucket.Burst is < 1 or > 10_000_000)
        {
            failures.Add($"{section}:Burst: must be between 1 and 10000000; it is {bucket.Burst}.");
        }
    }

    private static void Check(BucketOverride? bucket, string section, List<string> failures)
    {
        if (bucket is not null)
        {
            Check(new BucketOptions { PermitsPerSecond = bucket.PermitsPerSecond ?? 1, Burst = bucket.Burst ?? 1 }, section, failures);
        }
    }
}

public enum BucketKind
{
    User,
    ApiKey,
    Org,
}

/// <summary>A token bucket: it refills at <see cref="PermitsPerSecond"/> up to <see cref="Burst"/> requests. A rate of 0 turns it off.</summary>
public sealed class BucketOptions
{
    public double PermitsPerSecond { get; set; }

    public int Burst { get; set; }
}

/// <summary>Per-org overrides (<c>Clarity:RateLimits:Orgs:{slug}</c>); a value left out keeps the deployment's.</summary>
public sealed class OrgRateLimitOptions
{
    public BucketOverride? Org { get; set; }

    public BucketOverride? ApiKey { get; set; }
}

public sealed class BucketOverride
{
    public double? PermitsPerSecond { get; set; }

    public int? Burst { get; set; }
}

/// <summary>
/// <c>Clarity:RateLimits:SignIn</c>: failed sign-ins per account (email) and per client address. After the free
/// failures each further one makes the next attempt wait <see cref="BaseDelay"/>, doubling up to <see cref="MaxDelay"/>.
/// The count is forgotten after <see cref="ForgetAfter"/> without a failure; a successful sign-in clears the account's.
/// </summary>
public sealed class SignInLimitOptions
{
    [Range(1, 1_000_000)]
    public int FreeFailuresPerAccount { get; set; } = 5;

    [Range(1, 1_000_000)]
    public int FreeFailuresPerAddress { get; set; } = 20;

    [Range(typeof(TimeSpan), "00:00:00.001", "1.00:00:00")]
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    [Range(typeof(TimeSpan), "00:00:00.001", "1.00:00:00")]
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromMinutes(15);

    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan ForgetAfter { get; set; } = TimeSpan.FromHours(1);
}

/// <summary><c>Clarity:RateLimits:PasswordHashing</c>: how many PBKDF2 computations run at once, and how many may wait.</summary>
public sealed class PasswordHashingOptions
{
    /// <summary>Hashes computed at once. Default: the number of cores.</summary>
    [Range(1, 1024)]
    public int MaxConcurrent { get; set; } = Environment.ProcessorCount;

    /// <summary>Sign-ins that may wait for a turn; beyond it the answer is 429. Default 32.</summary>
    [Range(0, 100_000)]
    public int QueueLimit { get; set; } = 32;
}

/// <summary><c>Clarity:Http</c>: how Clarity sees its clients.</summary>
public sealed class HttpOptions
{
    /// <summary>
    /// Reverse proxies (addresses or CIDR networks, e.g. <c>10.0.0.5</c> or <c>10.0.0.0/8</c>) whose
    /// <c>X-Forwarded-For</c> and <c>X-Forwarded-Proto</c> are believed. Empty (the default): the connection's own address.
    /// </summary>
    public string[] TrustedProxies { get; set; } = [];

    internal void Validate(List<string> failures)
    {
        foreach (var proxy in TrustedProxies)
        {
            if (!IPAddress.TryParse(proxy, out _) && !IPNetwork.TryParse(proxy, out _))
            {
                failures.Add($"Clarity:Http:TrustedProxies: '{proxy}' is neither an IP address nor a CIDR network (e.g. 10.0.0.0/8).");
            }
        }
    }
}

/// <summary><c>Clarity:Cors</c>: browsers on other origins that may call the API.</summary>
public sealed class CorsSettings
{
    /// <summary>Origins such as <c>https://app.example.com</c>. Empty (the default): no CORS headers at all.</summary>
    public string[] AllowedOrigins { get; set; } = [];

    internal void Validate(List<string> failures)
    {
        foreach (var origin in AllowedOrigins)
        {
            if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https")
                || uri.AbsolutePath != "/" || origin.EndsWith('/') || uri.Query.Length > 0 || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0)
            {
                failures.Add($"Clarity:Cors:AllowedOrigins: '{origin}' is not an origin; write scheme://host[:port] with no path, e.g. https://app.example.com.");
            }
        }
    }
}
