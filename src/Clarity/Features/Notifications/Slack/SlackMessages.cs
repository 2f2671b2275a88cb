using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Clarity.Features.Notifications.OnCall;

namespace Clarity.Features.Notifications.Slack;

/// <summary>A message ready for Slack: the fallback text, every block, and the blocks without the answer buttons (kept for <c>chat.update</c>).</summary>
public sealed record SlackMessage(string Text, JsonArray Blocks, JsonArray BlocksWithoutActions);

/// <summary>What an answer button stands for: the question (and its org) and the option's index.</summary>
public sealed record SlackAnswerAction(Guid OrgId, Guid ClarificationId, int Option)
{
    public const string ActionIdPrefix = "clarity_answer_";
    private const string Version = "c1";

    public string Value => string.Create(CultureInfo.InvariantCulture, $"{Version}:{OrgId:N}:{ClarificationId:N}:{Option}");

    public static SlackAnswerAction? TryParse(string? value)
    {
        var parts = value?.Split(':');
        return parts is [Version, var org, var id, var option]
            && Guid.TryParseExact(org, "N", out var orgId) && Guid.TryParseExact(id, "N", out var clarificationId)
            && int.TryParse(option, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index < 100
            ? new SlackAnswerAction(orgId, clarificationId, index)
            : null;
    }
}

/// <summary>What an Acknowledge button of a page stands for: the escalation (and its org).</summary>
public sealed record SlackAckAction(Guid OrgId, Guid EscalationId)
{
    public const string ActionId = "clarity_ack";
    private const string Version = "e1";

    public string Value => string.Create(CultureInfo.InvariantCulture, $"{Version}:{OrgId:N}:{EscalationId:N}");

    public static SlackAckAction? TryParse(string? value)
    {
        var parts = value?.Split(':');
        return parts is [Version, var org, var id] && Guid.TryParseExact(org, "N", out var orgId) && Guid.TryParseExact(id, "N", out var escalationId)
            ? new SlackAckAction(orgId, escalationId)
            : null;
    }
}

/// <summary>
/// Builds Block Kit messages from a <see cref="NotificationView"/>: a header, the summary or question (templates
/// <c>slack/{event}.{header|body|text}.hbs</c>), a context line (task, agent, run and step, queue, expiry), the last log
/// lines in a code block, and actions: for a question with options, one button per option (its value a
/// <see cref="SlackAnswerAction"/>) when people can answer from Slack; link buttons to the dashboard and the log. Text
/// that comes from agents and people is escaped for Slack's mrkdwn (&amp;, &lt;, &gt;), so that it cannot mention
/// <c>@channel</c> or forge links. Slack's limits (header 150, text 3000, button 75 characters) are kept by truncating.
/// </summary>
public sealed class SlackMessages(NotificationTemplates templates)
{
    public const string Channel = NotificationChannels.Slack;
    public const string DigestTemplate = "digest";
    private const int LogLines = 5;

