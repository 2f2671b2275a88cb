namespace Clarity.Features.Logs;

public sealed record LogLineInput(DateTimeOffset? Ts, string? Level, string? Stream, string? Text);

public static class LogLevels
{
    public static readonly IReadOnlyList<string> All = ["trace", "debug", "info", "warn", "error"];
}

/// <summary>A validated line ready to store.</summary>
public readonly record struct LogLine(long Ts, string Level, string Stream, string Text);
