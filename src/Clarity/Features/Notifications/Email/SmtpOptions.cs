namespace Clarity.Features.Notifications.Email;

/// <summary>The SMTP server notifications are sent through (Clarity:Smtp; CLARITY_SMTP__HOST and so on). No host: email is off.</summary>
public sealed class SmtpOptions
{
    public string? Host { get; set; }

    public int Port { get; set; } = 587;

    public string? From { get; set; }

    public bool UseStartTls { get; set; } = true;

    public string? User { get; set; }

    public string? Password { get; set; }
}
