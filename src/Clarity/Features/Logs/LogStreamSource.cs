using System.Buffers;
using System.Text.Json;
using Clarity.Events.Stream;
using Clarity.Hosting;

namespace Clarity.Features.Logs;

/// <summary>Gives the stream the lines a <c>logs</c> event announces, straight from the log store, within a byte bound.</summary>
public sealed class LogStreamSource(LogStore store) : IStreamLogSource
{
    public async Task<StreamLogLines> ReadAsync(Guid orgId, Guid taskId, long afterSeq, int limit, int maxBytes, CancellationToken ct)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        var count = 0;
        using var entry = new LogEntryJson();
        await using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JsonDefaults.Options.Encoder }))
        {
            json.WriteStartArray();
            await foreach (var chunk in store.ReadChunksAsync(orgId, taskId, afterSeq, limit, ct))
            {
                if (!Append(json, entry, chunk, maxBytes, ref count))
                {
                    break;
                }
            }

            json.WriteEndArray();
        }

        return new StreamLogLines(buffer.WrittenSpan.ToArray(), count);
    }

    /// <summary>Appends the chunk's entries while the array stays within <paramref name="maxBytes"/>; false once one did not fit.</summary>
    private static bool Append(Utf8JsonWriter json, LogEntryJson entry, IReadOnlyList<LogEntry> chunk, int maxBytes, ref int count)
    {
        foreach (var line in chunk)
        {
            var bytes = entry.Serialize(line);

            // A comma before it, and the closing bracket after.
            if (json.BytesCommitted + json.BytesPending + bytes.Length + 2 > maxBytes)
            {
                return false;
            }

            json.WriteRawValue(bytes, skipInputValidation: true);
            count++;
        }

        return true;
    }
}
