using Microsoft.Extensions.Options;

namespace Clarity.Hosting;

/// <summary>The site's own base URL, for links Clarity hands out (invitation links).</summary>
public static class SiteUrl
{
    /// <summary>
    /// <c>Clarity:PublicUrl</c> when it is set (the address people reach Clarity by, behind a proxy), else the scheme and
    /// host this request came in by; without a trailing slash.
    /// </summary>
    public static string Of(HttpContext http) =>
        http.RequestServices.GetRequiredService<IOptions<ClarityOptions>>().Value.PublicUrl is { Length: > 0 } configured
            ? configured.TrimEnd('/')
            : $"{http.Request.Scheme}://{http.Request.Host.Value}";
}