    /// <param name="answerButtons">True when the options become answer buttons (a bot token and a signing secret).</param>
    /// <param name="linkButtons">False for an incoming webhook: links go in the text instead.</param>
    public SlackMessage Build(NotificationView view, bool answerButtons, bool linkButtons)
    {
        var template = view.Digest is { Count: > 0 } ? DigestTemplate : view.EventType;
        var escaped = Escape(view);
        var header = Truncate(templates.Render(Channel, template, "header", view).Trim(), 150);
        var body = Truncate(templates.Render(Channel, template, "body", escaped).Trim(), 3000);
        var text = Truncate(templates.Render(Channel, template, "text", escaped).Trim(), 3000);

        var blocks = new JsonArray
        {
            new JsonObject { ["type"] = "header", ["text"] = PlainText(header) },
            Section(body),
        };
        if (Context(view) is { Count: > 0 } context)
        {
            blocks.Add(new JsonObject { ["type"] = "context", ["elements"] = context });
        }

        if (view.Digest is null && view.RecentLogLines.Count > 0)
        {
            var lines = view.RecentLogLines.TakeLast(LogLines).Select(l => Truncate(Mrkdwn(l).Replace("```", "'''", StringComparison.Ordinal), 400));
            blocks.Add(Section(Truncate("```" + string.Join('\n', lines), 2990) + "```"));
        }

        var links = Links(view, answerButtons);
        if (!linkButtons && links.Count > 0)
        {
            blocks.Add(Section(string.Join(" · ", links.Select(l => $"<{Mrkdwn(l.Url)}|{l.Label}>"))));
        }

        var withoutActions = blocks.DeepClone().AsArray();
        var buttons = new JsonArray();
        if (answerButtons && view.Page is { } page)
        {
            // A page's first button acknowledges it (drills too: acknowledging is what a drill tests).
            buttons.Add(new JsonObject
            {
                ["type"] = "button",
                ["action_id"] = SlackAckAction.ActionId,
                ["style"] = "danger",
                ["text"] = PlainText("Acknowledge"),
                ["value"] = new SlackAckAction(view.OrgId, page.EscalationId).Value,
            });
        }

        if (answerButtons && view.Digest is null && view.EventType == NotificationEvents.ClarificationAsked && view.Question is { Options: { Count: > 0 } options } question)
        {
            for (var i = 0; i < options.Count && i < 20; i++)
            {
                buttons.Add(new JsonObject
                {
                    ["type"] = "button",
                    ["action_id"] = SlackAnswerAction.ActionIdPrefix + i.ToString(CultureInfo.InvariantCulture),
                    ["text"] = PlainText(Truncate(options[i], 75)),
                    ["value"] = new SlackAnswerAction(view.OrgId, question.Id, i).Value,
                });
            }
        }

        if (linkButtons)
        {
            foreach (var (label, url, id) in links)
            {
                buttons.Add(new JsonObject { ["type"] = "button", ["action_id"] = id, ["text"] = PlainText(label), ["url"] = url });
            }
        }

        if (buttons.Count > 0)
        {
            blocks.Add(new JsonObject { ["type"] = "actions", ["block_id"] = "clarity_actions", ["elements"] = buttons });
        }

        return new SlackMessage(text, blocks, withoutActions);
    }

    /// <summary>The blocks of a settled question: the original message without its buttons, and a line that says how it ended.</summary>
    public static JsonArray Settled(JsonArray original, string outcome)
    {
        var blocks = original.DeepClone().AsArray();
        blocks.Add(new JsonObject { ["type"] = "context", ["block_id"] = "clarity_outcome", ["elements"] = new JsonArray { MrkdwnText(Truncate(outcome, 2000)) } });
        return blocks;
    }

    /// <summary>
    /// The line a page message gets once its escalation has ended (mrkdwn): who acknowledged, through which channel and
    /// when; that its question or approval was settled; or that no one acknowledged. Null while it is open.
    /// </summary>
    public static string? PageOutcome(Escalation escalation) => escalation.Status switch
    {
        EscalationStatuses.Acknowledged =>
            $":white_check_mark: Acknowledged by {Mrkdwn(escalation.AcknowledgedByName ?? "someone")} via {Mrkdwn(escalation.AcknowledgedVia ?? "unknown")}" +
            (escalation.AcknowledgedAt is { } at ? " at " + at.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture) : ""),
        EscalationStatuses.Resolved => escalation.Subject switch
        {
            EscalationSubjects.Clarification => ":white_check_mark: Resolved: the question was answered or closed.",
            EscalationSubjects.Approval => ":white_check_mark: Resolved: the approval was decided.",
            _ => ":white_check_mark: Resolved.",
        },
        EscalationStatuses.Exhausted => ":warning: No one acknowledged: the escalation paged every level and stopped.",
        _ => null,
    };

