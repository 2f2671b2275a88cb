using System.Buffers;
using System.Text.Json;
using Clarity.Hosting;

namespace Clarity.Features.Logs;

/// <summary>
/// Serialises log entries one at a time, as the API writes them, into a buffer it reuses: a writer that must stay
/// within a byte bound measures each entry before it copies it out.
/// </summary>
internal sealed class LogEntryJson : IDisposable
{
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);
    private readonly Utf8JsonWriter _writer;

    public LogEntryJson() => _writer = new Utf8JsonWriter(_buffer, new JsonWriterOptions { Encoder = JsonDefaults.Options.Encoder });

    /// <summary>The entry's JSON; valid until the next call.</summary>
    public ReadOnlySpan<byte> Serialize(LogEntry entry)
    {
        _buffer.ResetWrittenCount();
        _writer.Reset(_buffer);
        JsonSerializer.Serialize(_writer, entry, JsonDefaults.Options);
        _writer.Flush();
        return _buffer.WrittenSpan;
    }

    public void Dispose() => _writer.Dispose();
}
