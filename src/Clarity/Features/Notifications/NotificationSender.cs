using System.Collections.Concurrent;
using System.Text.Json;
using Clarity.Events;
using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Notifications;

/// <summary>
/// The channels this server can send through, by type: every <see cref="INotificationChannel"/> registered in DI (the
/// last one of a type wins).
/// </summary>
public sealed class NotificationChannelRegistry(IEnumerable<INotificationChannel> channels)
{
    private readonly ConcurrentDictionary<string, INotificationChannel> _byType =
        new(channels.GroupBy(c => c.Type, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal), StringComparer.Ordinal);

    public INotificationChannel? Find(string type) => _byType.GetValueOrDefault(type);

    /// <summary>Test hook: puts <paramref name="channel"/> in place of whatever serves its type.</summary>
    internal void Use(INotificationChannel channel) => _byType[channel.Type] = channel;
}

/// <summary>
/// Sends due deliveries, on the leader, never on a request's path. Each channel type has its own lane (a loop of its
/// own, plus one lane that fails deliveries of a type this server does not know), so a slow or unreachable channel (an
/// SMTP server timing out) holds up only its own deliveries: Slack posts and web pushes go on beside it. A lane's pass
/// reads its oldest due deliveries (and, for digests, the events they group), builds their views in one batch, sends
/// them (at most <c>Notifications:MaxConcurrencyPerChannel</c> in flight, each bounded by <c>SendTimeoutSeconds</c>),
/// and records every outcome of the pass in one transaction. A channel's "try again" is retried after the next wait of
/// <c>Notifications:RetrySchedule</c> (±20 % jitter) until the schedule runs out; its "fail" is final. A delivery whose
/// channel this server does not have fails at once, saying so. At least once: a delivery being sent when the leader
/// stops is still pending and is sent again.
/// </summary>
public sealed partial class NotificationSender : IHostedService, IDisposable
{
    private const int Batch = 200;
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _slots = new(StringComparer.Ordinal);
    private readonly NotificationStore store;
    private readonly EventLog log;
    private readonly NotificationViews views;
    private readonly NotificationChannelRegistry channels;
    private readonly IOptions<ClarityOptions> options;
    private readonly TimeProvider clock;
    private readonly ILogger<NotificationSender> logger;
    private readonly Lane[] _lanes;

    public NotificationSender(
        NotificationStore store, EventLog log, NotificationViews views, NotificationChannelRegistry channels, IOptions<ClarityOptions> options, TimeProvider clock,
        Leadership leadership, ILogger<NotificationSender> logger)
    {
        this.store = store;
        this.log = log;
        this.views = views;
        this.channels = channels;
        this.options = options;
        this.clock = clock;
        this.logger = logger;
        _lanes = [.. NotificationChannels.All.Select(c => new Lane(this, c, leadership)), new Lane(this, null, leadership)];
    }

    private NotificationOptions Settings => options.Value.Notifications;

    /// <summary>Runs every known channel's lane soon, without waiting for the interval.</summary>
    public void Wake()
    {
        foreach (var lane in _lanes.Where(l => l.Channel is not null))
        {
            lane.Wake();
        }
    }

    /// <summary>One pass of every lane, side by side (tests run passes of their own).</summary>
    internal async Task<bool> PassAsync(CancellationToken ct) => (await Task.WhenAll(_lanes.Select(l => SendDueAsync(l.Channel, ct)))).Any(more => more);

    public Task StartAsync(CancellationToken cancellationToken) => Task.WhenAll(_lanes.Select(l => l.StartAsync(cancellationToken)));

    public Task StopAsync(CancellationToken cancellationToken) => Task.WhenAll(_lanes.Select(l => l.StopAsync(cancellationToken)));

