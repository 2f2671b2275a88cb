using System.Text.Json;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Tasks;
using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Webhooks;

/// <summary>
/// Webhook endpoints of an org: create (the secret is shown once, stored encrypted), list, read, change, delete, rotate
/// the secret, and the delivery log with replay. Every change is a unit of work that emits <see cref="WebhookEndpointChanged"/>.
/// The API and the dashboard both come through here.
/// </summary>
public sealed class WebhookService(WebhookStore store, Changes changes, WebhookSecretProtector secrets, WebhookSender sender, IOptions<ClarityOptions> options, TimeProvider clock)
{
    private WebhookOptions Settings => options.Value.Webhooks;

    public async Task<CreatedWebhook> CreateAsync(OrgContext org, CreateWebhookRequest request, CancellationToken ct)
    {
        var url = await WebhookAddressRules.CheckUrlAsync(request.Url, Settings.AllowPrivateNetworks, ct);
        var events = WebhookRules.Events(request.Events);
        var filters = WebhookRules.Filters(request.Filters);
        var description = Check.Optional(request.Description, "description", 500);
        var secret = WebhookSignature.NewSecret();
        var now = Now();
        var row = new WebhookRow
        {
            Id = Guid.CreateVersion7(),
            OrgId = org.OrgId,
            Url = url.OriginalString,
            Description = description,
            Events = JsonSerializer.Serialize(events, JsonDefaults.Options),
            Filters = JsonSerializer.Serialize(filters, JsonDefaults.Options),
            Enabled = 1,
            Secret = secrets.Protect(secret),
            CreatedAt = DbTime.ToDb(now),
            UpdatedAt = DbTime.ToDb(now),
        };
        var inserted = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            if (!await store.InsertAsync(change, row, Settings.MaxEndpointsPerOrg))
            {
                return false;
            }

            change.Emit(new WebhookEndpointChanged(org.OrgId, row.Id, "created", row.Url));
            change.Audit(new AuditRecord(org.OrgId, AuditActions.WebhookCreated, WebhookAudit.Target(row), After: WebhookAudit.Fields(row).Secret("secret", secret)));
            return true;
        }, ct);
        if (!inserted)
        {
            throw Problems.Conflict("too-many-webhooks", $"The org already has {Settings.MaxEndpointsPerOrg} webhook endpoints, the most it may have (Webhooks:MaxEndpointsPerOrg).");
        }

        return new CreatedWebhook(row.Id, row.Url, description, events, filters, true, now, secret);
    }

    public async Task<WebhookPage> ListAsync(OrgContext org, string? cursor, int? limit, CancellationToken ct)
    {
        var take = Check.Range(limit, "limit", 1, 200, 100);
        var rows = await store.ListAsync(org.OrgId, Cursor.Decode(cursor), take + 1, ct);
        var items = rows.Take(take).Select(r => r.ToModel()).ToList();
        return new WebhookPage(items, rows.Count > take ? Cursor.Encode(items[^1].Id) : null);
    }

    public async Task<Webhook> GetAsync(OrgContext org, Guid id, CancellationToken ct) =>
        (await store.GetAsync(org.OrgId, id, ct))?.ToModel() ?? throw Problems.NotFound("Webhook");

    public async Task<Webhook> UpdateAsync(OrgContext org, Guid id, UpdateWebhookRequest request, CancellationToken ct)
    {
        var current = await store.GetAsync(org.OrgId, id, ct) ?? throw Problems.NotFound("Webhook");
        var row = new WebhookRow
        {
            Id = id,
            OrgId = org.OrgId,
            Url = request.Url is null ? current.Url : (await WebhookAddressRules.CheckUrlAsync(request.Url, Settings.AllowPrivateNetworks, ct)).OriginalString,
            Description = request.Description is null ? current.Description : Check.Optional(request.Description, "description", 500),
            Events = request.Events is null ? current.Events : JsonSerializer.Serialize(WebhookRules.Events(request.Events), JsonDefaults.Options),
            Filters = request.Filters is null ? current.Filters : JsonSerializer.Serialize(WebhookRules.Filters(request.Filters), JsonDefaults.Options),
            Enabled = request.Enabled is { } enabled ? (enabled ? 1 : 0) : current.Enabled,
            UpdatedAt = DbTime.ToDb(Now()),
        };
        var reenabled = row.Enabled == 1 && current.Enabled == 0;
        row.DisabledReason = row.Enabled == 1 ? null : request.Enabled == false ? "disabled by hand" : current.DisabledReason;
        var updated = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var written = await store.UpdateAsync(change, row, reenabled);
            if (written is not null)
            {
                change.Emit(new WebhookEndpointChanged(org.OrgId, id, "updated", written.Url));
                change.Audit(new AuditRecord(org.OrgId, AuditActions.WebhookUpdated, WebhookAudit.Target(written), WebhookAudit.Fields(current), WebhookAudit.Fields(written)));
            }

            return written;
        }, ct) ?? throw Problems.NotFound("Webhook");
        if (reenabled)
        {
            sender.Rescan();
        }

        return updated.ToModel();
    }

    public async Task DeleteAsync(OrgContext org, Guid id, CancellationToken ct)
    {
        var deleted = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var current = await store.GetAsync(org.OrgId, id, CancellationToken.None);
            if (current is null || !await store.DeleteAsync(change, org.OrgId, id))
            {
                return false;
            }

            change.Emit(new WebhookEndpointChanged(org.OrgId, id, "deleted", current.Url));
            change.Audit(new AuditRecord(org.OrgId, AuditActions.WebhookDeleted, WebhookAudit.Target(current), Before: WebhookAudit.Fields(current)));
            return true;
        }, ct);
        if (!deleted)
        {
            throw Problems.NotFound("Webhook");
        }
    }

    public async Task<RotatedWebhookSecret> RotateSecretAsync(OrgContext org, Guid id, int? overlapSeconds, CancellationToken ct)
    {
        var overlap = overlapSeconds is { } seconds
            ? TimeSpan.FromSeconds(Check.Range(seconds, "overlapSeconds", 0, 30 * 86_400, 0))
            : Settings.SecretRotationOverlap;
        var secret = WebhookSignature.NewSecret();
        var protectedSecret = secrets.Protect(secret);
        var row = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            long? expires = overlap > TimeSpan.Zero ? change.Now + (long)overlap.TotalMilliseconds : null;
            var rotated = await store.RotateAsync(change, org.OrgId, id, protectedSecret, expires);
            if (rotated is not null)
            {
                change.Emit(new WebhookEndpointChanged(org.OrgId, id, "rotated", rotated.Url));
                change.Audit(new AuditRecord(org.OrgId, AuditActions.WebhookSecretRotated, WebhookAudit.Target(rotated),
                    After: new AuditFields().Secret("secret", secret).Add("previousSecretExpiresAt", DbTime.FromDb(expires))));
            }

            return rotated;
        }, ct) ?? throw Problems.NotFound("Webhook");
        return new RotatedWebhookSecret(id, secret, DbTime.FromDb(row.PreviousSecretExpiresAt));
    }

    public async Task<WebhookDeliveryPage> ListDeliveriesAsync(OrgContext org, Guid id, string? cursor, int? limit, CancellationToken ct)
    {
        var take = Check.Range(limit, "limit", 1, 200, 50);
        var before = Cursor.Decode(cursor);
        _ = await store.GetAsync(org.OrgId, id, ct) ?? throw Problems.NotFound("Webhook");
        var rows = await store.ListDeliveriesAsync(org.OrgId, id, before, take + 1, ct);
        var items = rows.Take(take).Select(r => r.ToModel()).ToList();
        return new WebhookDeliveryPage(items, rows.Count > take ? Cursor.Encode(items[^1].Id) : null);
    }

    public async Task<WebhookDelivery> ReplayAsync(OrgContext org, Guid id, Guid deliveryId, CancellationToken ct)
    {
        var replay = await changes.RunAsync(org.Caller.Actor, async change =>
            {
                var replayed = await store.ReplayAsync(change, org.OrgId, id, deliveryId);
                if (replayed is not null)
                {
                    change.Audit(new AuditRecord(org.OrgId, AuditActions.WebhookDeliveryReplayed, new AuditTarget("webhook", id),
                        After: new AuditFields().Add("delivery", replayed.Id)));
                }

                return replayed;
            }, ct)
            ?? throw Problems.NotFound("Delivery");
        sender.Rescan();
        return replay.ToModel();
    }

    private DateTimeOffset Now() => DbTime.FromDb(DbTime.ToDb(clock.GetUtcNow()));
}

