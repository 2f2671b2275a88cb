using Clarity.Features.Identity;
using Clarity.Hosting;

namespace Clarity.Features.Notifications.Email;

/// <summary>The lookup the one-time links of mails share (answer links and acknowledge links).</summary>
internal static class EmailLinkLookup
{
    /// <summary>
    /// The link a token names, counted like a sign-in attempt of the client's address: an unknown token is a failure. A
    /// refusal is the page <paramref name="refuse"/> makes for its status: 404 (no such link) or 429 (too many attempts,
    /// with Retry-After).
    /// </summary>
    public static async Task<(TLink? Link, TPage? Refusal)> FindAsync<TLink, TPage>(
        HttpContext http, SignInThrottle throttle, Func<CancellationToken, Task<TLink?>> find, Func<int, TPage> refuse)
        where TLink : class
        where TPage : class
    {
        var ct = http.RequestAborted;
        try
        {
            using var attempt = await throttle.BeginSetupAsync(ct);
            var link = await find(ct);
            if (link is null)
            {
                return (null, refuse(StatusCodes.Status404NotFound));
            }

            await attempt.SucceededAsync(ct);
            return (link, null);
        }
        catch (ApiException ex) when (ex.Status == StatusCodes.Status429TooManyRequests)
        {
            if (ex.RetryAfter is { } wait)
            {
                http.Response.Headers.RetryAfter = Problems.RetryAfterSeconds(wait).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            return (null, refuse(StatusCodes.Status429TooManyRequests));
        }
    }
}
