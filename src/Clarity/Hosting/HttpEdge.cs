using System.Net;
using Microsoft.AspNetCore.HttpOverrides;

namespace Clarity.Hosting;

/// <summary>
/// What sits at the HTTP edge, both off unless configured: the framework's forwarded-headers middleware for trusted
/// reverse proxies (<c>Clarity:Http:TrustedProxies</c>), and the framework's CORS middleware for the allowed origins
/// (<c>Clarity:Cors:AllowedOrigins</c>; none by default, and then no CORS header is ever sent).
/// </summary>
public static class HttpEdge
{
    /// <summary>Headers a browser script on an allowed origin may read.</summary>
    public static readonly string[] ExposedHeaders =
        [CorrelationId.Header, "Location", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"];

    public static IServiceCollection AddHttpEdge(this IServiceCollection services, ClarityOptions options)
    {
        if (options.Http.TrustedProxies.Length > 0)
        {
            services.Configure<ForwardedHeadersOptions>(o =>
            {
                o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
                // Only the proxies named: not the loopback defaults. Each trusted hop may add one address.
                o.KnownProxies.Clear();
                o.KnownIPNetworks.Clear();
                o.ForwardLimit = null;
                foreach (var proxy in options.Http.TrustedProxies)
                {
                    if (IPAddress.TryParse(proxy, out var address))
                    {
                        o.KnownProxies.Add(address);
                    }
                    else
                    {
                        o.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(proxy));
                    }
                }
            });
        }

        if (options.Cors.AllowedOrigins.Length > 0)
        {
            services.AddCors(o => o.AddDefaultPolicy(policy => policy
                .WithOrigins(options.Cors.AllowedOrigins)
                .AllowAnyMethod()
                .AllowAnyHeader()
                .WithExposedHeaders(ExposedHeaders)
                .SetPreflightMaxAge(TimeSpan.FromMinutes(10))));
        }

        return services;
    }

    /// <summary>First in the pipeline, so that everything after it sees the client's address.</summary>
    public static IApplicationBuilder UseTrustedProxies(this IApplicationBuilder app, ClarityOptions options) =>
        options.Http.TrustedProxies.Length > 0 ? app.UseForwardedHeaders() : app;

    /// <summary>After routing and before access control, so that a preflight needs no credentials.</summary>
    public static IApplicationBuilder UseAllowedOrigins(this IApplicationBuilder app, ClarityOptions options) =>
        options.Cors.AllowedOrigins.Length > 0 ? app.UseCors() : app;
}
