using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using Clarity.Hosting.Telemetry;
using Clarity.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Xunit;

namespace Clarity.Tests.Hosting;

/// <summary>
/// Tracing end to end: a real OTLP/HTTP receiver on loopback gets the spans of a request that came with a W3C
/// traceparent, and the decoded protobuf shows the trace continued from the caller's span, with Clarity's checkout
/// span, the database commands (Npgsql) and outgoing HttpClient calls in it.
/// </summary>
public abstract class TracingTests(Backend backend) : IAsyncLifetime
{
    private const int ServerKind = 2;
    private const int ClientKind = 3;

    private OtlpReceiver _receiver = null!;
    private ClarityHost _host = null!;
    private OrgSession _org = null!;

    /// <summary>Whether the backend's driver makes spans of its own: Npgsql does; Microsoft.Data.Sqlite has no ActivitySource.</summary>
    protected abstract bool DatabaseSpans { get; }

    public async Task InitializeAsync()
    {
        _receiver = await OtlpReceiver.StartAsync();
        _host = await ClarityHost.StartAsync(backend, new Dictionary<string, string?>
        {
            ["Clarity:Otlp:Endpoint"] = _receiver.BaseAddress,
            ["Clarity:Otlp:ServiceName"] = "clarity-under-test",
            // The SDK's own standard settings come from the configuration (the environment, for `clarity serve`).
            ["OTEL_EXPORTER_OTLP_HEADERS"] = "x-collector-key=from-configuration",
        });
        _org = await _host.SetupAsync("acme");
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _receiver.DisposeAsync();
    }

    [Fact]
    public async Task Request_WithTraceparent_IsExportedOverOtlp_AsAChildOfTheCallersSpan()
    {
        var traceId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var parentId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var queue = Work.Unique("traced");
        using (var creator = _host.CreateClient(_org.MemberKey))
        {
            await creator.CreateTaskAsync(_org, new { queue, title = "traced work" });
        }

        // The agent is another process: its HttpClient is not instrumented by this process's tracer provider (which
        // would make the call a client span of its own and send that span's traceparent instead of the agent's).
        using var agent = new HttpClient(new SocketsHttpHandler { ActivityHeadersPropagator = null }) { BaseAddress = _host.BaseAddress };
        agent.DefaultRequestHeaders.Authorization = new("Bearer", _org.MemberKey);

        using var request = new HttpRequestMessage(HttpMethod.Post, _org.Api("work/checkout"))
        {
            Content = JsonContent.Create(new { agent = "tracer", queues = new[] { queue } }),
        };
        request.Headers.Add("traceparent", $"00-{traceId}-{parentId}-01");
        request.Headers.Add("X-Correlation-Id", "trace-corr-1");
        Assert.Equal(HttpStatusCode.OK, (await agent.SendAsync(request)).StatusCode);

        Assert.True(_host.Services.GetRequiredService<TracerProvider>().ForceFlush());
        // The request span ends last, after every span under it: once it has arrived, the whole trace has.
        await _receiver.WaitForSpansAsync(s => s.TraceId == traceId && s.ParentSpanId == parentId, count: 1);
        var spans = await _receiver.WaitForSpansAsync(s => s.TraceId == traceId, count: 2);

        // ASP.NET Core's request span, with the standard HTTP semantic conventions and Clarity's own tags.
        var server = spans.Single(s => s.ParentSpanId == parentId);
        Assert.Equal("Microsoft.AspNetCore", server.Scope);
        Assert.Equal(ServerKind, server.Kind);
        Assert.Equal("clarity-under-test", server.Resource["service.name"]);
        Assert.Equal("/api/v1/orgs/{org}/work/checkout", server.Attributes["http.route"]);
        Assert.Equal("POST /api/v1/orgs/{org}/work/checkout", server.Name);
        Assert.Equal("POST", server.Attributes["http.request.method"]);
        Assert.Equal(_org.Api("work/checkout"), server.Attributes["url.path"].TrimStart('/'));
        Assert.Equal("200", server.Attributes["http.response.status_code"]);
        Assert.Equal("trace-corr-1", server.Attributes["clarity.correlation_id"]);
        Assert.Equal("acme", server.Attributes["clarity.org"]);

        // Clarity's own checkout span hangs under the request span, in the same trace.
        var checkout = spans.Single(s => s.Name == "checkout");
        Assert.Equal(("Clarity", server.SpanId), (checkout.Scope, checkout.ParentSpanId));
        Assert.Equal(queue, checkout.Attributes["clarity.queue"]);
        Assert.Equal("false", checkout.Attributes["clarity.waited"]);

        // The database commands are client spans of the same trace: the claim's under the checkout span.
        var commands = spans.Where(s => s.Scope == "Npgsql").ToList();
        if (DatabaseSpans)
        {
            Assert.NotEmpty(commands);
            Assert.All(commands, c => Assert.Equal(ClientKind, c.Kind));
            Assert.All(commands, c => Assert.Contains(c.ParentSpanId, spans.Select(s => s.SpanId)));
            Assert.Contains(commands, c => c.ParentSpanId == checkout.SpanId);
            Assert.All(commands, c => Assert.Equal("postgresql", c.Attributes["db.system.name"]));
            Assert.Contains(commands, c => c.Attributes.GetValueOrDefault("db.query.text")?.StartsWith("UPDATE tasks SET status = 'running'", StringComparison.Ordinal) == true);
        }
        else
        {
            Assert.Empty(commands);
        }

        // OTEL_EXPORTER_OTLP_HEADERS reached the exporter.
        Assert.Contains("from-configuration", _receiver.ExportHeaders("x-collector-key"));
    }

