namespace Clarity.Events.Stream;

/// <summary>
/// The stream's topics: <c>tasks</c>, <c>clarifications</c>, <c>agents</c>, <c>runs</c> and <c>task:{taskId}:logs</c>.
/// Pure parsing and validation, shared by the WebSocket and SSE endpoints.
/// </summary>
public static class StreamTopics
{
    public const string Tasks = "tasks";
    public const string Clarifications = "clarifications";
    public const string Agents = "agents";
    public const string Runs = "runs";

    /// <summary>Most topics one subscribe message (or one SSE request) may name.</summary>
    public const int MaxTopics = 100;

    private const string LogsPrefix = "task:";
    private const string LogsSuffix = ":logs";

    public static string Logs(Guid taskId) => LogsPrefix + taskId.ToString("D") + LogsSuffix;

    /// <summary>Parses one topic into its canonical spelling (task ids lower case); false when it is not a topic.</summary>
    public static bool TryParse(string? topic, out string canonical)
    {
        canonical = "";
        if (topic is null)
        {
            return false;
        }

        switch (topic)
        {
            case Tasks or Clarifications or Agents or Runs:
                canonical = topic;
                return true;
        }

        if (topic.Length == LogsPrefix.Length + 36 + LogsSuffix.Length
            && topic.StartsWith(LogsPrefix, StringComparison.Ordinal)
            && topic.EndsWith(LogsSuffix, StringComparison.Ordinal)
            && Guid.TryParseExact(topic.AsSpan(LogsPrefix.Length, 36), "D", out var taskId))
        {
            canonical = Logs(taskId);
            return true;
        }

        return false;
    }

    /// <summary>
    /// Validates a list of topics. On failure <paramref name="error"/> is a slug (<c>missing-topics</c>, <c>too-many-topics</c>,
    /// <c>invalid-topic</c>) and <paramref name="detail"/> names the problem; on success <paramref name="topics"/> holds each distinct topic once.
    /// </summary>
    public static bool TryValidate(IReadOnlyList<string?>? requested, out IReadOnlyList<string> topics, out string error, out string detail)
    {
        topics = [];
        error = "";
        detail = "";
        if (requested is null || requested.Count == 0)
        {
            (error, detail) = ("missing-topics", "Name at least one topic: tasks, clarifications, agents, runs or task:{taskId}:logs.");
            return false;
        }

        if (requested.Count > MaxTopics)
        {
            (error, detail) = ("too-many-topics", $"At most {MaxTopics} topics at once; this asked for {requested.Count}.");
            return false;
        }

        var result = new List<string>(requested.Count);
        foreach (var topic in requested)
        {
            if (!TryParse(topic, out var canonical))
            {
                var shown = topic is null ? "null" : "'" + (topic.Length > 80 ? topic[..80] + "…" : topic) + "'";
                (error, detail) = ("invalid-topic", $"{shown} is not a topic; use tasks, clarifications, agents, runs or task:{{taskId}}:logs.");
                return false;
            }

            if (!result.Contains(canonical, StringComparer.Ordinal))
            {
                result.Add(canonical);
            }
        }

        topics = result;
        return true;
    }
}
