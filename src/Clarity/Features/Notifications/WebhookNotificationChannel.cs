using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Clarity.Features.Webhooks;
using Clarity.Hosting;
using Clarity.Storage;

namespace Clarity.Features.Notifications;

/// <summary>
/// The webhook channel: <c>{type: "webhook", endpoint: id}</c> hands the notification to one of the org's webhook
/// endpoints as a delivery of its own (type <c>notification.&lt;event&gt;</c>), which the webhook sender then signs,
/// retries and records in that endpoint's delivery log like any other. The webhook id is derived from the notification
/// delivery's id, so a notification queued twice (a crash between queueing and recording) reaches the receiver with
/// the same <c>webhook-id</c>, which receivers use to drop repeats. The payload is JSON built here, not a template.
/// </summary>
public sealed class WebhookNotificationChannel(WebhookStore webhooks, WebhookSender sender, TimeProvider clock) : INotificationChannel
{
    public string Type => NotificationChannels.Webhook;

    public async Task<DeliveryOutcome> SendAsync(NotificationDelivery delivery, NotificationView view, CancellationToken ct)
    {
        if (!Guid.TryParse(delivery.Recipient, out var endpointId))
        {
            return DeliveryOutcome.Fail($"'{delivery.Recipient}' is not a webhook endpoint id");
        }

        var now = DbTime.ToDb(clock.GetUtcNow());
        var type = "notification." + view.EventType;
        var row = new DeliveryRow
        {
            Id = Guid.CreateVersion7(),
            EndpointId = endpointId,
            OrgId = delivery.OrgId,
            MessageId = "msg_" + delivery.Id.ToString("N"),
            EventSeq = view.EventSeq,
            EventType = type,
            Payload = Body(type, view, now),
            Status = WebhookDeliveryStatuses.Pending,
            NextAttemptAt = now,
            CreatedAt = now,
        };
        if (!await webhooks.EnqueueAsync(row, ct))
        {
            return DeliveryOutcome.Fail($"webhook endpoint {endpointId} no longer exists in the org or is disabled");
        }

        sender.Wake();
        return DeliveryOutcome.Ok(row.MessageId, "queued as webhook delivery " + row.Id);
    }

    /// <summary>The Standard Webhooks payload: <c>{type, timestamp, data}</c>, data being the notification view.</summary>
    public static string Body(string type, NotificationView view, long now)
    {
        var data = JsonSerializer.SerializeToNode(view, JsonDefaults.Options) as JsonObject ?? [];
        var body = new JsonObject
        {
            ["type"] = type,
            ["timestamp"] = DbTime.FromDb(now).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
            ["data"] = data,
        };
        return body.ToJsonString(JsonDefaults.Options);
    }
}