    [Fact]
    public async Task OutgoingHttpClientCall_IsAClientSpan_AndCarriesTheTraceToTheServerItCalls()
    {
        string traceId;
        string parentId;
        using (var parent = ClarityTracing.Source.StartActivity("outgoing-parent"))
        {
            Assert.NotNull(parent);
            (traceId, parentId) = (parent.TraceId.ToHexString(), parent.SpanId.ToHexString());
            using var http = new HttpClient();
            Assert.Equal("pong", await http.GetStringAsync(_receiver.BaseAddress + "/echo"));
        }

        Assert.True(_host.Services.GetRequiredService<TracerProvider>().ForceFlush());
        var call = (await _receiver.WaitForSpansAsync(s => s.TraceId == traceId && s.ParentSpanId == parentId && s.Kind == ClientKind, count: 1)).Single();
        Assert.Equal("System.Net.Http", call.Scope);
        Assert.Equal("GET", call.Attributes["http.request.method"]);
        Assert.Equal(_receiver.BaseAddress + "/echo", call.Attributes["url.full"]);
        Assert.Equal("200", call.Attributes["http.response.status_code"]);

        // The call carried the trace on: the server it called saw this client span as the parent.
        Assert.Contains($"00-{traceId}-{call.SpanId}-01", _receiver.EchoTraceparents);
    }

    [Fact]
    public async Task WithoutAnEndpoint_NoTracerProviderIsCreated_ButMetricsStillAre()
    {
        await using var host = await ClarityHost.StartAsync(backend);
        Assert.Null(host.Services.GetService<TracerProvider>());
        Assert.NotNull(host.Services.GetService<MeterProvider>());
        Assert.NotNull(_host.Services.GetService<TracerProvider>());
    }

    [Fact]
    public void Endpoint_NamesTheCollector_AndMustBeAnHttpUrl()
    {
        var error = Assert.ThrowsAny<Exception>(() => Clarity.Hosting.ClarityServer.Create(new Dictionary<string, string?> { ["Clarity:Otlp:Endpoint"] = "collector:4318" }));
        Assert.Contains("Clarity:Otlp:Endpoint", error.Message, StringComparison.Ordinal);
    }