    /// <summary>Escapes text for Slack's mrkdwn: &amp;, &lt; and &gt; are control characters there.</summary>
    public static string Mrkdwn(string text) =>
        text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);

    public static string Truncate(string text, int max)
    {
        if (text.Length <= max)
        {
            return text;
        }

        var cut = max - 1;
        if (char.IsHighSurrogate(text[cut - 1]))
        {
            cut--;
        }

        return text[..cut] + "…";
    }

    private static JsonArray Context(NotificationView view)
    {
        if (view.Digest is not null)
        {
            return [];
        }

        var parts = new List<string>();
        if (view.TaskTitle is { Length: > 0 } title)
        {
            parts.Add($"*Task:* {Mrkdwn(Truncate(title, 200))}");
        }

        if (view.AgentName is { Length: > 0 } agent)
        {
            parts.Add($"*Agent:* {Mrkdwn(Truncate(agent, 100))}");
        }

        if (view.WorkflowName is { Length: > 0 } || view.StepId is { Length: > 0 })
        {
            var run = new StringBuilder("*Run:* ");
            run.Append(Mrkdwn(Truncate(view.WorkflowName ?? view.RunId?.ToString() ?? "", 100)));
            if (view.StepId is { Length: > 0 } step)
            {
                run.Append(" / step ").Append(Mrkdwn(Truncate(step, 100)));
            }

            parts.Add(run.ToString());
        }

        if (view.Queue is { Length: > 0 } queue)
        {
            parts.Add($"*Queue:* {Mrkdwn(Truncate(queue, 100))}");
        }

        if (view.Question is { } question && view.EventType is NotificationEvents.ClarificationAsked or NotificationEvents.ClarificationExpiring)
        {
            var when = question.ExpiresAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);
            parts.Add(question.OnExpiry == "default" && question.DefaultAnswer is { } fallback
                ? $"*Expires:* {when}, then the default answer applies: {Mrkdwn(Truncate(fallback, 200))}"
                : $"*Expires:* {when}, then the task fails");
        }

        var elements = new JsonArray();
        foreach (var part in parts.Take(10))
        {
            elements.Add(MrkdwnText(part));
        }

        return elements;
    }

    private static List<(string Label, string Url, string Id)> Links(NotificationView view, bool answerButtons)
    {
        var links = new List<(string, string, string)>();
        if (IsAbsolute(view.Url))
        {
            var label = view.Digest is null && view.EventType == NotificationEvents.ClarificationAsked && view.Question is { } question
                && (!answerButtons || question.Options is null or { Count: 0 })
                ? "Answer in Clarity"
                : "Open in Clarity";
            links.Add((label, view.Url, "clarity_open"));
        }

        if (view.Digest is null && view.LogUrl is { } log && IsAbsolute(log))
        {
            links.Add(("View the log", log, "clarity_log"));
        }

        return links;
    }

    private static bool IsAbsolute(string? url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp) && url!.Length <= 3000;

    private static JsonObject Section(string mrkdwn) => new() { ["type"] = "section", ["text"] = MrkdwnText(mrkdwn.Length == 0 ? " " : mrkdwn) };

    private static JsonObject MrkdwnText(string text) => new() { ["type"] = "mrkdwn", ["text"] = text };

    private static JsonObject PlainText(string text) => new() { ["type"] = "plain_text", ["text"] = text.Length == 0 ? " " : text, ["emoji"] = true };

    /// <summary>The view with every free text escaped for mrkdwn (URLs too: Slack unescapes them inside &lt;…&gt;).</summary>
    private static NotificationView Escape(NotificationView view) => view with
    {
        Summary = Mrkdwn(view.Summary),
        TaskTitle = Opt(view.TaskTitle),
        AgentName = Opt(view.AgentName),
        Queue = Opt(view.Queue),
        StepId = Opt(view.StepId),
        WorkflowName = Opt(view.WorkflowName),
        Detail = Opt(view.Detail),
        Question = view.Question is { } q
            ? q with { Text = Mrkdwn(q.Text), Options = q.Options?.Select(Mrkdwn).ToList(), DefaultAnswer = Opt(q.DefaultAnswer) }
            : null,
        RecentLogLines = [.. view.RecentLogLines.Select(Mrkdwn)],
        Digest = view.Digest?.Select(Escape).ToList(),
    };

    private static string? Opt(string? text) => text is null ? null : Mrkdwn(text);
}
