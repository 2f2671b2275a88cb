namespace Clarity.Features.Logs;

public sealed record LogLineInput(DateTimeOffset? Ts, string? Level, string? Stream, string? Text);

/// <summary>A validated line ready to store.</summary>
public readonly record struct LogLine(long Ts, string Level, string Stream, string Text);
