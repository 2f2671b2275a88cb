using System.Reflection;
using System.Text.Json;
using Clarity.Hosting;
using Microsoft.AspNetCore.Http.Metadata;

namespace Clarity.Features.Logs;

/// <summary>
/// One page of a task's log (<see cref="LogPage"/>'s shape), written to the response while it is read: the lines come
/// from the store in chunks (<see cref="LogStore.ReadChunksAsync"/>) and go out one entry at a time, so a reader costs
/// the server about one chunk, whatever the page's size. The page ends at its line limit, at the end of the log, or
/// where the next entry would take the answer past its byte bound (<c>Limits:MaxLogPageBytes</c>; a page holds at
/// least one line); <c>nextAfterSeq</c> then says where to read on. The task was found, or the page refused, before
/// the first byte: those answers are problem+json.
/// </summary>
public sealed class LogPageResult : IResult, IEndpointMetadataProvider
{
    // Room for the end of the answer: ],"lastSeq":N,"nextAfterSeq":N} with two 19-digit numbers.
    private const int TailBytes = 64;

    // Hand the bytes to the response this often, so that its pipe holds little for a slow client.
    private const int FlushBytes = 32 * 1024;

    private readonly IAsyncEnumerator<IReadOnlyList<LogEntry>> _chunks;
    private readonly bool _started;
    private readonly long _afterSeq;
    private readonly int _limit;
    private readonly long _maxBytes;

    /// <param name="chunks">Positioned on the first chunk (<paramref name="started"/>), or finished with none.</param>
    internal LogPageResult(IAsyncEnumerator<IReadOnlyList<LogEntry>> chunks, bool started, long afterSeq, int limit, long maxBytes)
    {
        _chunks = chunks;
        _started = started;
        _afterSeq = afterSeq;
        _limit = limit;
        _maxBytes = maxBytes;
    }

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(LogPage), ["application/json"]));

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var ct = httpContext.RequestAborted;
        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        var body = response.BodyWriter;
        await using var chunks = _chunks;
        await using var json = new Utf8JsonWriter(body, new JsonWriterOptions { Encoder = JsonDefaults.Options.Encoder });
        using var page = new PageState(_afterSeq);
        try
        {
            json.WriteStartObject();
            json.WriteStartArray("entries");
            var more = _started;
            while (more)
            {
                foreach (var entry in chunks.Current)
                {
                    if (page.Count == _limit || !page.TryAppend(json, entry, _maxBytes - TailBytes))
                    {
                        page.Full = true;
                        break;
                    }

                    if (json.BytesPending >= FlushBytes)
                    {
                        json.Flush();
                        await body.FlushAsync(ct);
                    }
                }

                // What is written goes out before the next chunk is read (on a connection of its own).
                json.Flush();
                await body.FlushAsync(ct);
                more = !page.Full && await chunks.MoveNextAsync();
            }

            json.WriteEndArray();
            json.WriteNumber("lastSeq", page.LastSeq);
            if (page.Full || page.Count == _limit)
            {
                json.WriteNumber("nextAfterSeq", page.LastSeq);
            }

            json.WriteEndObject();
            json.Flush();
            await body.FlushAsync(ct);
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            // The answer has begun: end the connection, so that the client sees a failure rather than a short page.
            httpContext.Abort();
            throw;
        }
    }

    /// <summary>What the page has written so far.</summary>
    private sealed class PageState(long afterSeq) : IDisposable
    {
        private readonly LogEntryJson _entry = new();

        public int Count { get; private set; }

        public long LastSeq { get; private set; } = afterSeq;

        /// <summary>True when the page ended before the end of the log: at the byte bound.</summary>
        public bool Full { get; set; }

        /// <summary>Writes the entry unless that would take the answer past <paramref name="maxBytes"/> (the first entry is always written).</summary>
        public bool TryAppend(Utf8JsonWriter json, LogEntry entry, long maxBytes)
        {
            var bytes = _entry.Serialize(entry);

            // One more byte for the comma before it.
            if (Count > 0 && json.BytesCommitted + json.BytesPending + bytes.Length + 1 > maxBytes)
            {
                return false;
            }

            json.WriteRawValue(bytes, skipInputValidation: true);
            Count++;
            LastSeq = entry.Seq;
            return true;
        }

        public void Dispose() => _entry.Dispose();
    }
}
