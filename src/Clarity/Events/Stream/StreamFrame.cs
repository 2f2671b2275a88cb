using System.Buffers;
using System.Text.Json;
using Clarity.Hosting;

namespace Clarity.Events.Stream;

/// <summary>
/// One server → client message, serialised once to UTF-8 JSON and shared by every connection that receives it.
/// The WebSocket sends <see cref="Json"/> as a text frame; SSE wraps it as <c>id:</c>/<c>event:</c>/<c>data:</c> lines.
/// </summary>
public sealed class StreamFrame
{
    private StreamFrame(string type, long id, string? kind, byte[] json)
    {
        Type = type;
        Id = id;
        Kind = kind;
        Json = json;
    }

    /// <summary>The message type: event, hello, subscribed, pong, resync or error.</summary>
    public string Type { get; }

    /// <summary>The event id for events; for resync, the id to follow from; 0 otherwise.</summary>
    public long Id { get; }

    /// <summary>The event kind (task, logs, clarification, agent) for events; null otherwise.</summary>
    public string? Kind { get; }

    public byte[] Json { get; }

    public bool IsEvent => Type == "event";

    /// <summary>
    /// <c>{"type":"event","id":…,"topic":…,"event":…,"at":…,"correlationId":…,"data":{…}}</c>. For <c>logs</c> the stored data
    /// gains <c>lines</c> and <c>truncated</c>, which <paramref name="writeLogLines"/> writes.
    /// </summary>
    public static StreamFrame Event(EventRow row, Action<Utf8JsonWriter>? writeLogLines = null) =>
        new("event", row.Id, row.Kind, Write(w =>
        {
            w.WriteString("type", "event");
            w.WriteNumber("id", row.Id);
            w.WriteString("topic", row.Topic);
            w.WriteString("event", row.Kind);
            w.WriteString("at", DateTimeOffset.FromUnixTimeMilliseconds(row.CreatedAt).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture));
            if (row.CorrelationId is not null)
            {
                w.WriteString("correlationId", row.CorrelationId);
            }

            w.WritePropertyName("data");
            if (writeLogLines is null)
            {
                w.WriteRawValue(row.Payload, skipInputValidation: true);
            }
            else
            {
                // Copy the stored fields, then add the lines.
                using var stored = JsonDocument.Parse(row.Payload);
                w.WriteStartObject();
                foreach (var property in stored.RootElement.EnumerateObject())
                {
                    property.WriteTo(w);
                }

                writeLogLines(w);
                w.WriteEndObject();
            }
        }));

    public static StreamFrame Hello(long lastEventId, long retentionSeconds) =>
        new("hello", 0, null, Write(w =>
        {
            w.WriteString("type", "hello");
            w.WriteNumber("lastEventId", lastEventId);
            w.WriteNumber("retentionSeconds", retentionSeconds);
        }));

    public static StreamFrame Subscribed(string type, IEnumerable<string> topics) =>
        new(type, 0, null, Write(w =>
        {
            w.WriteString("type", type);
            w.WriteStartArray("topics");
            foreach (var topic in topics)
            {
                w.WriteStringValue(topic);
            }

            w.WriteEndArray();
        }));

    public static StreamFrame Pong() => new("pong", 0, null, """{"type":"pong"}"""u8.ToArray());

    /// <summary><c>{"type":"resync","reason":…,"lastEventId":…}</c>: reload state from the REST API, then follow from <paramref name="lastEventId"/>.</summary>
    /// <summary>Reload state, then follow from <paramref name="lastEventId"/> (also the frame's <see cref="Id"/>).</summary>
    public static StreamFrame Resync(string reason, long lastEventId) =>
        new("resync", lastEventId, "resync", Write(w =>
        {
            w.WriteString("type", "resync");
            w.WriteString("reason", reason);
            w.WriteNumber("lastEventId", lastEventId);
        }));

    public static StreamFrame Error(string error, string detail) =>
        new("error", 0, null, Write(w =>
        {
            w.WriteString("type", "error");
            w.WriteString("error", error);
            w.WriteString("detail", detail);
        }));

    private static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JsonDefaults.Options.Encoder }))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