    private async Task<bool> SendDueAsync(string? channel, CancellationToken ct)
    {
        var due = await store.DueAsync(DbTime.ToDb(clock.GetUtcNow()), channel, Batch, ct);
        if (due.Count == 0)
        {
            return false;
        }

        var grouped = (await store.GroupedAsync([.. due.Where(d => d.IsDigest == 1).Select(d => d.Id)], ct))
            .GroupBy(g => g.DigestId).ToDictionary(g => g.Key, g => g.Select(x => x.Seq).ToList());
        var seqs = due.Select(d => d.EventSeq).OfType<long>().Concat(grouped.Values.SelectMany(s => s)).Distinct().ToList();
        var rows = await log.ReadBySeqAsync(seqs, ct);
        var events = new List<NotifiableEvent>();
        foreach (var row in rows)
        {
            try
            {
                if (row.ToEvent() is { } evt && NotifiableEvent.TypeOf(evt) is { } type)
                {
                    events.Add(new NotifiableEvent(row, evt, type));
                }
            }
            catch (JsonException)
            {
                // Unreadable: its delivery fails below, saying the event is gone.
            }
        }

        var built = await views.BuildAsync(events, ct);
        var attempts = await Task.WhenAll(due.Select(d => SendAsync(d, ViewOf(d, built, grouped), rows, ct)));
        await store.RecordAsync(attempts, CancellationToken.None);
        return due.Count == Batch;
    }

    private static NotificationView? ViewOf(
        NotificationDeliveryRow delivery, IReadOnlyDictionary<long, (NotificationView View, EventFacets Facets)> built, Dictionary<Guid, List<long>> grouped)
    {
        if (delivery.IsDigest == 0)
        {
            return delivery.EventSeq is { } seq && built.TryGetValue(seq, out var one) ? one.View : null;
        }

        var members = grouped.GetValueOrDefault(delivery.Id, []).Where(built.ContainsKey).Select(s => built[s].View).ToList();
        if (members.Count == 0)
        {
            return null;
        }

        var first = members[0];
        return first with
        {
            Summary = $"{members.Count} × {delivery.EventType} within {members[^1].OccurredAt - first.OccurredAt:hh\\:mm\\:ss}, the first: {first.Summary}",
            Digest = members,
        };
    }

