namespace Clarity.Events.Stream;

/// <summary>Reads the lines a <c>logs</c> event announces (the Logs feature implements it), so the stream can carry them.</summary>
public interface IStreamLogSource
{
    Task<IReadOnlyList<LogEntry>> ReadAsync(Guid orgId, Guid taskId, long afterSeq, int limit, CancellationToken ct);
}
