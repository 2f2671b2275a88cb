using System.ComponentModel.DataAnnotations;
using MimeKit;

namespace Clarity.Features.Notifications.Email;

/// <summary>
/// The SMTP server notifications are sent through (Clarity:Smtp; CLARITY_SMTP__HOST and so on). No host: email is off.
/// The password is a secret: it is never logged, and validation messages never repeat it.
/// </summary>
public sealed class SmtpOptions : IValidatableObject
{
    /// <summary>The SMTP server's host name. Empty: the email channel is off (its deliveries fail with a clear reason).</summary>
    [MaxLength(253)]
    public string? Host { get; set; }

    /// <summary>587 (submission, with STARTTLS) by default; 465 is TLS from the first byte; 25 a relay.</summary>
    [Range(1, 65535)]
    public int Port { get; set; } = 587;

    /// <summary>The sender, e.g. <c>Clarity &lt;clarity@example.com&gt;</c>. Required when <see cref="Host"/> is set.</summary>
    public string? From { get; set; }

    /// <summary>
    /// True (the default): the connection must upgrade to TLS with STARTTLS before anything else is said, and fails if the
    /// server does not offer it. False: port 465 speaks TLS from the start; any other port sends in the clear (a relay on loopback).
    /// </summary>
    public bool UseStartTls { get; set; } = true;

    /// <summary>The user to authenticate as; empty: no authentication.</summary>
    public string? User { get; set; }

    /// <summary>The user's password (a secret: set it from the environment, CLARITY_SMTP__PASSWORD).</summary>
    public string? Password { get; set; }

    /// <summary>
    /// Accepts any server certificate (self-signed, wrong name, expired). For tests and private relays only: it gives up
    /// the protection TLS gives against a machine in the middle. Default false.
    /// </summary>
    public bool AcceptAnyCertificate { get; set; }

    /// <summary>How long one SMTP operation (connect, a command) may take before the send is retried later. Default 30 s.</summary>
    [Range(1, 600)]
    public int TimeoutSeconds { get; set; } = 30;

    /// <summary>True when a host is configured: the email channel sends.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(Host);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!Enabled)
        {
            yield break;
        }

        if (string.IsNullOrWhiteSpace(From))
        {
            yield return new ValidationResult("is required when Clarity:Smtp:Host is set (for example \"Clarity <clarity@example.com>\").", [nameof(From)]);
        }
        else if (!MailboxAddress.TryParse(From, out var from) || from.Address.IndexOf('@', StringComparison.Ordinal) <= 0)
        {
            yield return new ValidationResult($"'{From}' is not an email address (for example \"Clarity <clarity@example.com>\").", [nameof(From)]);
        }

        if (Host!.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '/' or ':'))
        {
            yield return new ValidationResult($"'{Host}' is not a host name (name the host alone; the port is Clarity:Smtp:Port).", [nameof(Host)]);
        }

        if (!string.IsNullOrEmpty(User) && string.IsNullOrEmpty(Password))
        {
            yield return new ValidationResult("is required when Clarity:Smtp:User is set.", [nameof(Password)]);
        }

        if (string.IsNullOrEmpty(User) && !string.IsNullOrEmpty(Password))
        {
            yield return new ValidationResult("is required when Clarity:Smtp:Password is set.", [nameof(User)]);
        }
    }
}
