namespace Clarity.Features.Notifications.WebPush;

/// <summary>Web push to people's phones and browsers (Clarity:WebPush).</summary>
public sealed class WebPushOptions
{
}
