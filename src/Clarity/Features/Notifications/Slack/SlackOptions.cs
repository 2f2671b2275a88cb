namespace Clarity.Features.Notifications.Slack;

/// <summary>The Slack app notifications are posted through (Clarity:Slack).</summary>
public sealed class SlackOptions
{
}
