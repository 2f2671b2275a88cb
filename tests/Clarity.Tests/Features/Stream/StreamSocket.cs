using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Clarity.Tests.Infrastructure;

namespace Clarity.Tests.Features.Stream;

/// <summary>A test client of the stream WebSocket: sends raw messages, reads JSON messages, waits for outcomes with a timeout.</summary>
public sealed class StreamSocket : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly ClientWebSocket _socket;
    private readonly HttpMessageInvoker _invoker;

    private StreamSocket(ClientWebSocket socket, HttpMessageInvoker invoker)
    {
        _socket = socket;
        _invoker = invoker;
    }

    /// <summary>The first message, sent on connect.</summary>
    public JsonElement Hello { get; private set; }

    public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;

    /// <summary>The reason the server gave when it closed the socket (e.g. access-revoked).</summary>
    public string? CloseStatusDescription => _socket.CloseStatusDescription;

    public static Uri Address(Uri server, string org) =>
        new(new Uri(server.ToString().Replace("http://", "ws://", StringComparison.Ordinal)), $"api/v1/orgs/{org}/stream");

    /// <summary>Connects with a bearer credential, or with the session cookie (and an Origin) when <paramref name="cookie"/> is given.</summary>
    /// <param name="receiveBuffer">A small socket receive buffer makes a client that stops reading fall behind quickly.</param>
    public static async Task<StreamSocket> ConnectAsync(Uri server, string org, string? bearer, string? cookie = null, string? origin = null, int? receiveBuffer = null)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (bearer is not null)
        {
            socket.Options.SetRequestHeader("Authorization", "Bearer " + bearer);
        }

        if (cookie is not null)
        {
            socket.Options.SetRequestHeader("Cookie", "clarity_session=" + cookie);
        }

        if (origin is not null)
        {
            socket.Options.SetRequestHeader("Origin", origin);
        }

        var handler = new SocketsHttpHandler();
        if (receiveBuffer is { } size)
        {
            handler.ConnectCallback = async (context, ct) =>
            {
                var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveBufferSize = size };
                try
                {
                    await s.ConnectAsync(context.DnsEndPoint, ct);
                    return new NetworkStream(s, ownsSocket: true);
                }
                catch
                {
                    s.Dispose();
                    throw;
                }
            };
        }

        var invoker = new HttpMessageInvoker(handler);
        var client = new StreamSocket(socket, invoker);
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            await socket.ConnectAsync(Address(server, org), invoker, cts.Token);
            client.Hello = await client.ReceiveAsync() ?? throw new InvalidOperationException("Closed before hello.");
            return client;
        }
        catch (WebSocketException ex)
        {
            var status = socket.HttpStatusCode;
            await client.DisposeAsync();
            throw new UpgradeRefusedException(status, ex);
        }
    }

    /// <summary>Tries to connect and returns the HTTP status of a refused upgrade (101 when it was accepted).</summary>
    public static async Task<HttpStatusCode> UpgradeStatusAsync(Uri server, string org, string? bearer, string? cookie = null, string? origin = null)
    {
        try
        {
            await using var socket = await ConnectAsync(server, org, bearer, cookie, origin);
            return HttpStatusCode.SwitchingProtocols;
        }
        catch (UpgradeRefusedException ex)
        {
            return ex.Status;
        }
    }

    public Task SendAsync(object message) => SendTextAsync(JsonSerializer.Serialize(message));

    public async Task SendTextAsync(string text)
    {
        using var cts = new CancellationTokenSource(Timeout);
        await _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, cts.Token);
    }

    public async Task SendBinaryAsync(byte[] data)
    {
        using var cts = new CancellationTokenSource(Timeout);
        await _socket.SendAsync(data, WebSocketMessageType.Binary, true, cts.Token);
    }

    /// <summary>Subscribes and waits for the acknowledgement.</summary>
    public async Task SubscribeAsync(string[] topics, long? lastEventId = null)
    {
        await SendAsync(lastEventId is null ? new { type = "subscribe", topics } : new { type = "subscribe", topics, lastEventId });
        await NextAsync(m => m.Str("type") == "subscribed", "subscribed");
    }

    /// <summary>The next message, or null when the server closed the socket.</summary>
    public async Task<JsonElement?> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Timeout);
        using var message = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var result = await _socket.ReceiveAsync(buffer, cts.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }

            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return JsonDocument.Parse(message.ToArray()).RootElement.Clone();
            }
        }
    }

    /// <summary>Reads until a message matches; fails if the socket closes or nothing matches in time. Returns everything read.</summary>
    public async Task<List<JsonElement>> ReadUntilAsync(Func<JsonElement, bool> match, string what)
    {
        var seen = new List<JsonElement>();
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"No {what} within {Timeout}; saw: {string.Join(", ", seen.Select(s => s.ToString()).TakeLast(10))}");
            }

            JsonElement? next;
            try
            {
                next = await ReceiveAsync(left);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"No {what} within {Timeout}; saw: {string.Join(", ", seen.Select(s => s.ToString()).TakeLast(10))}");
            }

            if (next is not { } m)
            {
                throw new InvalidOperationException($"The socket closed before {what}; saw: {string.Join(", ", seen.Select(s => s.ToString()).TakeLast(10))}");
            }

            seen.Add(m);
            if (match(m))
            {
                return seen;
            }
        }
    }

    public async Task<JsonElement> NextAsync(Func<JsonElement, bool> match, string what) => (await ReadUntilAsync(match, what))[^1];

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
        }

        _socket.Dispose();
        _invoker.Dispose();
    }
}

public sealed class UpgradeRefusedException(HttpStatusCode status, Exception inner) : Exception($"The upgrade was refused with {(int)status}.", inner)
{
    public HttpStatusCode Status { get; } = status;
}

/// <summary>Helpers for reading stream messages.</summary>
public static class StreamMessages
{
    public static bool IsEvent(this JsonElement m, string kind) => m.Str("type") == "event" && m.Str("event") == kind;

    public static bool IsTaskEvent(this JsonElement m, string taskId) => m.IsEvent("task") && m.GetProperty("data").Str("taskId") == taskId;

    public static long Id(this JsonElement m) => m.GetProperty("id").GetInt64();
}