/// <summary>The validation rules of webhook input.</summary>
public static partial class WebhookRules
{
    [System.Text.RegularExpressions.GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}\z")]
    private static partial System.Text.RegularExpressions.Regex QueuePattern();

    public const int MaxEvents = 100;

    /// <summary>Event types: known public names or <c>*</c>, at least one, without repeats (sorted).</summary>
    public static IReadOnlyList<string> Events(IReadOnlyList<string>? events)
    {
        if (events is null || events.Count == 0)
        {
            throw Problems.Validation("events", "name at least one event type, or \"*\" for all.");
        }

        if (events.Count > MaxEvents)
        {
            throw Problems.Validation("events", $"may name at most {MaxEvents} event types.");
        }

        var result = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in events)
        {
            if (type is null || (type != PublicEvents.All && !PublicEvents.IsKnown(type)))
            {
                var shown = type is null ? "null" : type.Length > 100 ? type[..100] + "…" : type;
                throw new ApiException(400, "unknown-event-type", "Unknown event type", $"events: '{shown}' is not an event type; see docs/api.md for the list, or use \"*\" for all.",
                    new Dictionary<string, string[]> { ["events"] = [$"'{shown}' is not an event type."] });
            }

            result.Add(type);
        }

        return result.Contains(PublicEvents.All) ? [PublicEvents.All] : [.. result];
    }

    public static WebhookFilters Filters(WebhookFiltersRequest? filters)
    {
        if (filters is null)
        {
            return new WebhookFilters(null, null);
        }

        IReadOnlyList<string>? queues = null;
        if (filters.Queues is { } q)
        {
            if (q.Count > 64)
            {
                throw Problems.Validation("filters.queues", "may name at most 64 queues.");
            }

            queues = [.. q.Select(Queue).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        }

        var labels = filters.Labels is null ? null : Check.Labels(filters.Labels, "filters.labels");
        return new WebhookFilters(queues is { Count: > 0 } ? queues : null, labels is { Count: > 0 } ? labels : null);
    }

    private static string Queue(string? name)
    {
        var queue = Check.Required(name, "filters.queues", 100);
        if (!QueuePattern().IsMatch(queue))
        {
            throw Problems.Validation("filters.queues", "queue names are 1-100 characters of letters, digits and . _ : / -, starting with a letter or digit.");
        }

        return queue;
    }
}

/// <summary>How a webhook endpoint appears in the audit log: its target, and its settings (never its secret, which a change names only as erased).</summary>
internal static class WebhookAudit
{
    public static AuditTarget Target(WebhookRow row) => new("webhook", row.Id, row.Url);

    public static AuditFields Fields(WebhookRow row) => new AuditFields()
        .Add("url", row.Url)
        .Add("description", row.Description)
        .Add("events", JsonSerializer.Deserialize<string[]>(row.Events, JsonDefaults.Options))
        .Add("filters", row.Filters)
        .Add("enabled", row.Enabled == 1);
}