    private async Task<DeliveryAttempt> SendAsync(NotificationDeliveryRow d, NotificationView? view, IReadOnlyList<EventRow> rows, CancellationToken ct)
    {
        DeliveryOutcome outcome;
        var channel = channels.Find(d.Channel);
        if (view?.Page is { EscalationStatus: not "open" } closed)
        {
            // Acknowledged, resolved or exhausted while this page waited (a retry after an outage): nobody needs it now.
            return new DeliveryAttempt(d.Id, NotificationDeliveryStatuses.Suppressed, null, $"not sent: the escalation is {closed.EscalationStatus}", null,
                DbTime.ToDb(clock.GetUtcNow()));
        }

        if (view is null)
        {
            outcome = DeliveryOutcome.Fail("the event this delivery is about is no longer in the outbox (pruned), so there is nothing to show");
        }
        else if (channel is null)
        {
            outcome = DeliveryOutcome.Fail($"no {d.Channel} channel is configured on this server (see docs/operations.md)");
        }
        else
        {
            var slots = _slots.GetOrAdd(d.Channel, _ => new SemaphoreSlim(Settings.MaxConcurrencyPerChannel));
            await slots.WaitAsync(ct);
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(Settings.SendTimeoutSeconds));
                var correlation = rows.FirstOrDefault(r => r.Seq == d.EventSeq)?.CorrelationId ?? "ntf_" + d.Id.ToString("N");
                try
                {
                    outcome = await channel.SendAsync(
                        new NotificationDelivery(d.Id, d.OrgId, d.Channel, d.Recipient, d.RecipientUserId, (int)d.Attempts + 1, correlation), view, timeout.Token);
                }
                catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
                {
                    outcome = DeliveryOutcome.Retry($"the {d.Channel} channel took longer than {Settings.SendTimeoutSeconds} s");
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // A channel must not throw for the far side's failures; one that does is treated as "try again".
                    Log.ChannelThrew(logger, ex, d.Channel, d.Id);
                    outcome = DeliveryOutcome.Retry($"the {d.Channel} channel failed: {ex.GetType().Name}");
                }
            }
            finally
            {
                slots.Release();
            }
        }

        var now = clock.GetUtcNow();
        if (outcome.Sent)
        {
            return new DeliveryAttempt(d.Id, NotificationDeliveryStatuses.Sent, null, null, outcome.ExternalId, DbTime.ToDb(now));
        }

        var retries = Settings.Retries;
        var error = Truncate(outcome.Detail ?? "failed");
        if (outcome.Retryable && d.Attempts < retries.Count)
        {
            var wait = retries[(int)d.Attempts];
            var jittered = TimeSpan.FromMilliseconds(wait.TotalMilliseconds * (0.8 + (Random.Shared.NextDouble() * 0.4)));
            return new DeliveryAttempt(d.Id, NotificationDeliveryStatuses.Pending, DbTime.ToDb(now + jittered), error, outcome.ExternalId, DbTime.ToDb(now));
        }

        return new DeliveryAttempt(d.Id, NotificationDeliveryStatuses.Failed, null, error, outcome.ExternalId, DbTime.ToDb(now));
    }

    private static string Truncate(string text) => text.Length <= 1000 ? text : text[..1000] + "…";

    public void Dispose()
    {
        foreach (var lane in _lanes)
        {
            lane.Dispose();
        }

        foreach (var slots in _slots.Values)
        {
            slots.Dispose();
        }
    }

    /// <summary>The loop of one channel type (null: the types this server does not know).</summary>
    private sealed class Lane(NotificationSender sender, string? channel, Leadership leadership) : BackgroundLoop(leadership, sender.logger)
    {
        public string? Channel => channel;

        protected override string Name => $"notification sender ({channel ?? "unknown channels"})";

        // Deliveries of an unknown type exist only when a channel was removed from the code: a minute is soon enough to fail them.
        protected override TimeSpan Interval => channel is null ? TimeSpan.FromMinutes(1) : TimeSpan.FromMilliseconds(sender.Settings.PollMilliseconds);

        protected override Task<bool> RunOnceAsync(CancellationToken ct) => sender.SendDueAsync(channel, ct);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "The {Channel} notification channel threw while sending delivery {DeliveryId}; it will be tried again")]
        public static partial void ChannelThrew(ILogger logger, Exception error, string channel, Guid deliveryId);
    }
}

/// <summary>
/// Raises <c>clarification.expiring</c>, on the leader: for each pending question within its lead time of expiry
/// (<c>Notifications:ExpiringLead</c>, or the last quarter of its life when that is shorter), once per question, as an
/// outbox event emitted through a unit of work (so it is durable and fans out like any other).
/// </summary>
public sealed class NotificationExpirySweep(NotificationStore store, Changes changes, IOptions<ClarityOptions> options, TimeProvider clock, Leadership leadership, ILogger<NotificationExpirySweep> logger)
    : BackgroundLoop(leadership, logger)
{
    protected override string Name => "notification expiry sweep";

    protected override TimeSpan Interval => TimeSpan.FromMilliseconds(options.Value.Notifications.PollMilliseconds);

    internal Task<bool> PassAsync(CancellationToken ct) => RunOnceAsync(ct);

    protected override async Task<bool> RunOnceAsync(CancellationToken ct)
    {
        var lead = (long)options.Value.Notifications.ExpiringLead.TotalMilliseconds;
        var due = await store.ExpiringDueAsync(DbTime.ToDb(clock.GetUtcNow()), lead, 200, ct);
        if (due.Count == 0)
        {
            return false;
        }

        await changes.RunAsync(Actor.System, async change =>
        {
            foreach (var (id, orgId, taskId, expiresAt) in due)
            {
                if (await store.MarkExpiringAsync(change, id, orgId))
                {
                    change.Emit(new ClarificationExpiring(orgId, id, taskId, expiresAt));
                }
            }
        }, ct);
        return due.Count == 200;
    }
}
