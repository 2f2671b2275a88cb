namespace Clarity.Features.Logs;

public sealed record LogLineInput(DateTimeOffset? Ts, string? Level, string? Stream, string? Text);

public sealed record AppendLogsResponse(long FirstSeq, long LastSeq, int Count);

public sealed record LogEntry(long Seq, DateTimeOffset Ts, string Level, string Stream, string Text);

public sealed record LogPage(IReadOnlyList<LogEntry> Entries, long LastSeq, long? NextAfterSeq);

/// <summary>One search hit. <see cref="Snippet"/> is HTML-escaped text with the matches wrapped in &lt;mark&gt;.</summary>
public sealed record LogSearchHit(Guid TaskId, long Seq, DateTimeOffset Ts, string Level, string Stream, string Snippet);

public sealed record LogSearchResult(IReadOnlyList<LogSearchHit> Results, string? NextCursor);

public static class LogLevels
{
    public static readonly IReadOnlyList<string> All = ["trace", "debug", "info", "warn", "error"];
}

/// <summary>A validated line ready to store.</summary>
public readonly record struct LogLine(long Ts, string Level, string Stream, string Text);
