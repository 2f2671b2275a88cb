namespace Clarity.Events.Stream;

/// <summary>Reads the lines a <c>logs</c> event announces (the Logs feature implements it), so the stream can carry them.</summary>
public interface IStreamLogSource
{
    /// <summary>
    /// The first lines after <paramref name="afterSeq"/>, at most <paramref name="limit"/> of them and at most
    /// <paramref name="maxBytes"/> of JSON (possibly none), as a JSON array of log entries.
    /// </summary>
    Task<StreamLogLines> ReadAsync(Guid orgId, Guid taskId, long afterSeq, int limit, int maxBytes, CancellationToken ct);
}

/// <summary>A JSON array of <paramref name="Count"/> log entries, written as it is into a <c>logs</c> event.</summary>
public sealed record StreamLogLines(byte[] Json, int Count);
