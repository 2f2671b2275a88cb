using Clarity.Events;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Clarity.Events.Stream;
using Clarity.Features.Logs;
using Clarity.Hosting;
using Clarity.Hosting.Authorization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Stream;

/// <summary>
/// The real-time stream: a WebSocket at <c>GET …/stream</c> (subscribe, unsubscribe, ping; replay by lastEventId) and
/// server-sent events at <c>GET …/events?topics=…</c> for simple clients. Both carry the same event envelopes.
/// </summary>
public static partial class StreamEndpoints
{
    /// <summary>Largest client message accepted; a bigger one is discarded with an error message.</summary>
    public const int MaxClientMessageBytes = 64 * 1024;

    private static readonly TimeSpan s_keepAlive = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan s_closeGrace = TimeSpan.FromSeconds(10);

    /// <summary>An overflowed client that still does not read is dropped after this long (its resync cannot reach it).</summary>
    private static readonly TimeSpan s_overflowAbort = TimeSpan.FromSeconds(60);
    private static readonly byte[] s_keepAliveComment = ": keepalive\n\n"u8.ToArray();

    public static IServiceCollection AddStream(this IServiceCollection services)
    {
        services.AddMetrics();
        services.AddSingleton<IStreamLogSource, LogStreamSource>();
        services.AddSingleton<StreamHub>();
        services.AddHostedService(sp => sp.GetRequiredService<StreamHub>());
        services.AddSingleton<ISweep, StreamSweep>();
        return services;
    }

    public static IEndpointRouteBuilder MapStreamEndpoints(this IEndpointRouteBuilder app)
    {
        // Streams live for minutes or hours: they would swamp the request-duration histogram, and the
        // clarity_stream_connections gauge already describes them.
        var org = app.MapGroup("/api/v1/orgs/{org}").WithTags("Stream").DisableHttpMetrics();
        org.MapGet("/stream", WebSocketAsync).RequirePermission(Permissions.TasksRead);
        org.MapGet("/events", ServerSentEventsAsync).RequirePermission(Permissions.TasksRead);
        return app;
    }

