using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Clarity.Events;
using Clarity.Features.Clarifications;
using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Notifications.Slack;

/// <summary>
/// Updates the Slack messages of settled questions, on the leader. It follows the outbox from its own durable cursor
/// (<see cref="SlackMessageStore.CursorName"/>): for each question that stops being pending (answered, expired, cancelled)
/// it marks the question's messages due, with a line that says how it ended, in the same transaction as it advances the
/// cursor; then it calls <c>chat.update</c> for each due message (its buttons removed, the line added), trying again
/// with backoff while Slack's failure is a passing one. Woken by every committed event on this node and by the
/// sequencer's NOTIFY; at least every second regardless.
/// </summary>
public sealed partial class SlackMessageUpdater : BackgroundLoop
{
    private const int Batch = 500;
    private const int UpdateBatch = 50;
    private const int MaxAttempts = 8;
    private readonly EventLog _log;
    private readonly SlackMessageStore _store;
    private readonly ClarificationStore _clarifications;
    private readonly SlackApi _api;
    private readonly IOptions<ClarityOptions> _options;
    private readonly TimeProvider _clock;
    private readonly ILogger<SlackMessageUpdater> _logger;
    private readonly IDisposable _subscription;

    public SlackMessageUpdater(
        EventLog log, SlackMessageStore store, ClarificationStore clarifications, SlackApi api, IOptions<ClarityOptions> options,
        IEventBus bus, TimeProvider clock, Leadership leadership, ILogger<SlackMessageUpdater> logger)
        : base(leadership, logger)
    {
        _log = log;
        _store = store;
        _clarifications = clarifications;
        _api = api;
        _options = options;
        _clock = clock;
        _logger = logger;
        _subscription = bus.Subscribe(e => { if (e is ClarificationChanged) { Wake(); } });
    }

    protected override string Name => "slack message updates";

    protected override TimeSpan Interval => TimeSpan.FromSeconds(1);

    protected override string? WakeChannel => EventLog.SequencedChannel;

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

    protected override async Task<bool> RunOnceAsync(CancellationToken ct)
    {
        var more = await FollowOutboxAsync(ct);
        return await UpdateDueAsync(ct) || more;
    }

    private async Task<bool> FollowOutboxAsync(CancellationToken ct)
    {
        var cursor = await _store.CursorAsync(ct);
        var rows = await _log.ReadAfterAsync(cursor, null, null, Batch, ct);
        if (rows.Count == 0)
        {
            return false;
        }

        var settled = new Dictionary<Guid, Guid>();
        foreach (var row in rows)
        {
            if (row.Kind != "clarification")
            {
                continue;
            }

            try
            {
                if (row.ToEvent() is ClarificationChanged changed && changed.Status != ClarificationStatuses.Pending)
                {
                    settled[changed.ClarificationId] = changed.OrgId;
                }
            }
            catch (JsonException ex)
            {
                Log.Unreadable(_logger, ex, row.Seq);
            }
        }

        var due = new List<(Guid, string)>();
        if (settled.Count > 0)
        {
            foreach (var id in await _store.UnsettledAsync([.. settled.Keys], ct))
            {
                if (await _clarifications.GetAsync(settled[id], id, ct) is { } question && question.Status != ClarificationStatuses.Pending)
                {
                    due.Add((id, Outcome(question)));
                }
            }
        }

        if (!await _store.AdvanceAsync(cursor, rows[^1].Seq, due, DbTime.ToDb(_clock.GetUtcNow()), ct))
        {
            // Another pass (a former leader's) moved the cursor meanwhile: read again from where it is now.
            return true;
        }

        return rows.Count == Batch;
    }

    private async Task<bool> UpdateDueAsync(CancellationToken ct)
    {
        if (!_options.Value.Slack.UsesBotToken)
        {
            return false;
        }

        var due = await _store.DueAsync(DbTime.ToDb(_clock.GetUtcNow()), UpdateBatch, ct);
        foreach (var message in due)
        {
            var outcome = message.SettleText ?? "";
            var blocks = SlackMessages.Settled(JsonNode.Parse(message.Blocks)?.AsArray() ?? [], outcome);
            var result = await _api.UpdateMessageAsync(message.ChannelId, message.Ts, message.Text, blocks, ct);
            if (result.Ok)
            {
                await _store.RecordSettledAsync(message.Id, DbTime.ToDb(_clock.GetUtcNow()), ct);
            }
            else if (result.Retryable && message.SettleAttempts + 1 < MaxAttempts)
            {
                var backoff = TimeSpan.FromSeconds(Math.Min(600, 5 * Math.Pow(2, message.SettleAttempts)));
                await _store.RecordRetryAsync(message.Id, DbTime.ToDb(_clock.GetUtcNow() + backoff), ct);
            }
            else
            {
                Log.GaveUp(_logger, message.ClarificationId, result.Error ?? "");
                await _store.RecordGaveUpAsync(message.Id, result.Error ?? "failed", ct);
            }
        }

        return due.Count == UpdateBatch;
    }

    public override void Dispose()
    {
        _subscription.Dispose();
        base.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Slack updates skipped outbox event {Seq}, whose payload could not be read")]
        public static partial void Unreadable(ILogger logger, Exception error, long seq);

        [LoggerMessage(2, LogLevel.Warning, "Slack: gave up updating a message of question {ClarificationId}: {Error}")]
        public static partial void GaveUp(ILogger logger, Guid clarificationId, string error);
    }
}
