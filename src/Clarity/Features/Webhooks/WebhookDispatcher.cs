using System.Globalization;
using System.Text.Json.Nodes;
using Clarity.Events;
using Clarity.Hosting;
using Clarity.Storage;

namespace Clarity.Features.Webhooks;

/// <summary>
/// The outbox consumer of webhooks, on the leader (<see cref="OutboxConsumer"/>, cursor <see cref="WebhookStore.CursorName"/>):
/// it turns each event that has a public type into one delivery per matching enabled endpoint, and writes those
/// deliveries in the same transaction as it advances the cursor. Every event is thus fanned out once (at least once
/// reaches the receivers).
/// </summary>
public sealed class WebhookDispatcher(
    EventLog log, ConsumerCursors cursors, WebhookStore store, WebhookSender sender, IEventBus bus, TimeProvider clock, Leadership leadership, ILogger<WebhookDispatcher> logger)
    : OutboxConsumer(log, cursors, bus, clock, leadership, logger)
{
    protected override string Name => "webhook fan-out";

    protected override string CursorName => WebhookStore.CursorName;

    protected override string LogSubject => "Webhooks";

    protected override async Task<OutboxWork> HandleAsync(OutboxBatch batch, CancellationToken ct)
    {
        var events = new List<(EventRow Row, ClarityEvent Event, string Type)>();
        foreach (var (row, evt) in batch.Events)
        {
            if (evt.OrgId != Guid.Empty && PublicEvents.TypeOf(evt) is { } type)
            {
                events.Add((row, evt, type));
            }
        }

        if (events.Count == 0)
        {
            return OutboxWork.None;
        }

        var endpoints = await store.EnabledOfOrgsAsync([.. events.Select(e => e.Row.OrgId).Distinct()], ct);
        if (endpoints.Count == 0)
        {
            return OutboxWork.None;
        }

        var deliveries = await MatchAsync(events, endpoints, DbTime.ToDb(batch.Now), ct);
        return deliveries.Count == 0 ? OutboxWork.None : new OutboxWork((c, t) => store.InsertDeliveriesAsync(c, t, deliveries), sender.Wake);
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
        var facets = await store.TaskFacetsAsync(filtered, ct);

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
}
