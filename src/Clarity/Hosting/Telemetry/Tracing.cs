using System.Diagnostics;
using Clarity.Events;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Clarity.Hosting.Telemetry;

/// <summary>
/// Tracing over OTLP, on only when Clarity:Otlp:Endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT) is set. Spans come from
/// ASP.NET Core's own request activity (source "Microsoft.AspNetCore", which continues an incoming W3C traceparent)
/// and from Clarity's <see cref="Source"/> for work worth a span of its own (checkout). The DI container disposes
/// this with the host, which flushes and shuts the exporter down.
/// </summary>
public sealed class ClarityTracing : IDisposable
{
    public const string SourceName = "Clarity";

    /// <summary>Clarity's spans. An ActivitySource is only a name: unlike a Meter it holds no per-host state, so one static instance serves every host.</summary>
    public static readonly ActivitySource Source = new(SourceName);

    private ClarityTracing(TracerProvider? provider) => Provider = provider;

    /// <summary>The SDK's provider, or null when no endpoint is configured (then nothing listens and nothing is exported).</summary>
    public TracerProvider? Provider { get; }

    public bool Enabled => Provider is not null;

    public static ClarityTracing Create(OtlpOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Endpoint))
        {
            return new ClarityTracing(null);
        }

        var grpc = options.Protocol == "grpc";
        var endpoint = new Uri(options.Endpoint, UriKind.Absolute);
        if (!grpc && !endpoint.AbsolutePath.EndsWith("/v1/traces", StringComparison.Ordinal))
        {
            // Like OTEL_EXPORTER_OTLP_ENDPOINT, the setting names the collector; http/protobuf traces go to its /v1/traces.
            endpoint = new Uri(endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/v1/traces");
        }

        var provider = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(ResourceBuilder.CreateDefault().AddService(options.ServiceName))
            .AddSource("Microsoft.AspNetCore", SourceName)
            .AddOtlpExporter(o =>
            {
                o.Endpoint = endpoint;
                o.Protocol = grpc ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
            })
            .Build();
        return new ClarityTracing(provider);
    }

    /// <summary>Exports every finished span now (tests, and shutdown).</summary>
    public bool ForceFlush(int timeoutMilliseconds = 10_000) => Provider?.ForceFlush(timeoutMilliseconds) ?? true;

    public void Dispose() => Provider?.Dispose();

    /// <summary>
    /// Names the request span after its route and tags it with what ASP.NET Core does not know: the route template,
    /// the correlation id, the org and the status code. Cheap: it does nothing unless a listener records the span.
    /// </summary>
    public static async Task RequestMiddleware(HttpContext context, RequestDelegate next)
    {
        var activity = Activity.Current;
        if (activity is not { IsAllDataRequested: true })
        {
            await next(context);
            return;
        }

        activity.SetTag("clarity.correlation_id", CorrelationContext.Current);
        try
        {
            await next(context);
        }
        finally
        {
            if (context.GetEndpoint() is RouteEndpoint { RoutePattern.RawText: { } route })
            {
                activity.DisplayName = $"{context.Request.Method} {route}";
                activity.SetTag("http.route", route);
            }

            if (context.Features.Get<OrgContext>() is { } org)
            {
                activity.SetTag("clarity.org", org.Slug);
            }

            activity.SetTag("http.response.status_code", context.Response.StatusCode);
            if (context.Response.StatusCode >= 500)
            {
                activity.SetStatus(ActivityStatusCode.Error);
            }
        }
    }
}
