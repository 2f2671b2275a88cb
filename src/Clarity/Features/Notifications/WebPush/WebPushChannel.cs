using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Clarity.Hosting;
using Lib.Net.Http.WebPush;
using Lib.Net.Http.WebPush.Authentication;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Notifications.WebPush;

/// <summary>
/// The web push channel (type <c>webpush</c>): a delivery's recipient is a user id, and the message goes to every device
/// that user turned notifications on for, through its push service (VAPID-signed, RFC 8292; encrypted aes128gcm,
/// RFC 8291), by Lib.Net.Http.WebPush. The service worker shows it (<c>{title, body, url, tag, test}</c>); tapping
/// it opens <c>url</c>. A question's message lives until the question expires (TTL), is sent with high urgency, and has
/// the question's id as tag and topic, so a later message about it replaces the earlier one.
/// A 404/410 from the push service deletes that subscription; 429 and 5xx ask the core to try again; a device that
/// keeps failing otherwise is dropped after <c>WebPush:DropAfterFailures</c>.
/// </summary>
public sealed partial class WebPushChannel(
    PushSubscriptionStore store, VapidKeys keys, NotificationTemplates templates, WebPushTransport transport, IOptions<ClarityOptions> options,
    TimeProvider clock, ILogger<WebPushChannel> logger) : INotificationChannel
{
    /// <summary>A push message may carry 4096 bytes after encryption (RFC 8291 §4); the text is cut to stay well inside.</summary>
    private const int MaxPayloadBytes = 3000;

    private readonly TokenCache _tokens = new(clock);

    public string Type => NotificationChannels.WebPush;

    public async Task<DeliveryOutcome> SendAsync(NotificationDelivery delivery, NotificationView view, CancellationToken ct)
    {
        Guid userId;
        if (delivery.RecipientUserId is { } id)
        {
            userId = id;
        }
        else if (!Guid.TryParse(delivery.Recipient, out userId))
        {
            return DeliveryOutcome.Fail($"web push needs a user id as recipient, not '{Bounded(delivery.Recipient, 80)}'.");
        }

        var subscriptions = await store.ForUserAsync(userId, ct);
        if (subscriptions.Count == 0)
        {
            return DeliveryOutcome.Fail("the user has no device with push notifications on.");
        }

        var settings = options.Value.WebPush;
        var payload = Payload(view);
        var ttl = TimeToLive(view, settings);
        var urgency = view.EventType is NotificationEvents.ClarificationAsked or NotificationEvents.ClarificationExpiring or NotificationEvents.ApprovalPending
            ? PushMessageUrgency.High
            : PushMessageUrgency.Normal;
        var topic = view.Question?.Id.ToString("N");
        var pair = await keys.GetAsync(ct);
        var vapid = new VapidAuthentication(pair.PublicKey, pair.PrivateKey) { TokenCache = _tokens };
        if (keys.Subject is { } subject)
        {
            vapid.Subject = subject;
        }

        using var httpClient = transport.CreateClient(vapid);
        var client = new PushServiceClient(httpClient)
        {
            DefaultAuthentication = vapid,
            DefaultAuthenticationScheme = VapidAuthenticationScheme.Vapid,
            // A 429 is the core's to retry with its backoff, never a wait on the sender here.
            AutoRetryAfter = false,
        };

        int sent = 0, gone = 0, retry = 0;
        var problems = new List<string>();
        foreach (var subscription in subscriptions)
        {
            var target = new PushSubscription { Endpoint = subscription.Endpoint };
            target.SetKey(PushEncryptionKeyName.P256DH, subscription.P256dh);
            target.SetKey(PushEncryptionKeyName.Auth, subscription.Auth);
            var message = new PushMessage(new ByteArrayContent(payload)) { TimeToLive = ttl, Urgency = urgency, Topic = topic };
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(settings.TimeoutSeconds));
            try
            {
                await client.RequestPushMessageDeliveryAsync(target, message, timeout.Token);
                sent++;
                await store.RecordSuccessAsync(subscription.Id, clock.GetUtcNow().ToUnixTimeMilliseconds(), CancellationToken.None);
            }
            catch (PushServiceClientException ex) when (ex.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Gone)
            {
                gone++;
                await store.DeleteGoneAsync(subscription.Id, CancellationToken.None);
                Log.Gone(logger, subscription.Id, userId, (int)ex.StatusCode);
            }
            catch (PushServiceClientException ex) when ((int)ex.StatusCode == 429 || (int)ex.StatusCode >= 500)
            {
                retry++;
                problems.Add($"HTTP {(int)ex.StatusCode}");
                await store.RecordFailureAsync(subscription.Id, int.MaxValue, CancellationToken.None);
            }
            catch (PushServiceClientException ex)
            {
                // 400, 401, 403 (a subscription made with another VAPID key), 413: sending again will not help.
                problems.Add($"HTTP {(int)ex.StatusCode}{(string.IsNullOrWhiteSpace(ex.Body) ? "" : ": " + Bounded(ex.Body, 200))}");
                if (await store.RecordFailureAsync(subscription.Id, settings.DropAfterFailures, CancellationToken.None))
                {
                    Log.Dropped(logger, subscription.Id, userId, settings.DropAfterFailures);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException || (ex is OperationCanceledException && !ct.IsCancellationRequested))
            {
                retry++;
                problems.Add(ex is OperationCanceledException ? $"timed out after {settings.TimeoutSeconds} s" : Bounded(Describe(ex), 200));
                await store.RecordFailureAsync(subscription.Id, int.MaxValue, CancellationToken.None);
            }
        }

        var summary = $"sent to {sent} of {subscriptions.Count} device{(subscriptions.Count == 1 ? "" : "s")}"
            + (gone > 0 ? $"; {gone} gone (404/410) and removed" : "")
            + (problems.Count > 0 ? "; " + string.Join("; ", problems.Distinct().Take(3)) : "");
        if (sent > 0)
        {
            return DeliveryOutcome.Ok(detail: summary);
        }

        if (retry > 0)
        {
            return DeliveryOutcome.Retry(summary);
        }

        return gone == subscriptions.Count
            ? DeliveryOutcome.Fail($"every push subscription of the user is gone (404/410) and was removed: no device left to notify ({summary}).")
            : DeliveryOutcome.Fail(summary);
    }

    /// <summary>
    /// The message's JSON: <c>{title, body, url, tag, test}</c>, at most <see cref="MaxPayloadBytes"/> (the body is cut
    /// first). Title and body come from the templates <c>webpush/{event}.title.hbs</c> and <c>.body.hbs</c>.
    /// </summary>
    public byte[] Payload(NotificationView view)
    {
        var title = Clean(templates.Render(NotificationChannels.WebPush, view.EventType, "title", view));
        var body = Clean(templates.Render(NotificationChannels.WebPush, view.EventType, "body", view));
        if (view.IsTest && !title.StartsWith("[TEST]", StringComparison.Ordinal))
        {
            title = "[TEST] " + title;
        }

        var tag = view.Question is { } question ? "clarity-question-" + question.Id
            : view.TaskId is { } task ? $"clarity-{view.EventType}-{task}"
            : $"clarity-event-{view.EventSeq}";
        title = Bounded(title, 200);
        while (true)
        {
            var bytes = JsonSerializer.SerializeToUtf8Bytes(new PushPayload(title, body, view.Url, tag, view.IsTest), PayloadJson.Default.PushPayload);
            if (bytes.Length <= MaxPayloadBytes || body.Length <= 1)
            {
                return bytes;
            }

            body = Bounded(body, Math.Max(0, body.Length - Math.Max(16, (bytes.Length - MaxPayloadBytes) / 2)) - 1);
        }
    }

    /// <summary>A question's message is worth keeping only until the question expires; any other for <c>WebPush:DefaultTimeToLiveSeconds</c>.</summary>
    private int TimeToLive(NotificationView view, WebPushOptions settings)
    {
        if (view.Question is { } question && view.EventType is NotificationEvents.ClarificationAsked or NotificationEvents.ClarificationExpiring)
        {
            // At most the 28 days push services keep a message at all.
            return (int)Math.Clamp(Math.Ceiling((question.ExpiresAt - clock.GetUtcNow()).TotalSeconds), 0, 2_419_200);
        }

        return settings.DefaultTimeToLiveSeconds;
    }

    private static string Clean(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal).Trim();

    private static string Bounded(string text, int max) => text.Length <= max ? text : text[..Math.Max(0, max)] + "…";

    private static string Describe(Exception ex) =>
        ex.InnerException is { } inner && !ex.Message.Contains(inner.Message, StringComparison.Ordinal) ? $"{ex.Message} ({inner.Message})" : ex.Message;

    /// <summary>The JSON the service worker reads.</summary>
    public sealed record PushPayload(string Title, string Body, string Url, string Tag, bool Test);

    /// <summary>VAPID tokens per audience, reused while more than an hour of their 12 is left (one signature per push service, not per message).</summary>
    private sealed class TokenCache(TimeProvider clock) : IVapidTokenCache
    {
        private readonly ConcurrentDictionary<string, (DateTimeOffset Expires, string Token)> _tokens = new(StringComparer.Ordinal);

        public void Put(string audience, DateTimeOffset expiration, string token) => _tokens[audience] = (expiration, token);

        public string? Get(string audience) =>
            _tokens.TryGetValue(audience, out var cached) && cached.Expires - clock.GetUtcNow() > TimeSpan.FromHours(1) ? cached.Token : null;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Push subscription {SubscriptionId} of user {UserId} is gone (HTTP {Status} from its push service) and was removed")]
        public static partial void Gone(ILogger logger, Guid subscriptionId, Guid userId, int status);

        [LoggerMessage(2, LogLevel.Warning, "Push subscription {SubscriptionId} of user {UserId} was removed after {Failures} failed sends in a row")]
        public static partial void Dropped(ILogger logger, Guid subscriptionId, Guid userId, int failures);
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(WebPushChannel.PushPayload))]
internal sealed partial class PayloadJson : JsonSerializerContext;
