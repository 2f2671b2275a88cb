using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Clarity.Hosting.Telemetry;

/// <summary>
/// <c>GET /metrics</c> in the Prometheus text format. It needs no Clarity credential (Prometheus has none): with
/// Clarity:Metrics:Token set it requires <c>Authorization: Bearer &lt;token&gt;</c>, otherwise it answers loopback clients only.
/// </summary>
public static class TelemetryEndpoints
{
    /// <summary>Metrics (instruments, the Prometheus exporter) and tracing (a tracer provider when an OTLP endpoint is configured).</summary>
    public static IServiceCollection AddTelemetry(this IServiceCollection services)
    {
        services.AddMetrics();
        services.AddSingleton<ClarityMetrics>();
        services.AddSingleton<IScrapeRefresh>(sp => sp.GetRequiredService<ClarityMetrics>());
        services.AddSingleton<PrometheusExporter>();
        services.AddSingleton(sp => ClarityTracing.Create(sp.GetRequiredService<IOptions<ClarityOptions>>().Value.Otlp));
        return services;
    }

    public static IEndpointRouteBuilder MapMetricsEndpoint(this IEndpointRouteBuilder app)
    {
        app.MapGet("/metrics", ScrapeAsync).Public().ExcludeFromDescription();
        return app;
    }

    private static async Task<IResult> ScrapeAsync(HttpContext context, PrometheusExporter exporter, IOptions<ClarityOptions> options, CancellationToken ct)
    {
        CheckAccess(context, options.Value.Metrics.Token);
        var text = await exporter.ScrapeAsync(ct);
        context.Response.Headers.CacheControl = "no-store";
        return TypedResults.Text(text, PrometheusText.ContentType, Encoding.UTF8);
    }

    internal static void CheckAccess(HttpContext context, string? token)
    {
        if (!string.IsNullOrEmpty(token))
        {
            var header = context.Request.Headers.Authorization.ToString();
            var sent = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : "";
            if (!TokenMatches(sent, token))
            {
                throw Problems.Unauthorized("GET /metrics needs 'Authorization: Bearer <Clarity:Metrics:Token>'.");
            }

            return;
        }

        if (!IsLoopback(context.Connection.RemoteIpAddress))
        {
            throw Problems.Forbidden("GET /metrics answers loopback clients only unless Clarity:Metrics:Token is set.");
        }
    }

    /// <summary>Compares SHA-256 digests in constant time, so neither the content nor the length of the token leaks through timing.</summary>
    public static bool TokenMatches(string sent, string expected) =>
        sent.Length > 0 && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(sent)), SHA256.HashData(Encoding.UTF8.GetBytes(expected)));

    public static bool IsLoopback(IPAddress? address) =>
        address is not null && (IPAddress.IsLoopback(address) || (address.IsIPv4MappedToIPv6 && IPAddress.IsLoopback(address.MapToIPv4())));
}
