using Clarity.Storage;

namespace Clarity.Features.Notifications.WebPush;

/// <summary>The browser's keys of a subscription (<c>PushSubscription.toJSON().keys</c>), base64url.</summary>
public sealed record PushSubscriptionKeys(string? P256dh, string? Auth);

/// <summary>
/// <c>POST /api/v1/me/push-subscriptions</c>: what the browser's <c>PushSubscription.toJSON()</c> gives
/// (<c>{endpoint, keys: {p256dh, auth}}</c>; its <c>expirationTime</c> is ignored).
/// </summary>
public sealed record CreatePushSubscriptionRequest(string? Endpoint, PushSubscriptionKeys? Keys);

/// <summary>A device of the signed-in user that receives web push (its keys are never shown again).</summary>
public sealed record PushSubscriptionInfo(Guid Id, string Endpoint, string? UserAgent, DateTimeOffset CreatedAt, DateTimeOffset? LastSuccessAt, int FailureCount);

/// <summary>The signed-in user's push subscriptions, newest first (at most <c>WebPush:MaxSubscriptionsPerUser</c>, so one page).</summary>
public sealed record PushSubscriptionList(IReadOnlyList<PushSubscriptionInfo> Items);

/// <summary>The key browsers subscribe with (<c>applicationServerKey</c>).</summary>
public sealed record VapidPublicKey(string PublicKey);

/// <summary>A subscription as stored.</summary>
public sealed class PushSubscriptionRow
{
    public Guid Id { get; set; }

    public Guid UserId { get; set; }

    public string Endpoint { get; set; } = "";

    public string P256dh { get; set; } = "";

    public string Auth { get; set; } = "";

    public string? UserAgent { get; set; }

    public long CreatedAt { get; set; }

    public long? LastSuccessAt { get; set; }

    public long FailureCount { get; set; }

    public PushSubscriptionInfo ToModel() =>
        new(Id, Endpoint, UserAgent, DbTime.FromDb(CreatedAt), DbTime.FromDb(LastSuccessAt), (int)FailureCount);
}
