using Clarity.Features.Identity;

namespace Clarity.Hosting.RateLimiting;

public static class RateLimitServices
{
    /// <summary>The API's token buckets, the sign-in throttle, the password-hashing gate, trusted proxies and CORS.</summary>
    public static IServiceCollection AddRateLimits(this IServiceCollection services, ClarityOptions options)
    {
        services.AddHttpContextAccessor();
        services.AddHttpEdge(options);
        services.AddSingleton<RateLimitStore>();
        services.AddSingleton<ApiRateLimiter>();
        services.AddHostedService<RateLimitMaintenance>();
        services.AddSingleton<PasswordHashingGate>();
        services.AddSingleton<SignInThrottleStore>();
        services.AddSingleton<SignInThrottle>();
        services.AddSingleton<ISweep, SignInThrottleSweep>();
        return services;
    }
}