    private static async Task WebSocketAsync(HttpContext http, OrgContext org, StreamHub hub, EventLog store, ILoggerFactory loggers)
    {
        if (!http.WebSockets.IsWebSocketRequest)
        {
            throw Problems.BadRequest("websocket-required",
                "This is a WebSocket endpoint: send an upgrade request (Connection: Upgrade, Upgrade: websocket), or use GET …/events?topics=… for server-sent events.");
        }

        CheckOrigin(http, org.Caller);
        var ct = http.RequestAborted;
        var position = await store.PositionAsync(ct);
        using var socket = await http.WebSockets.AcceptWebSocketAsync();
        var connection = hub.Connect(org.OrgId, "websocket", org.Caller);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var dropStuck = connection.OverflowSignal.Token.Register(() => stop.CancelAfter(s_overflowAbort));
        var logger = loggers.CreateLogger("Clarity.Stream");
        var watching = WatchAccessAsync(http, org, connection, stop.Token);
        try
        {
            connection.Send(StreamFrame.Hello(position.NewestId, hub.RetentionSeconds));
            var sending = SendLoopAsync(socket, connection, hub, stop.Token);
            var receiving = ReceiveLoopAsync(socket, connection, hub, stop.Token);
            if (await Task.WhenAny(sending, receiving) == receiving)
            {
                // The client closed (or vanished): stop sending, and answer its close.
                if (receiving.Exception?.InnerException is { } error and not (WebSocketException or OperationCanceledException))
                {
                    Log.ReceiveFailed(logger, error);
                }

                await stop.CancelAsync();
                await sending.ContinueWith(_ => { }, TaskScheduler.Default);
                if (socket.State == WebSocketState.CloseReceived)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).WaitAsync(s_closeGrace, CancellationToken.None);
                }
            }
            else
            {
                // The server closed (buffer overflow): give the client a moment to answer the close, then drop it.
                await receiving.WaitAsync(s_closeGrace, CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default);
                await stop.CancelAsync();
                await receiving.ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or TimeoutException)
        {
            Log.SocketEnded(logger, ex.Message);
        }
        finally
        {
            await stop.CancelAsync();
            await watching;
            hub.Disconnect(connection);
            if (socket.State is not (WebSocketState.Closed or WebSocketState.Aborted))
            {
                socket.Abort();
            }
        }
    }

    /// <summary>
    /// Browsers send cookies on cross-site WebSocket upgrades and the same-origin policy does not apply to them:
    /// a cookie-authenticated upgrade must come from a page of this host (cross-site WebSocket hijacking). What counts
    /// is where the credential came from, not which headers are present (an empty Authorization header changes nothing).
    /// </summary>
    private static void CheckOrigin(HttpContext http, Caller caller)
    {
        var origin = http.Request.Headers.Origin.ToString();
        if (caller.Source != CredentialSource.Cookie || origin.Length == 0)
        {
            return;
        }

        if (!SiteOrigin.IsSameSite(http.Request))
        {
            throw Problems.Forbidden($"A cookie-authenticated WebSocket must come from a page of this site; Origin '{(origin.Length > 100 ? origin[..100] : origin)}' is another site. Use a bearer token from other origins.");
        }
    }

    private static async Task SendLoopAsync(WebSocket socket, StreamConnection connection, StreamHub hub, CancellationToken ct)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct, connection.OverflowSignal.Token);
        try
        {
            while (await connection.WaitToReadAsync(wait.Token))
            {
                while (connection.TryRead(out var frame))
                {
                    await socket.SendAsync(frame.Json, WebSocketMessageType.Text, endOfMessage: true, ct);
                }

                if (connection.Overflowed)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // Overflowed while waiting for frames.
        }

        using var grace = CancellationTokenSource.CreateLinkedTokenSource(ct);
        grace.CancelAfter(s_closeGrace);
        if (connection.Overflowed)
        {
            // Skip what is still buffered: the client reloads state anyway.
            await socket.SendAsync(StreamFrame.Resync("buffer-overflow", hub.LastDispatchedId).Json, WebSocketMessageType.Text, endOfMessage: true, grace.Token);
            await socket.CloseOutputAsync(WebSocketCloseStatus.PolicyViolation, "buffer-overflow", grace.Token);
        }
        else
        {
            // The hub ended the stream: the server is stopping, or the credential was revoked.
            var reason = connection.EndReason ?? "server-stopping";
            var status = reason == "server-stopping" ? WebSocketCloseStatus.EndpointUnavailable : WebSocketCloseStatus.PolicyViolation;
            await socket.CloseOutputAsync(status, reason, grace.Token);
        }
    }

    private static async Task ReceiveLoopAsync(WebSocket socket, StreamConnection connection, StreamHub hub, CancellationToken ct)
    {
        var buffer = new byte[8192];
        using var message = new MemoryStream();
        while (true)
        {
            message.SetLength(0);
            var tooLarge = false;
            ValueWebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer.AsMemory(), ct);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }

                if (message.Length + result.Count > MaxClientMessageBytes)
                {
                    tooLarge = true;
                }
                else
                {
                    message.Write(buffer, 0, result.Count);
                }
            }
            while (!result.EndOfMessage);

            if (tooLarge)
            {
                connection.Send(StreamFrame.Error("too-large", $"A message may be at most {MaxClientMessageBytes} bytes; this one was discarded."));
            }
            else if (result.MessageType == WebSocketMessageType.Binary)
            {
                connection.Send(StreamFrame.Error("binary-frame", "Send JSON text frames; binary frames are not understood."));
            }
            else
            {
                await HandleAsync(message.GetBuffer().AsMemory(0, (int)message.Length), connection, hub, ct);
            }
        }
    }

    private static async Task HandleAsync(ReadOnlyMemory<byte> json, StreamConnection connection, StreamHub hub, CancellationToken ct)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException ex)
        {
            connection.Send(StreamFrame.Error("malformed-json", $"The message is not valid JSON: {ex.Message}"));
            return;
        }

        using (document)
        {
            var root = document.RootElement;
            if (JsonText.FindInvalidText(root) is { } where)
            {
                connection.Send(StreamFrame.Error("malformed-json", $"The message holds text that is not valid Unicode at '${where}': an unpaired UTF-16 surrogate escape (such as \\ud800) or bytes that are not UTF-8."));
                return;
            }

            if (root.ValueKind != JsonValueKind.Object)
            {
                connection.Send(StreamFrame.Error("malformed-json", "A message must be a JSON object with a \"type\": subscribe, unsubscribe or ping."));
                return;
            }

            var type = root.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            switch (type)
            {
                case "ping":
                    connection.Send(StreamFrame.Pong());
                    return;
                case "subscribe" or "unsubscribe":
                    break;
                case null:
                    connection.Send(StreamFrame.Error("unknown-type", "The message has no \"type\" string; use subscribe, unsubscribe or ping."));
                    return;
                default:
                    connection.Send(StreamFrame.Error("unknown-type", $"Unknown message type '{(type.Length > 40 ? type[..40] + "…" : type)}'; use subscribe, unsubscribe or ping."));
                    return;
            }

            if (!root.TryGetProperty("topics", out var topicsElement) || topicsElement.ValueKind != JsonValueKind.Array)
            {
                connection.Send(StreamFrame.Error("missing-topics", $"\"topics\" must be an array of topics, e.g. {{\"type\":\"{type}\",\"topics\":[\"tasks\"]}}."));
                return;
            }

            var requested = topicsElement.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString() : e.GetRawText()).ToList();
            if (!StreamTopics.TryValidate(requested, out var topics, out var error, out var detail))
            {
                connection.Send(StreamFrame.Error(error, detail));
                return;
            }

            if (type == "unsubscribe")
            {
                connection.Unsubscribe(topics);
                return;
            }

            long? lastEventId = null;
            if (root.TryGetProperty("lastEventId", out var last) && last.ValueKind != JsonValueKind.Null)
            {
                if (last.ValueKind != JsonValueKind.Number || !last.TryGetInt64(out var id) || id < 0)
                {
                    connection.Send(StreamFrame.Error("invalid-last-event-id", "\"lastEventId\" must be a non-negative integer event id (or left out)."));
                    return;
                }

                lastEventId = id;
            }

            if (!await hub.SubscribeAsync(connection, topics, lastEventId, ct))
            {
                connection.Send(StreamFrame.Error("too-many-topics",
                    $"A connection may follow at most {hub.MaxTopicsPerConnection} topics; this one follows {connection.Topics.Count}, and the subscription would take it past that. Unsubscribe from some first."));
            }
        }
    }

    private static async Task ServerSentEventsAsync(HttpContext http, OrgContext org, string? topics, string? lastEventId, StreamHub hub)
    {
        var requested = (topics ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (!StreamTopics.TryValidate(requested, out var parsed, out _, out var detail))
        {
            throw Problems.Validation("topics", detail);
        }

        var lastText = lastEventId ?? http.Request.Headers["Last-Event-ID"].ToString();
        long? after = null;
        if (lastText.Length > 0)
        {
            after = long.TryParse(lastText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id)
                ? id
                : throw Problems.Validation("lastEventId", "must be a non-negative integer event id (query lastEventId or header Last-Event-ID).");
        }

        var ct = http.RequestAborted;
        var response = http.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.Body.FlushAsync(ct);

        var connection = hub.Connect(org.OrgId, "sse", org.Caller);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var dropStuck = connection.OverflowSignal.Token.Register(() => stop.CancelAfter(s_overflowAbort));
        var watching = WatchAccessAsync(http, org, connection, stop.Token);
        try
        {
            var writing = WriteEventsAsync(response.Body, connection, hub, stop.Token);
            await hub.SubscribeAsync(connection, parsed, after, stop.Token);
            await writing;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The client went away.
        }
        finally
        {
            await stop.CancelAsync();
            await watching;
            hub.Disconnect(connection);
        }
    }

    /// <summary>
    /// A stream outlives the check made when it opened. Every <c>Stream:AccessCheckInterval</c> it asks
    /// <see cref="AccessResolver"/> again whether the caller still holds tasks:read in the org (a user's session still
    /// active; an API key not revoked, its role as it is now); otherwise the stream ends (<c>credential-expired</c>,
    /// <c>credential-revoked</c> or <c>access-revoked</c>). A revoked API key or session, and a membership that ends,
    /// end their streams at once (the hub hears of it on every node).
    /// </summary>
    private static async Task WatchAccessAsync(HttpContext http, OrgContext org, StreamConnection connection, CancellationToken ct)
    {
        var services = http.RequestServices;
        var access = services.GetRequiredService<AccessResolver>();
        var every = services.GetRequiredService<IOptions<ClarityOptions>>().Value.Stream.AccessCheckInterval;
        using var timer = new PeriodicTimer(every, services.GetRequiredService<TimeProvider>());
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                string? ended;
                try
                {
                    ended = await access.RecheckAsync(org, Permissions.TasksRead, ct);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The database is briefly unreachable: keep the stream and check again at the next tick.
                    continue;
                }

                if (ended is not null)
                {
                    connection.End(ended);
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The stream ended first.
        }
    }

    /// <summary>Writes events (and a keep-alive comment every 15 s) until the client leaves; a resync is written last.</summary>
    private static async Task WriteEventsAsync(System.IO.Stream body, StreamConnection connection, StreamHub hub, CancellationToken ct)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct, connection.OverflowSignal.Token);
        Task<bool>? pending = null;
        Task? keepAlive = null;
        while (!connection.Overflowed)
        {
            pending ??= connection.WaitToReadAsync(wait.Token).AsTask();
            keepAlive ??= Task.Delay(s_keepAlive, ct);
            if (await Task.WhenAny(pending, keepAlive) != pending)
            {
                keepAlive = null;
                await body.WriteAsync(s_keepAliveComment, ct);
                await body.FlushAsync(ct);
                continue;
            }

            bool more;
            try
            {
                more = await pending;
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                break;
            }
            finally
            {
                pending = null;
            }

            if (!more)
            {
                return;
            }

            while (connection.TryRead(out var frame))
            {
                if (frame.IsEvent || frame.Type == "resync")
                {
                    await WriteEventAsync(body, frame, ct);
                }

                if (frame.Type == "resync")
                {
                    await body.FlushAsync(ct);
                    return;
                }
            }

            await body.FlushAsync(ct);
        }

        await WriteEventAsync(body, StreamFrame.Resync("buffer-overflow", hub.LastDispatchedId), ct);
        await body.FlushAsync(ct);
    }

    private static async Task WriteEventAsync(System.IO.Stream body, StreamFrame frame, CancellationToken ct)
    {
        // A resync carries the id to follow from: as the SSE id, a browser's automatic reconnect sends it as
        // Last-Event-ID and resumes live from there instead of asking again for the id that caused the resync.
        var head = frame.IsEvent
            ? $"id: {frame.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)}\nevent: {frame.Kind}\ndata: "
            : frame.Type == "resync"
                ? $"id: {frame.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)}\nevent: resync\ndata: "
                : $"event: {frame.Type}\ndata: ";
        await body.WriteAsync(Encoding.UTF8.GetBytes(head), ct);
        await body.WriteAsync(frame.Json, ct);
        await body.WriteAsync("\n\n"u8.ToArray(), ct);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Stream WebSocket ended: {Reason}")]
        public static partial void SocketEnded(ILogger logger, string reason);

        [LoggerMessage(2, LogLevel.Error, "Stream WebSocket failed while handling a client message")]
        public static partial void ReceiveFailed(ILogger logger, Exception error);
    }
}