    /// <summary>The built server as `clarity serve` runs it, configured by the standard OTEL_* environment variables alone.</summary>
    [Fact]
    public async Task ServeCommand_FollowsTheStandardOtelEnvironmentVariables()
    {
        var dir = TestDatabases.NewTempDirectory();
        try
        {
            var database = backend == Backend.Postgres ? await TestDatabases.CreatePostgresAsync() : null;
            await using var server = await ServerProcess.StartAsync(dir, database, new Dictionary<string, string>
            {
                ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _receiver.BaseAddress,
                ["OTEL_SERVICE_NAME"] = "clarity-from-environment",
                ["OTEL_EXPORTER_OTLP_HEADERS"] = "x-collector-key=from-environment",
                ["OTEL_RESOURCE_ATTRIBUTES"] = "deployment.environment.name=tracing-test",
            });
            using var client = ClarityHost.ClientFor(server.BaseAddress, null);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("readyz")).StatusCode);

            // The child exports on its own schedule (a batch every 5 s): wait for its readiness span.
            var ready = (await _receiver.WaitForSpansAsync(s => s.Resource.GetValueOrDefault("service.name") == "clarity-from-environment" && s.Name == "GET /readyz", count: 1))[0];
            Assert.Equal("tracing-test", ready.Resource["deployment.environment.name"]);
            Assert.Equal(ServerKind, ready.Kind);
            Assert.Contains("from-environment", _receiver.ExportHeaders("x-collector-key"));
        }
        finally
        {
            TestDatabases.DeleteDirectory(dir);
        }
    }
}

public sealed class SqliteTracingTests() : TracingTests(Backend.Sqlite)
{
    protected override bool DatabaseSpans => false;
}

public sealed class PostgresTracingTests() : TracingTests(Backend.Postgres)
{
    protected override bool DatabaseSpans => true;
}

/// <summary>One decoded span: ids in lowercase hex, attributes as strings.</summary>
public sealed record OtlpSpan(string TraceId, string SpanId, string ParentSpanId, string Name, int Kind, string Scope,
    IReadOnlyDictionary<string, string> Attributes, IReadOnlyDictionary<string, string> Resource);

