namespace Clarity.Hosting;

/// <summary>The session cookie, set by <c>POST /api/v1/auth/login</c> and the dashboard's sign-in and setup pages alike: the sign-in JWT.</summary>
public static class SessionCookie
{
    public const string Name = "clarity_session";

    public static void Append(HttpContext http, string token, DateTimeOffset expiresAt) =>
        http.Response.Cookies.Append(Name, token, new CookieOptions
        {
            HttpOnly = true,
            Secure = http.Request.IsHttps,
            SameSite = SameSiteMode.Lax,
            Expires = expiresAt,
            Path = "/",
        });

    public static void Delete(HttpContext http) =>
        http.Response.Cookies.Delete(Name, new CookieOptions { Path = "/" });
}
