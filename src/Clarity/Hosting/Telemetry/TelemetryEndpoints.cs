using System.Diagnostics.Metrics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Clarity.Hosting.Telemetry;

/// <summary>
/// Metrics and tracing on OpenTelemetry's SDK. <c>GET /metrics</c> is its Prometheus exporter. It needs no Clarity
/// credential (Prometheus has none): with Clarity:Metrics:Token set it requires <c>Authorization: Bearer &lt;token&gt;</c>,
/// otherwise it answers loopback clients only.
/// </summary>
public static class TelemetryEndpoints
{
    /// <summary>The meters <c>GET /metrics</c> exports: Clarity's own and ASP.NET Core's request and connection metrics.</summary>
    public static readonly IReadOnlyList<string> MeterNames = [ClarityMetrics.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel"];

    public static IServiceCollection AddTelemetry(this IServiceCollection services, ClarityOptions options)
    {
        services.AddSingleton<ClarityMetrics>();
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(options.Otlp.ServiceName))
            .WithMetrics(metrics => metrics
                .AddMeter([.. MeterNames])
                .AddPrometheusExporter(o =>
                {
                    o.ScrapeResponseCacheDurationMilliseconds = 0; // every scrape sees the numbers of that moment
                    o.ScopeInfoEnabled = false;                    // no otel_scope_name label: the series keep their labels
                }))
            .AddClarityTracing(options.Otlp);

        // The SDK listens to meters by name, process-wide: keep to the meters of this host's IMeterFactory, so that
        // several hosts in one process (the tests) never count each other's measurements.
        services.ConfigureOpenTelemetryMeterProvider((sp, metrics) =>
        {
            var own = sp.GetRequiredService<IMeterFactory>();
            metrics.AddView(instrument => ReferenceEquals(instrument.Meter.Scope, own) ? null : MetricStreamConfiguration.Drop);
        });
        return services;
    }

    public static IEndpointRouteBuilder MapMetricsEndpoint(this IEndpointRouteBuilder app)
    {
        app.MapPrometheusScrapingEndpoint("/metrics", meterProvider: null, configureBranchedPipeline: scrape => scrape.Use(BeforeScrapeAsync), optionsName: null)
            .WithMetadata(new HttpMethodMetadata(["GET"]))
            .Public()
            .ExcludeFromDescription();
        return app;
    }

    /// <summary>Checks access, then reads what the database-backed gauge reports, before the exporter collects.</summary>
    private static async Task BeforeScrapeAsync(HttpContext context, RequestDelegate next)
    {
        var services = context.RequestServices;
        CheckAccess(context, services.GetRequiredService<IOptions<ClarityOptions>>().Value.Metrics.Token);
        await services.GetRequiredService<ClarityMetrics>().RefreshAsync(context.RequestAborted);
        context.Response.Headers.CacheControl = "no-store";
        await next(context);
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
