namespace Clarity.Features.Agents;

public sealed record RegisterAgentRequest(string? Name, IReadOnlyList<string>? Labels);

public static class AgentStatus
{
    public const string Idle = "idle";
    public const string Busy = "busy";
    public const string Offline = "offline";

    /// <summary>Busy while it holds a task; otherwise idle if seen recently, else offline.</summary>
    public static string Derive(bool hasTask, DateTimeOffset lastSeen, DateTimeOffset now, TimeSpan offlineAfter) =>
        hasTask ? Busy : now - lastSeen <= offlineAfter ? Idle : Offline;
}

