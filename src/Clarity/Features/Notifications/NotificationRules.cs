using System.Text.RegularExpressions;
using Clarity.Hosting;

namespace Clarity.Features.Notifications;

/// <summary>
/// The validation rules of notification input, pure (no storage): each bad value is a 400 naming its field, e.g.
/// <c>channels[0].to[1]</c>. Whether a webhook endpoint or a user belongs to the org is checked by the service.
/// </summary>
public static partial class NotificationRules
{
    public const int MaxChannels = 20;
    public const int MaxRecipients = 50;

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}\z")]
    private static partial Regex QueuePattern();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}\z")]
    private static partial Regex WorkflowPattern();

    [GeneratedRegex(@"^([01][0-9]|2[0-3]):[0-5][0-9]\z")]
    private static partial Regex ClockPattern();

    /// <summary>Event types of <see cref="NotificationEvents"/>, at least one, without repeats (in catalogue order).</summary>
    public static IReadOnlyList<string> Events(IReadOnlyList<string>? events)
    {
        if (events is null || events.Count == 0)
        {
            throw Problems.Validation("events", "name at least one event type: " + string.Join(", ", NotificationEvents.All) + ".");
        }

        if (events.Count > NotificationEvents.All.Count * 2)
        {
            throw Problems.Validation("events", $"may name at most {NotificationEvents.All.Count} event types.");
        }

        for (var i = 0; i < events.Count; i++)
        {
            if (events[i] is not { } type || !NotificationEvents.All.Contains(type, StringComparer.Ordinal))
            {
                throw Problems.Validation($"events[{i}]", $"'{Shown(events[i])}' is not a notification event type; use one of " + string.Join(", ", NotificationEvents.All) + ".");
            }
        }

        return [.. NotificationEvents.All.Where(e => events.Contains(e, StringComparer.Ordinal))];
    }

    /// <summary>
    /// The channels of an org rule. Web push users and webhook endpoints are returned as ids; the caller checks that they
    /// are the org's (NotificationService checks).
    /// </summary>
    public static IReadOnlyList<RuleChannel> Channels(IReadOnlyList<NotificationChannelRequest>? channels)
    {
        if (channels is null || channels.Count == 0)
        {
            throw Problems.Validation("channels", "name at least one channel.");
        }

        if (channels.Count > MaxChannels)
        {
            throw Problems.Validation("channels", $"may name at most {MaxChannels} channels.");
        }

        var result = new List<RuleChannel>();
        for (var i = 0; i < channels.Count; i++)
        {
            var field = $"channels[{i}]";
            var channel = channels[i] ?? throw Problems.Validation(field, "must be a channel object.");
            var type = Type(channel.Type, field);
            result.Add(type switch
            {
                NotificationChannels.Email => new RuleChannel(type, To: Addresses(channel.To, field + ".to")),
                NotificationChannels.Slack => new RuleChannel(type, Channel: Slack(channel.Channel, field + ".channel")),
                NotificationChannels.WebPush => new RuleChannel(type, Users: Users(channel.Users, field + ".users")),
                _ => new RuleChannel(type, Endpoint: Id(channel.Endpoint, field + ".endpoint")),
            });
        }

        return result;
    }

    /// <summary>
    /// The channels of a personal rule: email or web push, naming nobody but the owner (left out, or the owner's own
    /// address and id); slack and webhook reach others, so they are for org rules.
    /// </summary>
    public static IReadOnlyList<RuleChannel> PersonalChannels(IReadOnlyList<NotificationChannelRequest>? channels, Guid userId, string email)
    {
        if (channels is null || channels.Count == 0)
        {
            throw Problems.Validation("channels", "name at least one channel (email or webpush).");
        }

        if (channels.Count > 2)
        {
            throw Problems.Validation("channels", "a personal rule names at most its two channels, email and webpush.");
        }

        var result = new List<RuleChannel>();
        for (var i = 0; i < channels.Count; i++)
        {
            var field = $"channels[{i}]";
            var channel = channels[i] ?? throw Problems.Validation(field, "must be a channel object.");
            var type = Type(channel.Type, field);
            if (type is NotificationChannels.Slack or NotificationChannels.Webhook)
            {
                throw Problems.Validation(field + ".type", $"a personal rule reaches only you: use email or webpush; {type} channels are for org rules.");
            }

            if (result.Any(r => r.Type == type))
            {
                throw Problems.Validation(field + ".type", $"names {type} twice.");
            }

            if (type == NotificationChannels.Email)
            {
                var to = channel.To is null ? [] : Addresses(channel.To, field + ".to");
                for (var j = 0; j < to.Count; j++)
                {
                    if (!string.Equals(to[j], email, StringComparison.OrdinalIgnoreCase))
                    {
                        throw Problems.Validation($"{field}.to[{j}]", "a personal rule reaches only you: leave 'to' out, or name your own address.");
                    }
                }

                result.Add(new RuleChannel(type, To: [email]));
            }
            else
            {
                var users = channel.Users is null ? [] : Users(channel.Users, field + ".users");
                for (var j = 0; j < users.Count; j++)
                {
                    if (users[j] != userId)
                    {
                        throw Problems.Validation($"{field}.users[{j}]", "a personal rule reaches only you: leave 'users' out, or name yourself.");
                    }
                }

                result.Add(new RuleChannel(type, Users: [userId]));
            }
        }

        return result;
    }

    public static RuleFilters Filters(NotificationFiltersRequest? filters)
    {
        if (filters is null)
        {
            return RuleFilters.None;
        }

        var queues = Names(filters.Queues, "filters.queues", QueuePattern(), "queue names are 1-100 characters of letters, digits and . _ : / -, starting with a letter or digit.");
        var labels = filters.Labels is null ? null : Check.Labels(filters.Labels, "filters.labels");
        var workflows = Names(filters.Workflows, "filters.workflows", WorkflowPattern(), "workflow names are 1-100 characters of letters, digits, spaces and . _ -, starting with a letter or digit.");
        return new RuleFilters(queues, labels is { Count: > 0 } ? labels : null, workflows);
    }

    public static string? Name(string? name) => Check.Optional(name, "name", 200);

    /// <summary>A channel type named in a list (preferences' mutedChannels).</summary>
    public static IReadOnlyList<string> ChannelTypes(IReadOnlyList<string>? types, string field)
    {
        if (types is null)
        {
            return [];
        }

        for (var i = 0; i < types.Count; i++)
        {
            if (types[i] is not { } type || !NotificationChannels.All.Contains(type, StringComparer.Ordinal))
            {
                throw Problems.Validation($"{field}[{i}]", $"'{Shown(types[i])}' is not a channel; use one of " + string.Join(", ", NotificationChannels.All) + ".");
            }
        }

        return [.. NotificationChannels.All.Where(t => types.Contains(t, StringComparer.Ordinal))];
    }

    /// <summary>Quiet hours: null (none), or start and end as HH:mm and an IANA time zone the server knows.</summary>
    public static QuietHours? Quiet(QuietHoursModel? quiet)
    {
        if (quiet is null)
        {
            return null;
        }

        var start = Clock(quiet.Start, "quietHours.start");
        var end = Clock(quiet.End, "quietHours.end");
        var zoneId = Check.Required(quiet.TimeZone, "quietHours.timeZone", 100);
        if (!TimeZoneInfo.TryFindSystemTimeZoneById(zoneId, out var zone) || !zone.HasIanaId)
        {
            throw Problems.Validation("quietHours.timeZone", $"'{Shown(zoneId)}' is not an IANA time zone (for example Europe/Paris or UTC).");
        }

        if (start == end)
        {
            throw Problems.Validation("quietHours.end", "must differ from the start.");
        }

        return new QuietHours(start, end, zone);
    }

    private static TimeOnly Clock(string? value, string field)
    {
        var text = Check.Required(value, field, 5);
        if (!ClockPattern().IsMatch(text))
        {
            throw Problems.Validation(field, "must be a time of day as HH:mm (00:00 to 23:59).");
        }

        return TimeOnly.ParseExact(text, "HH:mm", System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string Type(string? type, string field)
    {
        if (type is null || !NotificationChannels.All.Contains(type, StringComparer.Ordinal))
        {
            throw Problems.Validation(field + ".type", $"'{Shown(type)}' is not a channel; use one of " + string.Join(", ", NotificationChannels.All) + ".");
        }

        return type;
    }

    /// <summary>Email addresses: a bare address each (no display name), lower-cased, without repeats.</summary>
    public static IReadOnlyList<string> Addresses(IReadOnlyList<string>? to, string field)
    {
        if (to is null || to.Count == 0)
        {
            throw Problems.Validation(field, "name at least one email address.");
        }

        if (to.Count > MaxRecipients)
        {
            throw Problems.Validation(field, $"may name at most {MaxRecipients} addresses.");
        }

        var result = new List<string>();
        for (var i = 0; i < to.Count; i++)
        {
            var address = to[i];
            if (!IsAddress(address))
            {
                throw Problems.Validation($"{field}[{i}]", $"'{Shown(address)}' is not an email address.");
            }

            var normal = address!.ToLowerInvariant();
            if (!result.Contains(normal, StringComparer.Ordinal))
            {
                result.Add(normal);
            }
        }

        return result;
    }

    /// <summary>A plain address (<c>name@host.tld</c>): what MailAddress parses to itself, without spaces, controls or angle brackets.</summary>
    public static bool IsAddress(string? address) =>
        address is { Length: > 2 and <= 254 }
        && !address.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '<' or '>' or ',' or ';' or '"' || char.IsSurrogate(c))
        && System.Net.Mail.MailAddress.TryCreate(address, out var parsed)
        && parsed.Address == address && parsed.DisplayName.Length == 0
        && parsed.Host.Contains('.', StringComparison.Ordinal) && !parsed.Host.StartsWith('.') && !parsed.Host.EndsWith('.');

    /// <summary>A Slack channel: <c>#name</c> (lower case, as Slack names them), a channel id (C…, G…, D…), or an incoming-webhook URL.</summary>
    private static string Slack(string? channel, string field)
    {
        var value = Check.Required(channel, field, 300);
        if (global::Clarity.Features.Notifications.Slack.SlackChannel.IsValidChannel(value))
        {
            return value;
        }

        if (value.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            if (Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttps && uri.Host == "hooks.slack.com"
                && uri.AbsolutePath.StartsWith("/services/", StringComparison.Ordinal) && string.IsNullOrEmpty(uri.Query) && string.IsNullOrEmpty(uri.Fragment)
                && uri.UserInfo.Length == 0 && uri.IsDefaultPort)
            {
                return uri.AbsoluteUri;
            }

            throw Problems.Validation(field, "is not a Slack incoming-webhook URL (https://hooks.slack.com/services/…).");
        }

        throw Problems.Validation(field, $"'{Shown(value)}' is not a Slack channel: use #name (lower case), a channel id such as C0123ABCD, or an incoming-webhook URL.");
    }

    private static IReadOnlyList<Guid> Users(IReadOnlyList<string>? users, string field)
    {
        if (users is null || users.Count == 0)
        {
            throw Problems.Validation(field, "name at least one user id.");
        }

        if (users.Count > MaxRecipients)
        {
            throw Problems.Validation(field, $"may name at most {MaxRecipients} users.");
        }

        var result = new List<Guid>();
        for (var i = 0; i < users.Count; i++)
        {
            var id = Id(users[i], $"{field}[{i}]");
            if (!result.Contains(id))
            {
                result.Add(id);
            }
        }

        return result;
    }

    private static Guid Id(string? value, string field) =>
        Guid.TryParse(value, out var id) && id != Guid.Empty ? id : throw Problems.Validation(field, $"'{Shown(value)}' is not an id.");

    private static IReadOnlyList<string>? Names(IReadOnlyList<string>? names, string field, Regex pattern, string rule)
    {
        if (names is null)
        {
            return null;
        }

        if (names.Count > 64)
        {
            throw Problems.Validation(field, "may name at most 64.");
        }

        for (var i = 0; i < names.Count; i++)
        {
            if (names[i] is not { } name || !pattern.IsMatch(name))
            {
                throw Problems.Validation($"{field}[{i}]", rule);
            }
        }

        var result = names.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        return result.Count > 0 ? result : null;
    }

    private static string Shown(string? value) =>
        value is null ? "null" : new string((value.Length > 100 ? value[..100] + "…" : value).Select(c => char.IsControl(c) || char.IsSurrogate(c) ? '?' : c).ToArray());
}
