using System.Security.Cryptography;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Webhooks;
using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Notifications.WebPush;

/// <summary>
/// The signed-in user's web push subscriptions (one per device): subscribe, list, read, unsubscribe. A subscription's
/// endpoint must be a public https URL (loopback, over http too, only with <c>WebPush:AllowLoopbackEndpoints</c>): the
/// server posts to it, so the address rules of webhooks apply (<see cref="WebhookAddressRules"/>), when it is saved
/// and again at connect time. The keys must be what a browser makes: a P-256 point and a 16-byte secret.
/// </summary>
public sealed class PushSubscriptionService(PushSubscriptionStore store, Changes changes, IOptions<ClarityOptions> options, TimeProvider clock)
{
    public const int MaxEndpointLength = 2048;
    private const int MaxUserAgentLength = 300;

    private WebPushOptions Settings => options.Value.WebPush;

    public async Task<(PushSubscriptionInfo Subscription, bool Created)> SubscribeAsync(Guid userId, CreatePushSubscriptionRequest request, string? userAgent, CancellationToken ct)
    {
        var endpoint = await CheckEndpointAsync(request.Endpoint, Settings.AllowLoopbackEndpoints, ct);
        if (request.Keys is null)
        {
            throw Problems.Validation("keys", "is required: {p256dh, auth} as the browser's PushSubscription.toJSON() gives them.");
        }

        var p256dh = CheckKey(request.Keys.P256dh, "keys.p256dh", 65);
        var auth = CheckKey(request.Keys.Auth, "keys.auth", 16);
        if (!IsP256Point(p256dh))
        {
            throw Problems.Validation("keys.p256dh", "must be an uncompressed P-256 public key (65 bytes starting with 0x04, base64url).");
        }

        var row = new PushSubscriptionRow
        {
            Id = Guid.CreateVersion7(),
            UserId = userId,
            Endpoint = endpoint,
            P256dh = System.Buffers.Text.Base64Url.EncodeToString(p256dh),
            Auth = System.Buffers.Text.Base64Url.EncodeToString(auth),
            UserAgent = UserAgent(userAgent),
            CreatedAt = DbTime.ToDb(clock.GetUtcNow()),
        };
        var saved = await changes.RunAsync(Actor.User(userId), async change =>
            {
                var result = await store.SaveAsync(change, row, Settings.MaxSubscriptionsPerUser);
                if (result is { Created: true })
                {
                    change.Audit(new AuditRecord(null, NotificationAuditActions.PushSubscriptionAdded, Target(row), After: Fields(row)));
                }

                return result;
            }, ct)
            ?? throw Problems.Conflict("too-many-push-subscriptions",
                $"You already have {Settings.MaxSubscriptionsPerUser} devices with notifications on, the most there may be (WebPush:MaxSubscriptionsPerUser). Turn one off first.");
        return (saved.Row.ToModel(), saved.Created);
    }

    public async Task<PushSubscriptionList> ListAsync(Guid userId, CancellationToken ct) =>
        new([.. (await store.ForUserAsync(userId, ct)).Select(r => r.ToModel())]);

    /// <summary>One subscription of the user; another user's is as invisible as a missing one (404).</summary>
    public async Task<PushSubscriptionInfo> GetAsync(Guid userId, Guid id, CancellationToken ct) =>
        (await store.GetAsync(userId, id, ct))?.ToModel() ?? throw Problems.NotFound("Push subscription");

    public async Task DeleteAsync(Guid userId, Guid id, CancellationToken ct)
    {
        var deleted = await changes.RunAsync(Actor.User(userId), async change =>
        {
            var row = await store.DeleteAsync(change, userId, id);
            if (row is not null)
            {
                change.Audit(new AuditRecord(null, NotificationAuditActions.PushSubscriptionRemoved, Target(row), Before: Fields(row)));
            }

            return row is not null;
        }, ct);
        if (!deleted)
        {
            throw Problems.NotFound("Push subscription");
        }
    }

