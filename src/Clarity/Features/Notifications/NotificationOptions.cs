using System.ComponentModel.DataAnnotations;
using Clarity.Features.Webhooks;

namespace Clarity.Features.Notifications;

/// <summary>Notification settings (Clarity:Notifications). docs/operations.md lists them with their defaults.</summary>
public sealed class NotificationOptions : IValidatableObject
{
    /// <summary>A folder whose <c>{channel}/{event}.{part}.hbs</c> files override the built-in message templates. Empty: the built-in ones.</summary>
    public string? TemplatesDirectory { get; set; }

    /// <summary>
    /// The waits before each retry of a delivery whose channel answered "try again", comma-separated (units ms, s, m, h),
    /// each with ±20 % jitter. The delivery fails after the last one. Default "10s,1m,5m,30m,2h,6h": 7 attempts over about 9 hours.
    /// </summary>
    [Required]
    public string RetrySchedule { get; set; } = "10s,1m,5m,30m,2h,6h";

    /// <summary>
    /// Burst grouping: after this many deliveries of one event type to one recipient through one channel within
    /// <see cref="DigestWindowSeconds"/>, the next ones are grouped into one digest. Default 5.
    /// </summary>
    [Range(1, 10_000)]
    public int DigestThreshold { get; set; } = 5;

    /// <summary>The burst window, in seconds; a digest is sent this long after the first event it groups. Default 60.</summary>
    [Range(1, 3600)]
    public int DigestWindowSeconds { get; set; } = 60;

    /// <summary>
    /// clarification.expiring is raised this long before a pending question expires, or at the last quarter of its life
    /// when that is shorter. Default 10 minutes.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan ExpiringLead { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Sends in flight at once per channel type (email, slack, webpush, webhook). Default 8.</summary>
    [Range(1, 1000)]
    public int MaxConcurrencyPerChannel { get; set; } = 8;

    /// <summary>How long one send may take before it counts as "try again", in seconds. Default 30.</summary>
    [Range(1, 600)]
    public int SendTimeoutSeconds { get; set; } = 30;

    /// <summary>How often the sender and the expiry sweep look for work when nothing wakes them, in milliseconds. Default 1000.</summary>
    [Range(10, 60_000)]
    public int PollMilliseconds { get; set; } = 1000;

    /// <summary>The parsed <see cref="RetrySchedule"/>.</summary>
    public IReadOnlyList<TimeSpan> Retries => WebhookOptions.ParseSchedule(RetrySchedule) ?? [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (WebhookOptions.ParseSchedule(RetrySchedule) is null)
        {
            yield return new ValidationResult(
                $"'{RetrySchedule}' is not a comma-separated list of waits such as 10s,1m,5m (units ms, s, m, h; at most 30 waits of at most 7 days).",
                [nameof(RetrySchedule)]);
        }
    }
}
