using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Clarity.Client;

/// <summary>
/// One message of the real-time stream. <see cref="Type"/> is <c>event</c> (with <see cref="Id"/>, <see cref="Topic"/>,
/// <see cref="Event"/> and <see cref="Data"/>) or <c>resync</c> (with <see cref="Reason"/>: reload state from the REST
/// API; <see cref="Id"/> is then the newest event id to resume from).
/// </summary>
public sealed record StreamEvent(string Type, long Id, string? Topic, string? Event, DateTimeOffset? At, string? CorrelationId, JsonElement? Data, string? Reason)
{
    public bool IsResync => Type == "resync";
}

public sealed partial class ClarityClient
{
    /// <summary>
    /// Follows <paramref name="topics"/> of the client's org over the stream WebSocket. With <paramref name="lastEventId"/>,
    /// first replays what was missed after it. Yields events and resyncs; ends when the server closes the stream.
    /// A malformed request (an unknown topic) throws <see cref="ClarityApiException"/>.
    /// </summary>
    public async IAsyncEnumerable<StreamEvent> StreamAsync(IReadOnlyList<string> topics, long? lastEventId = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var http = new Uri(_baseAddress, OrgPath("/stream").TrimStart('/'));
        var ws = new UriBuilder(http) { Scheme = http.Scheme == Uri.UriSchemeHttps ? "wss" : "ws" }.Uri;
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (_http.DefaultRequestHeaders.Authorization is { } auth)
        {
            socket.Options.SetRequestHeader("Authorization", auth.ToString());
        }

        try
        {
            await socket.ConnectAsync(ws, ct);
        }
        catch (WebSocketException ex)
        {
            throw new ClarityApiException(socket.HttpStatusCode, null, "The stream upgrade was refused", ex.Message);
        }

        var subscribe = JsonSerializer.SerializeToUtf8Bytes(new { type = "subscribe", topics, lastEventId }, JsonOptions);
        await socket.SendAsync(subscribe, WebSocketMessageType.Text, endOfMessage: true, ct);

        var buffer = new byte[16 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            message.SetLength(0);
            ValueWebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer.AsMemory(), ct);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    yield break;
                }

                message.Write(buffer, 0, result.Count);
            }
            while (!result.EndOfMessage);

            using var document = JsonDocument.Parse(message.GetBuffer().AsMemory(0, (int)message.Length));
            var root = document.RootElement;
            switch (root.GetProperty("type").GetString())
            {
                case "event":
                    yield return new StreamEvent(
                        "event",
                        root.GetProperty("id").GetInt64(),
                        root.GetProperty("topic").GetString(),
                        root.GetProperty("event").GetString(),
                        root.GetProperty("at").GetDateTimeOffset(),
                        root.TryGetProperty("correlationId", out var correlation) ? correlation.GetString() : null,
                        root.GetProperty("data").Clone(),
                        null);
                    break;
                case "resync":
                    yield return new StreamEvent("resync", root.GetProperty("lastEventId").GetInt64(), null, null, null, null, null, root.GetProperty("reason").GetString());
                    break;
                case "error":
                    throw new ClarityApiException(System.Net.HttpStatusCode.BadRequest, "urn:clarity:problem:" + root.GetProperty("error").GetString(), "Stream error", root.GetProperty("detail").GetString());
            }
        }
    }
}
