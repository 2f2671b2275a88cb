using System.ComponentModel.DataAnnotations;
using System.Globalization;

namespace Clarity.Features.Webhooks;

/// <summary>Settings of webhook delivery (<c>Clarity:Webhooks</c>, <c>CLARITY_WEBHOOKS__*</c>).</summary>
public sealed class WebhookOptions
{
    /// <summary>
    /// Allow endpoints on loopback and private networks (127/8, ::1, 10/8, 172.16/12, 192.168/16, 100.64/10,
    /// fc00::/7). Off by default. Link-local, cloud-metadata, multicast and unspecified addresses stay refused.
    /// </summary>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>
    /// The waits before each retry of a failed delivery, comma-separated (units ms, s, m, h), each with ±20 % jitter.
    /// A delivery is given up after the last one. Default "5s,5m,30m,2h,5h,10h,10h": 8 attempts over about 28 hours.
    /// </summary>
    [Required]
    public string RetrySchedule { get; set; } = "5s,5m,30m,2h,5h,10h,10h";

    /// <summary>How long one delivery attempt may take (connect, send, answer), in seconds. Default 15.</summary>
    [Range(1, 300)]
    public int TimeoutSeconds { get; set; } = 15;

    /// <summary>Deliveries in flight to one endpoint at once: a slow endpoint holds only these. Default 4.</summary>
    [Range(1, 256)]
    public int MaxConcurrencyPerEndpoint { get; set; } = 4;

    /// <summary>Deliveries in flight at once on the leader, over all endpoints. Default 256.</summary>
    [Range(1, 10_000)]
    public int MaxConcurrency { get; set; } = 256;

    /// <summary>An endpoint is disabled (and <c>webhook.disabled</c> raised) after this many failed attempts in a row. Default 50.</summary>
    [Range(1, 100_000)]
    public int DisableAfterFailures { get; set; } = 50;

    /// <summary>How long the previous secret stays valid after a rotation (both signatures are sent meanwhile), unless the request names its own. Default 24 hours.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "30.00:00:00")]
    public TimeSpan SecretRotationOverlap { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Most endpoints one org may have. Default 50.</summary>
    [Range(1, 10_000)]
    public int MaxEndpointsPerOrg { get; set; } = 50;

    /// <summary>How often the sender looks for due deliveries when nothing wakes it, in milliseconds. Default 1000.</summary>
    [Range(10, 60_000)]
    public int PollMilliseconds { get; set; } = 1000;

    /// <summary>The parsed <see cref="RetrySchedule"/>.</summary>
    public IReadOnlyList<TimeSpan> Retries => ParseSchedule(RetrySchedule) ?? [];

    internal void Validate(List<string> failures)
    {
        if (ParseSchedule(RetrySchedule) is null)
        {
            failures.Add($"Clarity:Webhooks:RetrySchedule: '{RetrySchedule}' is not a comma-separated list of waits such as 5s,5m,30m,2h (units ms, s, m, h; at most 30 waits of at most 7 days).");
        }
    }

    /// <summary>"5s,5m,2h" → waits; null when malformed.</summary>
    public static IReadOnlyList<TimeSpan>? ParseSchedule(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is 0 or > 30)
        {
            return null;
        }

        var waits = new List<TimeSpan>(parts.Length);
        foreach (var part in parts)
        {
            var unit = part.EndsWith("ms", StringComparison.Ordinal) ? "ms" : part.Length > 0 ? part[^1..] : "";
            if (!double.TryParse(part[..^unit.Length], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) || n < 0)
            {
                return null;
            }

            TimeSpan? wait = unit switch
            {
                "ms" => TimeSpan.FromMilliseconds(n),
                "s" => TimeSpan.FromSeconds(n),
                "m" => TimeSpan.FromMinutes(n),
                "h" => TimeSpan.FromHours(n),
                _ => null,
            };
            if (wait is not { } w || w > TimeSpan.FromDays(7))
            {
                return null;
            }

            waits.Add(w);
        }

        return waits;
    }
}

/// <summary>Which task and clarification events an endpoint receives: of these queues, and of tasks carrying any of these labels (empty: all).</summary>
public sealed record WebhookFilters(IReadOnlyList<string>? Queues, IReadOnlyList<string>? Labels);

public sealed record CreateWebhookRequest(string? Url, IReadOnlyList<string>? Events, WebhookFiltersRequest? Filters, string? Description);

public sealed record WebhookFiltersRequest(IReadOnlyList<string>? Queues, IReadOnlyList<string>? Labels);

/// <summary>A partial update: fields left out keep their value.</summary>
public sealed record UpdateWebhookRequest(string? Url, IReadOnlyList<string>? Events, WebhookFiltersRequest? Filters, string? Description, bool? Enabled);

/// <summary>A webhook endpoint as the API shows it: never its secret.</summary>
public sealed record Webhook(
    Guid Id, string Url, string? Description, IReadOnlyList<string> Events, WebhookFilters Filters, bool Enabled, string? DisabledReason,
    int ConsecutiveFailures, DateTimeOffset? PreviousSecretExpiresAt, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>The answer to a create: the endpoint and its signing secret, shown this once.</summary>
public sealed record CreatedWebhook(
    Guid Id, string Url, string? Description, IReadOnlyList<string> Events, WebhookFilters Filters, bool Enabled, DateTimeOffset CreatedAt, string Secret);

/// <summary>The answer to a rotation: the new secret, shown this once, and until when the previous one stays valid.</summary>
public sealed record RotatedWebhookSecret(Guid Id, string Secret, DateTimeOffset? PreviousSecretExpiresAt);

public sealed record WebhookPage(IReadOnlyList<Webhook> Items, string? NextCursor);

/// <summary>One message to one endpoint and the outcome of its latest attempt.</summary>
public sealed record WebhookDelivery(
    Guid Id, string MessageId, string EventType, long? EventSeq, string Status, int Attempts, DateTimeOffset? NextAttemptAt,
    DateTimeOffset? LastAttemptAt, int? ResponseStatus, string? ResponseExcerpt, int? LatencyMs, string? Error, DateTimeOffset CreatedAt);

public sealed record WebhookDeliveryPage(IReadOnlyList<WebhookDelivery> Items, string? NextCursor);

/// <summary>Delivery statuses.</summary>
public static class WebhookDeliveryStatuses
{
    public const string Pending = "pending";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
}
