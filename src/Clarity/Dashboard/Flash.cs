namespace Clarity.Dashboard;

/// <summary>
/// A one-time message carried across a post/redirect/get in a short-lived cookie ("answered", "member added",
/// or the error a service gave). Never carries a secret: the API key secret is rendered in the POST response itself.
/// </summary>
public static class Flash
{
    private const string Cookie = "clarity_flash";

    public sealed record Message(bool Ok, string Text);

    public static void Set(HttpContext http, bool ok, string text) =>
        http.Response.Cookies.Append(Cookie, (ok ? "ok:" : "error:") + Uri.EscapeDataString(text.Length > 400 ? text[..400] : text), new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = http.Request.IsHttps,
            Path = "/",
            MaxAge = TimeSpan.FromMinutes(1),
        });

    /// <summary>Reads and clears the message, if any.</summary>
    public static Message? Take(HttpContext http)
    {
        if (!http.Request.Cookies.TryGetValue(Cookie, out var value) || string.IsNullOrEmpty(value))
        {
            return null;
        }

        if (!http.Response.HasStarted)
        {
            http.Response.Cookies.Delete(Cookie, new CookieOptions { Path = "/" });
        }

        var ok = value.StartsWith("ok:", StringComparison.Ordinal);
        var text = Uri.UnescapeDataString(value[(value.IndexOf(':', StringComparison.Ordinal) + 1)..]);
        return new Message(ok, text);
    }
}
