using System.Globalization;
using System.Text.Json.Nodes;
using Clarity.Events;
using Clarity.Features.Clarifications;
using Clarity.Features.Notifications.OnCall;
using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Notifications.Slack;

/// <summary>
/// Updates the Slack messages of settled questions and ended pages, on the leader. It follows the outbox from its own
/// durable cursor (<see cref="OutboxConsumer"/>, <see cref="SlackMessageStore.CursorName"/>): for each question that stops
/// being pending (answered, expired, cancelled), and each escalation that ends (acknowledged through any channel,
/// resolved, exhausted), it marks the messages due, with a line that says how it ended, in the same transaction as it
/// advances the cursor; then it calls <c>chat.update</c> for each due message (its buttons removed, the line added),
/// trying again with backoff while Slack's failure is a passing one. So a page's Acknowledge button disappears from every
/// person's direct message, not only from the one clicked. Woken by every committed question or escalation event on
/// this node and by the sequencer's NOTIFY; at least every second regardless.
/// </summary>
public sealed partial class SlackMessageUpdater(
    EventLog log, ConsumerCursors cursors, SlackMessageStore store, ClarificationStore clarifications, EscalationStore escalations, SlackApi api,
    IOptions<ClarityOptions> options,
    IEventBus bus, TimeProvider clock, Leadership leadership, ILogger<SlackMessageUpdater> logger)
    : OutboxConsumer(log, cursors, bus, clock, leadership, logger)
{
    private const int UpdateBatch = 50;
    private const int MaxAttempts = 8;

    protected override string Name => "slack message updates";

    protected override string CursorName => SlackMessageStore.CursorName;

    protected override string LogSubject => "Slack updates";

    protected override bool WakesOn(ClarityEvent evt) => evt is ClarificationChanged or EscalationChanged { Status: not EscalationStatuses.Open };

    protected override bool Reads(EventRow row) => row.Kind is "clarification" or "escalation";

    /// <summary>The line a settled question's message gets (mrkdwn): who answered, through which channel and when; or how it expired.</summary>
    public static string Outcome(ClarificationRow row)
    {
        var at = row.AnsweredAt is { } when ? DbTime.FromDb(when).UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture) : null;
        var answer = row.Answer is { } a ? SlackMessages.Mrkdwn(SlackMessages.Truncate(a, 500)) : null;
        return row.Status switch
        {
            ClarificationStatuses.Answered =>
                $":white_check_mark: Answered by {SlackMessages.Mrkdwn(row.AnsweredByName ?? "someone")}" +
                (row.AnsweredVia is { } via ? $" via {SlackMessages.Mrkdwn(via)}" : "") + (at is null ? "" : $" at {at}") +
                (answer is null ? "" : $": *{answer}*"),
            ClarificationStatuses.Expired => answer is null
                ? ":hourglass: Expired unanswered: the task failed."
                : $":hourglass: Expired — default applied: *{answer}*",
            ClarificationStatuses.Cancelled => ":no_entry_sign: Cancelled with its task.",
            _ => $"No longer pending ({SlackMessages.Mrkdwn(row.Status)}).",
        };
    }

    /// <summary>
    /// The line the messages of a question no longer pending, or of an escalation that has ended, get; null while it is
    /// pending or open (or gone).
    /// </summary>
    public async Task<string?> SettledOutcomeAsync(SlackSubject subject, Guid orgId, Guid id, CancellationToken ct)
    {
        if (subject == SlackSubject.Page)
        {
            return (await escalations.ByIdsAsync([id], ct)).FirstOrDefault() is { } escalation ? SlackMessages.PageOutcome(escalation.ToModel(null)) : null;
        }

        return await clarifications.GetAsync(orgId, id, ct) is { } question && question.Status != ClarificationStatuses.Pending ? Outcome(question) : null;
    }

    protected override async Task<bool> RunOnceAsync(CancellationToken ct)
    {
        var more = await ConsumeAsync(ct);
        return await UpdateDueAsync(ct) || more;
    }

    protected override async Task<OutboxWork> HandleAsync(OutboxBatch batch, CancellationToken ct)
    {
        var settled = new Dictionary<(SlackSubject Subject, Guid Id), Guid>();
        foreach (var (_, evt) in batch.Events)
        {
            if (evt is ClarificationChanged changed && changed.Status != ClarificationStatuses.Pending)
            {
                settled[(SlackSubject.Question, changed.ClarificationId)] = changed.OrgId;
            }
            else if (evt is EscalationChanged escalation && escalation.Status != EscalationStatuses.Open)
            {
                settled[(SlackSubject.Page, escalation.EscalationId)] = escalation.OrgId;
            }
        }

        var due = new List<(SlackSubject, Guid, string)>();
        foreach (var subject in (SlackSubject[])[SlackSubject.Question, SlackSubject.Page])
        {
            var ids = settled.Keys.Where(k => k.Subject == subject).Select(k => k.Id).ToList();
            if (ids.Count == 0)
            {
                continue;
            }

            foreach (var id in await store.UnsettledAsync(subject, ids, ct))
            {
                if (await SettledOutcomeAsync(subject, settled[(subject, id)], id, ct) is { } outcome)
                {
                    due.Add((subject, id, outcome));
                }
            }
        }

        var now = DbTime.ToDb(batch.Now);
        return due.Count == 0 ? OutboxWork.None : new OutboxWork((c, t) => SlackMessageStore.MarkDueAsync(c, t, due, now));
    }

    private async Task<bool> UpdateDueAsync(CancellationToken ct)
    {
        if (!options.Value.Slack.UsesBotToken)
        {
            return false;
        }

        var due = await store.DueAsync(DbTime.ToDb(Clock.GetUtcNow()), UpdateBatch, ct);
        foreach (var message in due)
        {
            var outcome = message.SettleText ?? "";
            var blocks = SlackMessages.Settled(JsonNode.Parse(message.Blocks)?.AsArray() ?? [], outcome);
            var result = await api.UpdateMessageAsync(message.ChannelId, message.Ts, message.Text, blocks, ct);
            if (result.Ok)
            {
                await store.RecordSettledAsync(message.Id, DbTime.ToDb(Clock.GetUtcNow()), ct);
            }
            else if (result.Retryable && message.SettleAttempts + 1 < MaxAttempts)
            {
                var backoff = TimeSpan.FromSeconds(Math.Min(600, 5 * Math.Pow(2, message.SettleAttempts)));
                await store.RecordRetryAsync(message.Id, DbTime.ToDb(Clock.GetUtcNow() + backoff), ct);
            }
            else
            {
                Log.GaveUp(Logger, message.ClarificationId is null ? "page" : "question", message.ClarificationId ?? message.EscalationId, result.Error ?? "");
                await store.RecordGaveUpAsync(message.Id, result.Error ?? "failed", ct);
            }
        }

        return due.Count == UpdateBatch;
    }

    private static partial class Log
    {
        [LoggerMessage(2, LogLevel.Warning, "Slack: gave up updating a message of {Subject} {SubjectId}: {Error}")]
        public static partial void GaveUp(ILogger logger, string subject, Guid? subjectId, string error);
    }
}
