namespace Clarity.Features.Notifications;

/// <summary>Notification settings (Clarity:Notifications).</summary>
public sealed class NotificationOptions
{
    /// <summary>A folder whose <c>{channel}/{event}.{part}.hbs</c> files override the built-in message templates. Empty: the built-in ones.</summary>
    public string? TemplatesDirectory { get; set; }
}
