using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Clarity.Features.Webhooks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Clarity.Tests.Features.Webhooks;

/// <summary>One delivery as the sink received it: the Standard Webhooks headers and the exact body.</summary>
public sealed record ReceivedDelivery(string MessageId, string Timestamp, string Signature, byte[] Body)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement.Clone();

    /// <summary>Whether one of the signatures in the header is ours over this delivery, by <see cref="WebhookSignature"/>.</summary>
    public bool SignedWith(string secret) =>
        long.TryParse(Timestamp, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ts)
        && Signature.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(WebhookSignature.Sign(WebhookSignature.KeyOf(secret), MessageId, ts, Body), StringComparer.Ordinal);
}

/// <summary>
/// A webhook receiver inside the test process (Kestrel on 127.0.0.1): it records every POST to <c>/hooks/{name}</c>
/// and answers 204. It outlives the servers a test kills and restarts; <see cref="WebhookReceiver"/> is the one that
/// verifies with the reference implementation.
/// </summary>
public sealed class WebhookSink : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedDelivery> _received = new();

    private WebhookSink(WebApplication app) => _app = app;

    /// <summary>The URL of the hook <paramref name="name"/>.</summary>
    public string UrlOf(string name) => $"{_app.Urls.First().TrimEnd('/')}/hooks/{name}";

    /// <summary>Every delivery received so far, in arrival order.</summary>
    public IReadOnlyList<ReceivedDelivery> Received => [.. _received];

    public static async Task<WebhookSink> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrelCore().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var sink = new WebhookSink(app);
        app.MapPost("/hooks/{name}", async (HttpContext context) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            var headers = context.Request.Headers;
            sink._received.Enqueue(new ReceivedDelivery(headers["webhook-id"].ToString(), headers["webhook-timestamp"].ToString(), headers["webhook-signature"].ToString(), body.ToArray()));
            return Results.NoContent();
        });
        await app.StartAsync();
        return sink;
    }

    public override string ToString() => $"{_received.Count} deliveries: " + string.Join(Environment.NewLine, _received.TakeLast(20).Select(d => Encoding.UTF8.GetString(d.Body)));

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
