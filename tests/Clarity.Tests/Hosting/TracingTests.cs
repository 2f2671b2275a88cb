using System.Collections.Concurrent;
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
using Xunit;

namespace Clarity.Tests.Hosting;

/// <summary>
/// Tracing end to end: a real OTLP/HTTP receiver on loopback gets the spans of a request that came with a W3C
/// traceparent, and the decoded protobuf shows the trace continued from the caller's span.
/// </summary>
public sealed class TracingTests : IAsyncLifetime
{
    private OtlpReceiver _receiver = null!;
    private ClarityHost _host = null!;
    private OrgSession _org = null!;

    public async Task InitializeAsync()
    {
        _receiver = await OtlpReceiver.StartAsync();
        _host = await ClarityHost.StartAsync(Backend.Sqlite, new Dictionary<string, string?>
        {
            ["Clarity:Otlp:Endpoint"] = _receiver.BaseAddress,
            ["Clarity:Otlp:ServiceName"] = "clarity-under-test",
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
        using var agent = _host.CreateClient(_org.MemberKey);
        var queue = Work.Unique("traced");
        await agent.CreateTaskAsync(_org, new { queue, title = "traced work" });

        using var request = new HttpRequestMessage(HttpMethod.Post, _org.Api("work/checkout"))
        {
            Content = JsonContent.Create(new { agent = "tracer", queues = new[] { queue } }),
        };
        request.Headers.Add("traceparent", $"00-{traceId}-{parentId}-01");
        request.Headers.Add("X-Correlation-Id", "trace-corr-1");
        Assert.Equal(HttpStatusCode.OK, (await agent.SendAsync(request)).StatusCode);

        Assert.True(_host.Services.GetRequiredService<ClarityTracing>().ForceFlush());
        var spans = await _receiver.WaitForSpansAsync(s => s.TraceId == traceId, count: 2);

        var server = spans.Single(s => s.ParentSpanId == parentId);
        Assert.Equal("Microsoft.AspNetCore", server.Scope);
        Assert.Equal(2, server.Kind); // SPAN_KIND_SERVER
        Assert.Equal("clarity-under-test", server.Resource["service.name"]);
        Assert.Equal("/api/v1/orgs/{org}/work/checkout", server.Attributes["http.route"]);
        Assert.Equal("POST /api/v1/orgs/{org}/work/checkout", server.Name);
        Assert.Equal("trace-corr-1", server.Attributes["clarity.correlation_id"]);
        Assert.Equal("acme", server.Attributes["clarity.org"]);
        Assert.Equal("200", server.Attributes["http.response.status_code"]);

        // Clarity's own checkout span hangs under the request span, in the same trace.
        var checkout = spans.Single(s => s.Name == "checkout");
        Assert.Equal(("Clarity", server.SpanId), (checkout.Scope, checkout.ParentSpanId));
        Assert.Equal(queue, checkout.Attributes["clarity.queue"]);
        Assert.Equal("false", checkout.Attributes["clarity.waited"]);
    }

    [Fact]
    public async Task WithoutAnEndpoint_NoTracerProviderOrExporterIsCreated()
    {
        await using var host = await ClarityHost.StartAsync(Backend.Sqlite);
        var tracing = host.Services.GetRequiredService<ClarityTracing>();
        Assert.False(tracing.Enabled);
        Assert.Null(tracing.Provider);
        Assert.True(_host.Services.GetRequiredService<ClarityTracing>().Enabled);
    }

    [Fact]
    public void Endpoint_NamesTheCollector_AndMustBeAnHttpUrl()
    {
        var error = Assert.ThrowsAny<Exception>(() => Clarity.Hosting.ClarityServer.Create(new Dictionary<string, string?> { ["Clarity:Otlp:Endpoint"] = "collector:4318" }));
        Assert.Contains("Clarity:Otlp:Endpoint", error.Message, StringComparison.Ordinal);
    }
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

    private OtlpReceiver(WebApplication app) => _app = app;

    public string BaseAddress => _app.Urls.First();

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
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            foreach (var span in Decode(body.ToArray()))
            {
                receiver._spans.Enqueue(span);
            }

            context.Response.ContentType = "application/x-protobuf";
            await context.Response.Body.WriteAsync(Array.Empty<byte>());
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
