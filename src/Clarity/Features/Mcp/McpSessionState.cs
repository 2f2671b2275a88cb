using Clarity.Hosting;

namespace Clarity.Features.Mcp;

/// <summary>
/// What Clarity keeps for one MCP session (one Streamable HTTP session; for a 2026-07-28 client, one request): the org
/// and the credential it was opened with, and the session's own task once a tool needed one.
/// </summary>
public sealed class McpSessionState(OrgContext opened)
{
    /// <summary>The org and caller the session was opened with (its initialize request).</summary>
    public OrgContext Opened { get; } = opened;

    /// <summary>Serializes opening, renewing and closing the session task.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    /// <summary>The session's own task, once ask_human (or log, report_progress) needed one.</summary>
    public McpSessionTask? Task { get; set; }

    /// <summary>The access a later call resolved (the caller's role may have changed since the session opened).</summary>
    public OrgContext Current { get; set; } = opened;
}

/// <summary>The session's own task (queue <c>mcp</c>) and the lease the session holds on it.</summary>
public sealed record McpSessionTask(Guid Id, string LeaseToken)
{
    public DateTimeOffset LeaseExpiresAt { get; set; }
}
