using System.Collections.Concurrent;
using Clarity.Features.Notifications;

namespace Clarity.Tests.Features.Notifications.Core;

/// <summary>
/// A real <see cref="INotificationChannel"/> for tests: it records every delivery it is asked to send, with its view,
/// and answers what the test scripted for the recipient (Ok when nothing is scripted).
/// </summary>
public sealed class RecordingChannel(string type) : INotificationChannel
{
    private readonly ConcurrentQueue<(NotificationDelivery Delivery, NotificationView View)> _sent = new();
    private readonly ConcurrentDictionary<string, ConcurrentQueue<DeliveryOutcome>> _script = new(StringComparer.Ordinal);

    public string Type => type;

    public Task<DeliveryOutcome> SendAsync(NotificationDelivery delivery, NotificationView view, CancellationToken ct)
    {
        _sent.Enqueue((delivery, view));
        return Task.FromResult(_script.TryGetValue(delivery.Recipient, out var queue) && queue.TryDequeue(out var outcome) ? outcome : DeliveryOutcome.Ok("ext-" + delivery.Id));
    }

    /// <summary>The next sends to <paramref name="recipient"/> answer these outcomes, in order.</summary>
    public void Script(string recipient, params DeliveryOutcome[] outcomes)
    {
        var queue = _script.GetOrAdd(recipient, _ => new ConcurrentQueue<DeliveryOutcome>());
        foreach (var outcome in outcomes)
        {
            queue.Enqueue(outcome);
        }
    }

    public IReadOnlyList<(NotificationDelivery Delivery, NotificationView View)> SentTo(string recipient) =>
        [.. _sent.Where(s => s.Delivery.Recipient == recipient)];
}
