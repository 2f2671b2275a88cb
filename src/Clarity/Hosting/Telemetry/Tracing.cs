using System.Diagnostics;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Trace;

namespace Clarity.Hosting.Telemetry;

/// <summary>
/// Tracing over OTLP with the OpenTelemetry SDK, on only when Clarity:Otlp:Endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT) is
/// set. The standard instrumentations make the spans: ASP.NET Core's request activity (which continues an incoming W3C
/// traceparent), outgoing HttpClient calls and Npgsql commands; Clarity's <see cref="Source"/> adds work worth a span
/// of its own (checkout). The host disposes the tracer provider, which flushes and shuts the exporter down.
/// </summary>
public static class ClarityTracing
{
    public const string SourceName = "Clarity";

    /// <summary>Clarity's spans. An ActivitySource is only a name: unlike a Meter it holds no per-host state, so one static instance serves every host.</summary>
    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>Adds the tracer provider when an endpoint is configured; without one no provider, listener or exporter exists.</summary>
    public static IOpenTelemetryBuilder AddClarityTracing(this IOpenTelemetryBuilder telemetry, OtlpOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Endpoint))
        {
            return telemetry;
        }

        var grpc = options.Protocol == "grpc";
        var endpoint = new Uri(options.Endpoint, UriKind.Absolute);
        if (!grpc && !endpoint.AbsolutePath.EndsWith("/v1/traces", StringComparison.Ordinal))
        {
            // Like OTEL_EXPORTER_OTLP_ENDPOINT, the setting names the collector; http/protobuf traces go to its /v1/traces
            // (the SDK appends that path only to the endpoint it reads itself, not to one set in code).
            endpoint = new Uri(endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/v1/traces");
        }

        return telemetry.WithTracing(tracing => tracing
            .AddSource(SourceName)
            .AddAspNetCoreInstrumentation(o => o.EnrichWithHttpResponse = EnrichRequestSpan)
            .AddHttpClientInstrumentation()
            .AddNpgsql()
            .AddOtlpExporter(o =>
            {
                o.Endpoint = endpoint;
                o.Protocol = grpc ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
            }));
    }

    /// <summary>
    /// Tags the request span with what ASP.NET Core does not know: the correlation id and the org. Called as the span
    /// ends, when both are settled (the correlation id middleware runs after the span starts).
    /// </summary>
    private static void EnrichRequestSpan(Activity activity, HttpResponse response)
    {
        var context = response.HttpContext;
        activity.SetTag("clarity.correlation_id", CorrelationId.Get(context));
        if (context.Features.Get<OrgContext>() is { } org)
        {
            activity.SetTag("clarity.org", org.Slug);
        }
    }
}
