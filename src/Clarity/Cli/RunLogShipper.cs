using System.Threading.Channels;
using Clarity.Client;

namespace Clarity.Cli;

/// <summary>
/// Sends a task's output lines to the server in batches: whatever arrived within <see cref="FlushInterval"/>,
/// at most <see cref="MaxBatchLines"/> lines per request, in order. <see cref="CompleteAsync"/> flushes the rest.
/// </summary>
internal sealed class RunLogShipper
{
    public static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(200);
    public const int MaxBatchLines = 500;

    /// <summary>Stays well under the server's 64 KiB limit for one line even at 3 UTF-8 bytes per char.</summary>
    public const int MaxLineChars = 16_000;

    private const int Attempts = 3;

    private readonly Channel<LogLine> _lines = Channel.CreateUnbounded<LogLine>(new UnboundedChannelOptions { SingleWriter = false, SingleReader = false });
    private readonly ClarityClient _client;
    private readonly Guid _taskId;
    private readonly Task _pump;
    private bool _closed;

    public RunLogShipper(ClarityClient client, Guid taskId)
    {
        _client = client;
        _taskId = taskId;
        _pump = Task.Run(PumpAsync);
    }

    /// <summary>Queues one line of output; an over-long line is split into several.</summary>
    public void Add(string text, string stream, string level)
    {
        var ts = DateTimeOffset.UtcNow;
        if (text.Length <= MaxLineChars)
        {
            _lines.Writer.TryWrite(new LogLine(text, stream, level, ts));
            return;
        }

        for (var start = 0; start < text.Length;)
        {
            var length = Math.Min(MaxLineChars, text.Length - start);
            if (start + length < text.Length && char.IsHighSurrogate(text[start + length - 1]))
            {
                length--; // never split a surrogate pair
            }

            _lines.Writer.TryWrite(new LogLine(text.Substring(start, length), stream, level, ts));
            start += length;
        }
    }

    /// <summary>Sends every queued line, then stops.</summary>
    public Task CompleteAsync()
    {
        _lines.Writer.TryComplete();
        return _pump;
    }

    private async Task PumpAsync()
    {
        var reader = _lines.Reader;
        while (await reader.WaitToReadAsync())
        {
            var batch = new List<LogLine>();
            var flushAt = Task.Delay(FlushInterval);
            while (batch.Count < MaxBatchLines)
            {
                while (batch.Count < MaxBatchLines && reader.TryRead(out var line))
                {
                    batch.Add(line);
                }

                if (batch.Count >= MaxBatchLines)
                {
                    break;
                }

                var more = reader.WaitToReadAsync().AsTask();
                if (await Task.WhenAny(more, flushAt) == flushAt || !await more)
                {
                    break;
                }
            }

            await SendAsync(batch);
        }
    }

    private async Task SendAsync(List<LogLine> batch)
    {
        if (_closed || batch.Count == 0)
        {
            return;
        }

        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await _client.AppendLogsAsync(_taskId, batch);
                return;
            }
            catch (ClarityApiException ex) when ((int)ex.StatusCode is >= 400 and < 500)
            {
                // The task finished or vanished, or the server refuses these lines: retrying cannot help.
                _closed = ex.Is(ProblemTypes.TaskFinished) || ex.Is(ProblemTypes.NotFound);
                await Console.Error.WriteLineAsync($"clarity: could not send {batch.Count} log line(s): {ex.Detail ?? ex.Message}");
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or TimeoutException or ClarityApiException)
            {
                if (attempt >= Attempts)
                {
                    await Console.Error.WriteLineAsync($"clarity: dropped {batch.Count} log line(s) after {Attempts} attempts: {ex.Message}");
                    return;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(250 * attempt));
            }
        }
    }
}
