using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Hosting;
using Clarity.Storage;

namespace Clarity.Features.Audit;

/// <summary>The raw filters of an audit list or export, as the API and the dashboard receive them.</summary>
public sealed record AuditFilter(string? Actor = null, string? Action = null, string? Target = null, string? From = null, string? To = null);

/// <summary>
/// Reading the org's audit log: a filtered list, newest first, paged by an opaque cursor, and a filtered export, which
/// writes an <c>audit.exported</c> entry of its own before the first byte. Writing entries is the unit of work's job
/// (<see cref="Change.Audit"/>); this service only reads.
/// </summary>
public sealed partial class AuditService(AuditStore store, Changes changes)
{
    private static readonly string[] s_actorKinds = ["user", "apikey", "agent", "system"];

    [GeneratedRegex(@"^[a-z][a-z0-9_]{0,62}(\.[a-z][a-z0-9_]{0,62})?\z")]
    private static partial Regex ActionPattern();

    [GeneratedRegex(@"^[a-z][a-z0-9_]{0,62}\.\*\z")]
    private static partial Regex ActionPrefixPattern();

    [GeneratedRegex(@"^[a-z][a-z0-9_]{0,62}\z")]
    private static partial Regex TypePattern();

    public async Task<AuditPage> ListAsync(OrgContext org, AuditFilter filter, string? cursor, int? limit, CancellationToken ct)
    {
        var query = Parse(org.OrgId, filter);
        var take = Check.Range(limit, "limit", 1, 200, 50);
        var rows = await store.ListAsync(query, DecodeCursor(cursor), take + 1, ct);
        var items = rows.Take(take).Select(ToModel).ToList();
        return new AuditPage(items, rows.Count > take ? EncodeCursor(items[^1].Id) : null);
    }

    /// <summary>Checks the filters, then records the export in the audit log (so that an export that cannot be audited does not happen) and returns the entries, oldest first.</summary>
    public async Task<IAsyncEnumerable<AuditRow>> ExportAsync(OrgContext org, AuditFilter filter, string format, CancellationToken ct)
    {
        var query = Parse(org.OrgId, filter);
        await changes.RunAsync(org.Caller.Actor, change =>
        {
            change.Audit(new AuditRecord(org.OrgId, AuditActions.AuditExported, new AuditTarget("audit", org.OrgId, org.Slug),
                After: new AuditFields().Add("format", format).Add("actor", filter.Actor).Add("action", filter.Action).Add("target", filter.Target)
                    .Add("from", filter.From).Add("to", filter.To)));
            return Task.CompletedTask;
        }, ct);
        return store.StreamAsync(query, ct);
    }

    public static AuditEntry ToModel(AuditRow row) => new(
        row.Id,
        row.Seq,
        DbTime.FromDb(row.At),
        new AuditActor(row.ActorKind, row.ActorId),
        row.Action,
        row.TargetType is null ? null : new AuditTargetRef(row.TargetType, row.TargetId),
        row.Entry is null ? null : JsonDocument.Parse(row.Entry).RootElement.Clone(),
        Convert.ToHexStringLower(row.Digest),
        row.Hash is null ? null : Convert.ToHexStringLower(row.Hash),
        row.PrunedAt is { } pruned ? DbTime.FromDb(pruned) : null);

    /// <summary>Turns the filters into a query of the org's chain; a malformed one is a 400 that names it.</summary>
    public static AuditQuery Parse(Guid orgId, AuditFilter filter)
    {
        string? actorKind = null;
        Guid? actorId = null;
        if (!string.IsNullOrEmpty(filter.Actor))
        {
            var (kind, id) = Split(filter.Actor);
            if (!s_actorKinds.Contains(kind))
            {
                throw Problems.Validation("actor", $"must be kind:id, the kind one of {string.Join(", ", s_actorKinds)} (the id may be left out).");
            }

            actorKind = kind;
            if (id is not null)
            {
                actorId = Guid.TryParse(id, out var parsed) ? parsed : throw Problems.Validation("actor", "the id after the kind must be a UUID.");
            }
        }

        string? action = null, prefix = null;
        if (!string.IsNullOrEmpty(filter.Action))
        {
            if (ActionPrefixPattern().IsMatch(filter.Action))
            {
                prefix = filter.Action[..^1];
            }
            else if (ActionPattern().IsMatch(filter.Action))
            {
                action = filter.Action;
            }
            else
            {
                throw Problems.Validation("action", "must be an action such as task.created, or a prefix such as task.*.");
            }
        }

        string? targetType = null, targetId = null;
        if (!string.IsNullOrEmpty(filter.Target))
        {
            var (type, id) = Split(filter.Target);
            if (!TypePattern().IsMatch(type))
            {
                throw Problems.Validation("target", "must be type:id, such as task:0190… (the id may be left out).");
            }

            targetType = type;
            targetId = id is null ? null : Check.Required(id, "target", 200);
        }

        var from = Time(filter.From, "from");
        var to = Time(filter.To, "to");
        if (from is not null && to is not null && to < from)
        {
            throw Problems.Validation("to", "must not be before from.");
        }

        return new AuditQuery(orgId, actorKind, actorId, action, prefix, targetType, targetId, from, to);
    }

    private static (string Kind, string? Id) Split(string value)
    {
        Check.NoNul(value, "filter");
        var colon = value.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? (value, null) : (value[..colon], value[(colon + 1)..] is { Length: > 0 } id ? id : null);
    }

    private static long? Time(string? value, string field)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        if (value.Length > 40 || !DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
        {
            throw Problems.Validation(field, "must be an ISO-8601 time such as 2026-01-31T12:00:00Z.");
        }

        return time.ToUnixTimeMilliseconds();
    }

    public static string EncodeCursor(long id)
    {
        Span<byte> bytes = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(bytes, id);
        return Identity.ApiKeySecret.Base64Url(bytes.ToArray());
    }

    public static long? DecodeCursor(string? cursor)
    {
        if (string.IsNullOrEmpty(cursor))
        {
            return null;
        }

        try
        {
            var padded = cursor.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - padded.Length % 4) % 4);
            var bytes = Convert.FromBase64String(padded);
            if (bytes.Length == 8 && System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(bytes) is > 0 and var id)
            {
                return id;
            }
        }
        catch (FormatException)
        {
        }

        throw Problems.Validation("cursor", "is not a cursor returned by this API.");
    }
}