/// <summary>
/// A real OTLP/HTTP receiver: Kestrel on 127.0.0.1 accepting POST /v1/traces (application/x-protobuf), decoding each
/// ExportTraceServiceRequest with a small protobuf reader (the exporter no longer ships Google.Protobuf).
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<OtlpSpan> _spans = new();
    private readonly ConcurrentQueue<IHeaderDictionary> _exportHeaders = new();
    private readonly ConcurrentQueue<string> _echoTraceparents = new();

    private OtlpReceiver(WebApplication app) => _app = app;

    public string BaseAddress => _app.Urls.First();

    /// <summary>The traceparent headers GET /echo received (a stand-in for a service Clarity calls).</summary>
    public IReadOnlyList<string> EchoTraceparents => [.. _echoTraceparents];

    /// <summary>The values of one request header over every export received so far.</summary>
    public IReadOnlyList<string> ExportHeaders(string name) => [.. _exportHeaders.SelectMany(h => h[name]).OfType<string>()];

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrelCore().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.MapPost("/v1/traces", async (HttpContext context) =>
        {
            Assert.Equal("application/x-protobuf", context.Request.ContentType);
            receiver._exportHeaders.Enqueue(new HeaderDictionary(context.Request.Headers.ToDictionary()));
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            foreach (var span in Decode(body.ToArray()))
            {
                receiver._spans.Enqueue(span);
            }

            context.Response.ContentType = "application/x-protobuf";
            await context.Response.Body.WriteAsync(Array.Empty<byte>());
        });
        app.MapGet("/echo", (HttpContext context) =>
        {
            receiver._echoTraceparents.Enqueue(context.Request.Headers.TraceParent.ToString());
            return "pong";
        });
        await app.StartAsync();
        return receiver;
    }

    /// <summary>Waits (generously) until <paramref name="count"/> matching spans have arrived.</summary>
    public async Task<IReadOnlyList<OtlpSpan>> WaitForSpansAsync(Func<OtlpSpan, bool> match, int count)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (true)
        {
            var found = _spans.Where(match).ToList();
            if (found.Count >= count)
            {
                return found;
            }

            Assert.True(DateTimeOffset.UtcNow < deadline, $"Expected {count} spans, received {found.Count} matching of {_spans.Count}.");
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    // ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
    // ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }   Resource { repeated KeyValue attributes = 1; }
    // ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }          InstrumentationScope { string name = 1; }
    // Span { bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5; SpanKind kind = 6; repeated KeyValue attributes = 9; }
    private static IEnumerable<OtlpSpan> Decode(byte[] request)
    {
        foreach (var resourceSpans in Protobuf.Messages(request, 1))
        {
            var resource = Protobuf.Messages(resourceSpans, 1).Select(r => Attributes(r, 1)).FirstOrDefault() ?? new Dictionary<string, string>();
            foreach (var scopeSpans in Protobuf.Messages(resourceSpans, 2))
            {
                var scope = Protobuf.Messages(scopeSpans, 1).Select(s => Protobuf.String(s, 1)).FirstOrDefault() ?? "";
                foreach (var span in Protobuf.Messages(scopeSpans, 2))
                {
                    yield return new OtlpSpan(
                        Protobuf.Hex(span, 1), Protobuf.Hex(span, 2), Protobuf.Hex(span, 4), Protobuf.String(span, 5) ?? "",
                        (int)Protobuf.Varint(span, 6), scope, Attributes(span, 9), resource);
                }
            }
        }
    }

    // KeyValue { string key = 1; AnyValue value = 2; }  AnyValue { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; }
    private static Dictionary<string, string> Attributes(ReadOnlyMemory<byte> message, int field)
    {
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var kv in Protobuf.Messages(message, field))
        {
            var key = Protobuf.String(kv, 1) ?? "";
            var value = Protobuf.Messages(kv, 2).FirstOrDefault();
            var field0 = Protobuf.Fields(value).FirstOrDefault();
            attributes[key] = field0.Number switch
            {
                1 => Encoding.UTF8.GetString(field0.Bytes.Span),
                2 => field0.Varint != 0 ? "true" : "false",
                3 => ((long)field0.Varint).ToString(System.Globalization.CultureInfo.InvariantCulture),
                4 => BitConverter.Int64BitsToDouble((long)field0.Varint).ToString(System.Globalization.CultureInfo.InvariantCulture),
                _ => "",
            };
        }

        return attributes;
    }

    /// <summary>Just enough of the protobuf wire format to walk messages: varints, fixed 32/64 and length-delimited fields.</summary>
    private static class Protobuf
    {
        public static IEnumerable<(int Number, ulong Varint, ReadOnlyMemory<byte> Bytes)> Fields(ReadOnlyMemory<byte> message)
        {
            var position = 0;
            while (position < message.Length)
            {
                var key = ReadVarint(message.Span, ref position);
                var number = (int)(key >> 3);
                switch ((int)(key & 7))
                {
                    case 0:
                        yield return (number, ReadVarint(message.Span, ref position), default);
                        break;
                    case 1:
                        yield return (number, BitConverter.ToUInt64(message.Span.Slice(position, 8)), default);
                        position += 8;
                        break;
                    case 2:
                        var length = (int)ReadVarint(message.Span, ref position);
                        yield return (number, 0, message.Slice(position, length));
                        position += length;
                        break;
                    case 5:
                        yield return (number, BitConverter.ToUInt32(message.Span.Slice(position, 4)), default);
                        position += 4;
                        break;
                    default:
                        throw new InvalidDataException($"Unsupported protobuf wire type {key & 7}.");
                }
            }
        }

        public static IEnumerable<ReadOnlyMemory<byte>> Messages(ReadOnlyMemory<byte> message, int field) =>
            Fields(message).Where(f => f.Number == field).Select(f => f.Bytes);

        public static string? String(ReadOnlyMemory<byte> message, int field) =>
            Messages(message, field).Select(b => Encoding.UTF8.GetString(b.Span)).FirstOrDefault();

        public static string Hex(ReadOnlyMemory<byte> message, int field) =>
            Messages(message, field).Select(b => Convert.ToHexStringLower(b.Span)).FirstOrDefault() ?? "";

        public static ulong Varint(ReadOnlyMemory<byte> message, int field) =>
            Fields(message).Where(f => f.Number == field).Select(f => f.Varint).FirstOrDefault();

        private static ulong ReadVarint(ReadOnlySpan<byte> data, ref int position)
        {
            ulong value = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = data[position++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }
        }
    }
}
