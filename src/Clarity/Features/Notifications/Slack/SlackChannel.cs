using System.Text.RegularExpressions;
using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Notifications.Slack;

/// <summary>
/// The Slack channel (type <c>slack</c>). With a bot token it posts Block Kit messages through <c>chat.postMessage</c> to
/// the delivery's recipient (<c>#name</c> or a channel id); a question's options become buttons when a signing secret is
/// set too (people answer through <c>POST /api/v1/integrations/slack/interactivity</c>), and the message is remembered so
/// that <see cref="SlackMessageUpdater"/> replaces its buttons with the outcome once the question is settled. A page goes
/// to the person as a direct message with an Acknowledge button, remembered the same way, so that it loses its button once
/// the escalation ends, however it ended. With only an incoming webhook, notices go to the webhook's own channel, without
/// buttons (links in the text).
/// </summary>
public sealed partial class SlackChannel(
    SlackApi api, SlackMessages messages, SlackMessageStore store, SlackMessageUpdater updater, IOptions<ClarityOptions> options, TimeProvider clock, ILogger<SlackChannel> logger) : INotificationChannel
{
    public string Type => NotificationChannels.Slack;

    /// <summary>
    /// Whether a rule's Slack channel is one this channel can post to: <c>#name</c> (Slack's channel names: 1 to 80
    /// lowercase letters, digits, hyphens and underscores) or a channel id (<c>C…</c>, <c>G…</c>, <c>D…</c>). The notification
    /// core validates rules with it.
    /// </summary>
    public static bool IsValidChannel(string? channel) => channel is not null && (NamePattern().IsMatch(channel) || IdPattern().IsMatch(channel));

    public async Task<DeliveryOutcome> SendAsync(NotificationDelivery delivery, NotificationView view, CancellationToken ct)
    {
        var settings = options.Value.Slack;
        if (!settings.IsEnabled)
        {
            return DeliveryOutcome.Fail("Slack is not configured (Clarity:Slack:BotToken or Clarity:Slack:IncomingWebhookUrl).");
        }

        if (!settings.UsesBotToken)
        {
            var notice = messages.Build(view, answerButtons: false, linkButtons: false);
            var posted = await api.PostWebhookAsync(new() { ["text"] = notice.Text, ["blocks"] = notice.Blocks }, ct);
            return posted.Ok ? DeliveryOutcome.Ok(detail: "posted to the incoming webhook") : Outcome(posted);
        }

        if (view.EventType == NotificationEvents.EscalationPage)
        {
            return await PageAsync(delivery, view, settings, ct);
        }

        if (!IsValidChannel(delivery.Recipient))
        {
            return DeliveryOutcome.Fail($"'{delivery.Recipient}' is not a Slack channel (#name or a channel id).");
        }

        var answerable = !view.IsTest && !string.IsNullOrWhiteSpace(settings.SigningSecret);
        var message = messages.Build(view, answerButtons: answerable, linkButtons: true);
        var result = await api.PostMessageAsync(delivery.Recipient, message.Text, message.Blocks, ct);
        if (!result.Ok)
        {
            return Outcome(result);
        }

        var channelId = result.Str("channel") ?? delivery.Recipient;
        var ts = result.Str("ts");
        if (ts is not null && !view.IsTest && view.Digest is null && view.EventType == NotificationEvents.ClarificationAsked && view.Question is { } question)
        {
            await RememberAsync(view.OrgId, SlackSubject.Question, question.Id, channelId, ts, message, ct);
        }

        return DeliveryOutcome.Ok(ts, $"posted to {channelId}");
    }

    /// <summary>
    /// A page, as a direct message to the person paged: the Slack user whose email is the delivery's recipient (the
    /// person's Clarity address, <c>users.lookupByEmail</c>), with an Acknowledge button when interactivity is set up. A
    /// person Slack does not know by that address is not paged on Slack (the delivery fails, saying so; email still goes).
    /// </summary>
    private async Task<DeliveryOutcome> PageAsync(NotificationDelivery delivery, NotificationView view, SlackOptions settings, CancellationToken ct)
    {
        if (!delivery.Recipient.Contains('@', StringComparison.Ordinal))
        {
            return DeliveryOutcome.Fail($"a page's Slack recipient is the person's email address, not '{delivery.Recipient}'.");
        }

        var found = await api.LookupByEmailAsync(delivery.Recipient, ct);
        if (!found.Ok)
        {
            return found.Error == "users_not_found"
                ? DeliveryOutcome.Fail($"no Slack user has the address {delivery.Recipient}, so the page did not go to Slack (use the same email in Slack and Clarity).")
                : Outcome(found);
        }

        if ((found.Body?["user"] as System.Text.Json.Nodes.JsonObject)?["id"]?.GetValue<string>() is not { Length: > 0 } slackUser)
        {
            return DeliveryOutcome.Fail("Slack's users.lookupByEmail answered without a user id.");
        }

        var message = messages.Build(view, answerButtons: !string.IsNullOrWhiteSpace(settings.SigningSecret), linkButtons: true);
        var result = await api.PostMessageAsync(slackUser, message.Text, message.Blocks, ct);
        if (!result.Ok)
        {
            return Outcome(result);
        }

        // The DM's channel is Slack's own (D…), which chat.update needs; the user id is only where it was sent. A drill's
        // page (a test) is remembered too: it is acknowledged like a real one, and its DMs should end like one.
        var ts = result.Str("ts");
        if (ts is not null && view.Page is { } page)
        {
            await RememberAsync(view.OrgId, SlackSubject.Page, page.EscalationId, result.Str("channel") ?? slackUser, ts, message, ct);
        }

        return DeliveryOutcome.Ok(ts, $"sent as a direct message to {slackUser}");
    }

    /// <summary>
    /// Records the message for its later update. Its question may have been settled, or its escalation ended, while it was
    /// being posted (the updater then found no message to update): the message is marked due at once. A failure here never
    /// turns the delivery into a retry, which would post the message twice.
    /// </summary>
    private async Task RememberAsync(Guid orgId, SlackSubject subject, Guid subjectId, string channelId, string ts, SlackMessage message, CancellationToken ct)
    {
        try
        {
            var now = DbTime.ToDb(clock.GetUtcNow());
            await store.InsertAsync(new SlackMessageRow
            {
                Id = Guid.CreateVersion7(),
                OrgId = orgId,
                ClarificationId = subject == SlackSubject.Question ? subjectId : null,
                EscalationId = subject == SlackSubject.Page ? subjectId : null,
                ChannelId = channelId,
                Ts = ts,
                Blocks = message.BlocksWithoutActions.ToJsonString(),
                Text = message.Text,
                CreatedAt = now,
            }, ct);
            if (await updater.SettledOutcomeAsync(subject, orgId, subjectId, ct) is { } outcome && await store.MarkDueAsync(subject, subjectId, outcome, now, ct))
            {
                updater.Wake();
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.RememberFailed(logger, ex, subject == SlackSubject.Page ? "page" : "question", subjectId);
        }
    }

    private static DeliveryOutcome Outcome(SlackResult result) =>
        result.Retryable ? DeliveryOutcome.Retry(result.Error ?? "Slack failed") : DeliveryOutcome.Fail(result.Error ?? "Slack refused the message");

    [GeneratedRegex(@"^#[\p{Ll}\p{Lo}\p{Nd}_\-]{1,80}\z")]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"^[CGD][A-Z0-9]{6,20}\z")]
    private static partial Regex IdPattern();

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Slack: the message of {Subject} {SubjectId} was posted but could not be recorded; it will keep its buttons")]
        public static partial void RememberFailed(ILogger logger, Exception error, string subject, Guid subjectId);
    }
}
