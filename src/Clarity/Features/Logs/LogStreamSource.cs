using Clarity.Events.Stream;

namespace Clarity.Features.Logs;

/// <summary>Gives the stream the lines a <c>logs</c> event announces, straight from the log store.</summary>
public sealed class LogStreamSource(LogStore store) : IStreamLogSource
{
    public Task<IReadOnlyList<LogEntry>> ReadAsync(Guid orgId, Guid taskId, long afterSeq, int limit, CancellationToken ct) =>
        store.ReadAsync(orgId, taskId, afterSeq, limit, ct);
}
