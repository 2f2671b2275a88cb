namespace Clarity.Tests.Infrastructure;

/// <summary>
/// Settings for hosts whose tests send hundreds of requests with one key or sign in wrongly on purpose (the
/// generated route tests): the API's buckets off and sign-in failures effectively free. The defaults stay as shipped.
/// </summary>
public static class RateLimitsOff
{
    public static Dictionary<string, string?> With(IDictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Clarity:RateLimits:User:PermitsPerSecond"] = "0",
            ["Clarity:RateLimits:ApiKey:PermitsPerSecond"] = "0",
            ["Clarity:RateLimits:Org:PermitsPerSecond"] = "0",
            ["Clarity:RateLimits:SignIn:FreeFailuresPerAccount"] = "1000000",
            ["Clarity:RateLimits:SignIn:FreeFailuresPerAddress"] = "1000000",
        };
        foreach (var (k, v) in more ?? new Dictionary<string, string?>())
        {
            settings[k] = v;
        }

        return settings;
    }
}
