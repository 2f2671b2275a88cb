using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Clarity.Events;
using Clarity.Hosting;
using Clarity.Storage;

namespace Clarity.Features.Webhooks;

/// <summary>
/// The outbox consumer of webhooks, on the leader: it follows <c>events</c> by seq from a durable cursor
/// (<c>consumer_cursors</c>), turns each event that has a public type into one delivery per matching enabled endpoint,
/// and writes those deliveries in the same transaction as it advances the cursor. A crash or restart therefore resumes
/// exactly where the last committed pass ended: every event is fanned out once (at least once reaches the receivers).
/// Woken by every committed event on this node and by the sequencer's NOTIFY; at least every second regardless.
/// </summary>
public sealed partial class WebhookDispatcher : BackgroundLoop
{
    private const int Batch = 500;
    private readonly EventLog _log;
    private readonly WebhookStore _store;
    private readonly WebhookSender _sender;
    private readonly TimeProvider _clock;
    private readonly ILogger<WebhookDispatcher> _logger;
    private readonly IDisposable _subscription;

    public WebhookDispatcher(EventLog log, WebhookStore store, WebhookSender sender, IEventBus bus, TimeProvider clock, Leadership leadership, ILogger<WebhookDispatcher> logger)
        : base(leadership, logger)
    {
        _log = log;
        _store = store;
        _sender = sender;
        _clock = clock;
        _logger = logger;
        _subscription = bus.Subscribe(_ => Wake());
    }

    protected override string Name => "webhook fan-out";

    protected override TimeSpan Interval => TimeSpan.FromSeconds(1);

    protected override string? WakeChannel => EventLog.SequencedChannel;

    protected override async Task<bool> RunOnceAsync(CancellationToken ct)
    {
        var cursor = await _store.CursorAsync(ct);
        var rows = await _log.ReadAfterAsync(cursor, null, null, Batch, ct);
        if (rows.Count == 0)
        {
            return false;
        }

        var events = new List<(EventRow Row, ClarityEvent Event, string Type)>();
        foreach (var row in rows)
        {
            ClarityEvent? evt = null;
            try
            {
                evt = row.ToEvent();
            }
            catch (JsonException ex)
            {
                Log.Unreadable(_logger, ex, row.Seq);
            }

            if (evt is not null && evt.OrgId != Guid.Empty && PublicEvents.TypeOf(evt) is { } type)
            {
                events.Add((row, evt, type));
            }
        }

        var now = DbTime.ToDb(_clock.GetUtcNow());
        var deliveries = new List<DeliveryRow>();
        if (events.Count > 0)
        {
            var endpoints = await _store.EnabledOfOrgsAsync([.. events.Select(e => e.Row.OrgId).Distinct()], ct);
            if (endpoints.Count > 0)
            {
                deliveries = await MatchAsync(events, endpoints, now, ct);
            }
        }

        if (!await _store.FanOutAsync(cursor, rows[^1].Seq, deliveries, now, ct))
        {
            // Another pass (a former leader's) moved the cursor meanwhile: read again from where it is now.
            return true;
        }

        if (deliveries.Count > 0)
        {
            _sender.Wake();
        }

        return rows.Count == Batch;
    }

    private async Task<List<DeliveryRow>> MatchAsync(List<(EventRow Row, ClarityEvent Event, string Type)> events, IReadOnlyList<WebhookRow> endpoints, long now, CancellationToken ct)
    {
        var byOrg = endpoints
            .Select(e => (Row: e, Events: e.EventList, Filters: e.FilterSet))
            .GroupBy(e => e.Row.OrgId)
            .ToDictionary(g => g.Key, g => g.ToList());

        // The queue and labels of the tasks that filtered endpoints need to judge.
        var filtered = events
            .Where(e => PublicEvents.TaskOf(e.Event) is not null && byOrg.TryGetValue(e.Row.OrgId, out var list) && list.Any(x => x.Filters.Queues is not null || x.Filters.Labels is not null))
            .Select(e => PublicEvents.TaskOf(e.Event)!.Value)
            .Distinct()
            .ToList();
        var facets = await _store.TaskFacetsAsync(filtered, ct);

        var deliveries = new List<DeliveryRow>();
        foreach (var (row, evt, type) in events)
        {
            if (!byOrg.TryGetValue(row.OrgId, out var candidates))
            {
                continue;
            }

            string? body = null;
            foreach (var (endpoint, types, filters) in candidates)
            {
                if (!(types.Contains(PublicEvents.All) || types.Contains(type)) || !Passes(evt, filters, facets))
                {
                    continue;
                }

                body ??= Body(row, type);
                var id = Guid.CreateVersion7();
                deliveries.Add(new DeliveryRow
                {
                    Id = id,
                    EndpointId = endpoint.Id,
                    OrgId = row.OrgId,
                    MessageId = "msg_" + id.ToString("N"),
                    EventSeq = row.Seq,
                    EventType = type,
                    Payload = body,
                    Status = WebhookDeliveryStatuses.Pending,
                    NextAttemptAt = now,
                    CreatedAt = now,
                });
            }
        }

        return deliveries;
    }

    /// <summary>Filters apply to task and clarification events: the task's queue must be listed, and it must carry one of the labels.</summary>
    private static bool Passes(ClarityEvent evt, WebhookFilters filters, IReadOnlyDictionary<Guid, (string Queue, IReadOnlyList<string> Labels)> facets)
    {
        if ((filters.Queues is null && filters.Labels is null) || PublicEvents.TaskOf(evt) is not { } taskId)
        {
            return true;
        }

        var queue = (evt as TaskChanged)?.Queue;
        IReadOnlyList<string> labels = [];
        if (facets.TryGetValue(taskId, out var facet))
        {
            queue ??= facet.Queue;
            labels = facet.Labels;
        }

        if (filters.Queues is { } queues && (queue is null || !queues.Contains(queue, StringComparer.Ordinal)))
        {
            return false;
        }

        return filters.Labels is not { } wanted || labels.Any(l => wanted.Contains(l, StringComparer.Ordinal));
    }

    /// <summary>The Standard Webhooks payload: <c>{type, timestamp, data}</c>; data is the event's snapshot and its org.</summary>
    public static string Body(EventRow row, string type)
    {
        var data = JsonNode.Parse(row.Payload) as JsonObject ?? [];
        data["orgId"] = row.OrgId.ToString();
        var body = new JsonObject
        {
            ["type"] = type,
            ["timestamp"] = DbTime.FromDb(row.CreatedAt).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
            ["data"] = data,
        };
        return body.ToJsonString(JsonDefaults.Options);
    }

    public override void Dispose()
    {
        _subscription.Dispose();
        base.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Webhooks skipped outbox event {Seq}, whose payload could not be read")]
        public static partial void Unreadable(ILogger logger, Exception error, long seq);
    }
}
