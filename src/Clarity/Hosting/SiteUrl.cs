namespace Clarity.Hosting;

/// <summary>The site's own base URL, for links Clarity hands out (invitation links).</summary>
public static class SiteUrl
{
    /// <summary>The base URL the request reached this server by (scheme and host), without a trailing slash.</summary>
    public static string Of(HttpContext http) => $"{http.Request.Scheme}://{http.Request.Host.Value}";
}