    /// <summary>
    /// Checks a subscription's endpoint: an absolute https URL without credentials or fragment (http only to loopback when
    /// allowed), whose host resolves only to addresses the webhook rules accept (loopback too when allowed, never a
    /// private network). Throws a 400 naming <c>endpoint</c>; returns the URL as given.
    /// </summary>
    public static async Task<string> CheckEndpointAsync(string? endpoint, bool allowLoopback, CancellationToken ct)
    {
        var text = Check.Required(endpoint, "endpoint", MaxEndpointLength);
        if (text.Any(c => c is < '!' or > '~'))
        {
            // Push services hand out plain ASCII URLs; anything else (spaces, control or non-ASCII characters) is not one.
            throw Problems.Validation("endpoint", "must be a URL of printable ASCII characters, as push services give them.");
        }

        var (uri, addresses) = await WebhookAddressRules.ResolveAsync(text, (rule, message) => Problems.Validation("endpoint", $"{message} (rule: {rule})"), ct);
        var loopback = true;
        foreach (var address in addresses)
        {
            var rule = WebhookAddressRules.Violation(address, allowPrivateNetworks: false);
            if (rule == "loopback" && allowLoopback)
            {
                continue;
            }

            loopback = false;
            if (rule is not null)
            {
                var why = rule == "loopback" ? "loopback addresses are refused unless WebPush:AllowLoopbackEndpoints is set" : WebhookAddressRules.Explain(rule);
                throw Problems.Validation("endpoint", $"resolves to {address}: {why} (rule: {rule}).");
            }
        }

        if (uri.Scheme == Uri.UriSchemeHttp && !loopback)
        {
            throw Problems.Validation("endpoint", "must use https (http only to a loopback push service, with WebPush:AllowLoopbackEndpoints).");
        }

        return text;
    }

    /// <summary>A device's subscription belongs to its user, not to an org: its entries are on the instance's chain.</summary>
    private static AuditTarget Target(PushSubscriptionRow row) => new("push_subscription", row.Id, row.UserAgent);

    /// <summary>
    /// What an entry records of a subscription: its user, the push service's host and the device's user agent. Never the
    /// endpoint's path (which addresses the device) or the keys.
    /// </summary>
    private static AuditFields Fields(PushSubscriptionRow row) => new AuditFields()
        .Add("userId", row.UserId).Add("pushService", Uri.TryCreate(row.Endpoint, UriKind.Absolute, out var uri) ? uri.Host : null).Add("userAgent", row.UserAgent);

    /// <summary>Decodes a base64url key (padding allowed) of exactly <paramref name="bytes"/> bytes, or throws a 400 naming the field.</summary>
    private static byte[] CheckKey(string? value, string field, int bytes)
    {
        var characters = (bytes * 8 + 5) / 6;
        if (string.IsNullOrWhiteSpace(value))
        {
            throw Problems.Validation(field, "is required.");
        }

        var text = value.Trim().TrimEnd('=');
        byte[] decoded;
        try
        {
            decoded = text.Length == characters ? System.Buffers.Text.Base64Url.DecodeFromChars(text) : [];
        }
        catch (FormatException)
        {
            decoded = [];
        }

        if (decoded.Length != bytes)
        {
            throw Problems.Validation(field, $"must be {bytes} bytes in base64url ({characters} characters of A-Z a-z 0-9 - _).");
        }

        return decoded;
    }

    private static bool IsP256Point(byte[] point)
    {
        if (point[0] != 0x04)
        {
            return false;
        }

        try
        {
            using var key = ECDiffieHellman.Create(new ECParameters
            {
                Curve = ECCurve.NamedCurves.nistP256,
                Q = new ECPoint { X = point[1..33], Y = point[33..65] },
            });
            return true;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static string? UserAgent(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        var clean = new string([.. value.Where(ch => !char.IsControl(ch) && !char.IsSurrogate(ch))]).Trim();
        return clean.Length == 0 ? null : clean.Length > MaxUserAgentLength ? clean[..MaxUserAgentLength] : clean;
    }
}
