using System.Globalization;

namespace Clarity.Hosting.RateLimiting;

/// <summary>
/// Rate-limits authenticated API requests (endpoints that declare RequirePermission, RequireUser or RequireCaller),
/// after <see cref="AccessMiddleware"/> has resolved the caller and the org. Public endpoints (health, metrics,
/// OpenAPI, static assets, sign-in and setup, which have their own throttle) and dashboard pages are not limited.
/// A long-poll or a stream is one request, so it counts once. Every limited answer carries <c>RateLimit-Limit</c>,
/// <c>RateLimit-Remaining</c> and <c>RateLimit-Reset</c> of the most constraining bucket; over the limit the answer
/// is 429 problem+json (<c>urn:clarity:problem:rate-limited</c>) with <c>Retry-After</c>.
/// </summary>
public sealed class ApiRateLimitMiddleware(RequestDelegate next, ApiRateLimiter limiter)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var metadata = context.GetEndpoint()?.Metadata;
        if (metadata is null
            || (metadata.GetMetadata<RequiresPermission>() is null && metadata.GetMetadata<RequiresCaller>() is null)
            || context.Features.Get<Caller>() is not { } caller)
        {
            await next(context);
            return;
        }

        var decision = await limiter.AcquireAsync(caller, context.Features.Get<OrgContext>(), context.RequestAborted);
        if (decision is null)
        {
            await next(context);
            return;
        }

        // Set as the response starts: an error answer clears the headers set before it.
        context.Response.OnStarting(static state =>
        {
            var (response, state2) = ((HttpResponse, BucketState))state;
            response.Headers["RateLimit-Limit"] = state2.Limit.ToString(CultureInfo.InvariantCulture);
            response.Headers["RateLimit-Remaining"] = state2.Remaining.ToString(CultureInfo.InvariantCulture);
            response.Headers["RateLimit-Reset"] = state2.ResetSeconds.ToString(CultureInfo.InvariantCulture);
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

        await next(context);
    }
}
