using System.Collections.Concurrent;
using Clarity.Hosting;
using HandlebarsDotNet;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Notifications;

/// <summary>
/// Renders a notification's parts (a subject, a text body, an HTML body, a push title …) from Handlebars templates, per
/// channel and event: <c>{channel}/{event}.{part}.hbs</c>, else <c>{channel}/default.{part}.hbs</c>. The defaults ship
/// inside the binary (Features/Notifications/Templates); a deployment overrides any of them by putting a file of the same
/// relative name in <c>Clarity:Notifications:TemplatesDirectory</c>. The model is the <see cref="NotificationView"/>
/// (PascalCase names: <c>{{Summary}}</c>, <c>{{Question.Text}}</c>, <c>{{#each RecentLogLines}}</c>) plus whatever the
/// channel adds (e.g. the email's answer links), as <c>{{Extra.name}}</c>. Parts named <c>html</c> are HTML-escaped; every
/// other part is plain text and is not. Templates compile once and are cached; templates cannot run code.
/// </summary>
public sealed class NotificationTemplates
{
    private const string ResourcePrefix = "notification-templates/";
    private readonly IHandlebars _html = Handlebars.Create(new HandlebarsConfiguration { ThrowOnUnresolvedBindingExpression = false });
    private readonly IHandlebars _text = Handlebars.Create(new HandlebarsConfiguration { NoEscape = true, ThrowOnUnresolvedBindingExpression = false });
    private readonly ConcurrentDictionary<string, HandlebarsTemplate<object, object>?> _compiled = new(StringComparer.Ordinal);
    private readonly string? _overrides;

    public NotificationTemplates(IOptions<ClarityOptions> options)
    {
        var folder = options.Value.Notifications.TemplatesDirectory;
        _overrides = string.IsNullOrWhiteSpace(folder) ? null : Path.GetFullPath(folder);
        foreach (var env in new[] { _html, _text })
        {
            env.RegisterHelper("utc", (writer, _, arguments) =>
            {
                if (arguments.Length > 0 && arguments[0] is DateTimeOffset at)
                {
                    writer.WriteSafeString(at.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", System.Globalization.CultureInfo.InvariantCulture));
                }
            });
        }
    }

    /// <summary>Renders one part; throws <see cref="InvalidOperationException"/> when neither the event's nor the default template exists.</summary>
    public string Render(string channel, string eventType, string part, NotificationView view, IReadOnlyDictionary<string, object?>? extra = null)
    {
        var template = Find(channel, eventType, part) ?? Find(channel, "default", part)
            ?? throw new InvalidOperationException($"No notification template {channel}/{eventType}.{part}.hbs or {channel}/default.{part}.hbs.");
        return template(new TemplateModel(view, extra ?? new Dictionary<string, object?>()));
    }

    /// <summary>True when the channel has a template for the part (for this event or by default).</summary>
    public bool Has(string channel, string eventType, string part) => Find(channel, eventType, part) is not null || Find(channel, "default", part) is not null;

    private HandlebarsTemplate<object, object>? Find(string channel, string name, string part) =>
        _compiled.GetOrAdd($"{channel}/{name}.{part}.hbs", relative =>
        {
            var source = ReadOverride(relative) ?? ReadEmbedded(relative);
            return source is null ? null : (part == "html" ? _html : _text).Compile(source);
        });

    private string? ReadOverride(string relative)
    {
        if (_overrides is null)
        {
            return null;
        }

        var path = Path.GetFullPath(Path.Combine(_overrides, relative));
        return path.StartsWith(_overrides, StringComparison.Ordinal) && File.Exists(path) ? File.ReadAllText(path) : null;
    }

    private static string? ReadEmbedded(string relative)
    {
        using var stream = typeof(NotificationTemplates).Assembly.GetManifestResourceStream(ResourcePrefix + relative);
        if (stream is null)
        {
            return null;
        }

        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>What a template sees: the view's members at the top level, and the channel's additions under Extra.</summary>
    public sealed class TemplateModel(NotificationView view, IReadOnlyDictionary<string, object?> extra)
    {
        public string EventType => view.EventType;
        public string OrgSlug => view.OrgSlug;
        public DateTimeOffset OccurredAt => view.OccurredAt;
        public string Summary => view.Summary;
        public string Url => view.Url;
        public Guid? TaskId => view.TaskId;
        public string? TaskTitle => view.TaskTitle;
        public string? TaskStatus => view.TaskStatus;
        public string? Queue => view.Queue;
        public string? AgentName => view.AgentName;
        public Guid? RunId => view.RunId;
        public string? StepId => view.StepId;
        public string? WorkflowName => view.WorkflowName;
        public NotificationQuestion? Question => view.Question;
        public IReadOnlyList<string> RecentLogLines => view.RecentLogLines;
        public string? LogUrl => view.LogUrl;
        public string? Detail => view.Detail;
        public bool IsTest => view.IsTest;
        public NotificationPage? Page => view.Page;
        public IReadOnlyList<NotificationView>? Digest => view.Digest;
        public int DigestCount => view.Digest?.Count ?? 0;
        public IReadOnlyDictionary<string, object?> Extra => extra;
    }
}
