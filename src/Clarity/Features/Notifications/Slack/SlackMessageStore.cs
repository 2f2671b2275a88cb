using System.Data.Common;
using Clarity.Hosting;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Notifications.Slack;

/// <summary>
/// The Slack messages that carry a question or a page (<c>slack_messages</c>; a row names its question or its
/// escalation, its subject). The updater follows the outbox from the durable cursor <see cref="CursorName"/>
/// (<see cref="Clarity.Events.ConsumerCursors"/>). The SQL is the same on both backends.
/// </summary>
public sealed class SlackMessageStore(Database db)
{
    public const string CursorName = "slack-messages";

    private const string Columns =
        "id AS Id, org_id AS OrgId, clarification_id AS ClarificationId, escalation_id AS EscalationId, channel_id AS ChannelId, ts AS Ts, blocks AS Blocks, text AS Text, " +
        "created_at AS CreatedAt, settle_text AS SettleText, settle_due_at AS SettleDueAt, settle_attempts AS SettleAttempts, " +
        "settled_at AS SettledAt, settle_error AS SettleError";

    public Task InsertAsync(SlackMessageRow row, CancellationToken ct) =>
        db.WriteBackgroundAsync((c, t) => c.ExecuteAsync(
            "INSERT INTO slack_messages (id, org_id, clarification_id, escalation_id, channel_id, ts, blocks, text, created_at, settle_attempts) " +
            "VALUES (@Id, @OrgId, @ClarificationId, @EscalationId, @ChannelId, @Ts, @Blocks, @Text, @CreatedAt, 0)", row, t), ct);

    /// <summary>Of the given subjects, those with a message still to settle (not settled, not already due, not given up on).</summary>
    public async Task<IReadOnlyList<Guid>> UnsettledAsync(SlackSubject subject, IReadOnlyList<Guid> ids, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var column = Column(subject);
        return (await c.QueryAsync<Guid>(new CommandDefinition(
            $"SELECT DISTINCT {column} FROM slack_messages WHERE {db.Dialect.InList(column, "@ids")} " +
            "AND settled_at IS NULL AND settle_due_at IS NULL AND settle_error IS NULL",
            new { ids = ids.ToArray() }, cancellationToken: ct))).AsList();
    }

    /// <summary>
    /// Marks the messages of the settled subjects (questions or pages) due for an update with the given text, in the
    /// transaction that advances the updater's cursor.
    /// </summary>
    public static async Task MarkDueAsync(DbConnection c, DbTransaction t, IReadOnlyList<(SlackSubject Subject, Guid Id, string Text)> settled, long now)
    {
        foreach (var (subject, id, text) in settled)
        {
            await MarkDueAsync(c, t, subject, id, text, now);
        }
    }

    /// <summary>Marks one subject's unsettled messages due (a message posted after its question or page was settled).</summary>
    public Task<bool> MarkDueAsync(SlackSubject subject, Guid id, string text, long now, CancellationToken ct) =>
        db.WriteBackgroundAsync(async (c, t) => await MarkDueAsync(c, t, subject, id, text, now) > 0, ct);

    private static Task<int> MarkDueAsync(DbConnection c, DbTransaction t, SlackSubject subject, Guid id, string text, long now) =>
        c.ExecuteAsync(
            $"UPDATE slack_messages SET settle_text = @text, settle_due_at = @now WHERE {Column(subject)} = @id " +
            "AND settled_at IS NULL AND settle_due_at IS NULL AND settle_error IS NULL", new { id, text, now }, t);

    private static string Column(SlackSubject subject) => subject == SlackSubject.Page ? "escalation_id" : "clarification_id";

    public async Task<IReadOnlyList<SlackMessageRow>> DueAsync(long now, int limit, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<SlackMessageRow>(new CommandDefinition(
            $"SELECT {Columns} FROM slack_messages WHERE settle_due_at IS NOT NULL AND settle_due_at <= @now ORDER BY settle_due_at, id LIMIT @limit",
            new { now, limit }, cancellationToken: ct))).AsList();
    }

    public Task RecordSettledAsync(Guid id, long now, CancellationToken ct) =>
        db.WriteBackgroundAsync((c, t) => c.ExecuteAsync(
            "UPDATE slack_messages SET settled_at = @now, settle_due_at = NULL, settle_attempts = settle_attempts + 1, settle_error = NULL WHERE id = @id", new { id, now }, t), ct);

    /// <summary>Another attempt at <paramref name="next"/>.</summary>
    public Task RecordRetryAsync(Guid id, long next, CancellationToken ct) =>
        db.WriteBackgroundAsync((c, t) => c.ExecuteAsync(
            "UPDATE slack_messages SET settle_due_at = @next, settle_attempts = settle_attempts + 1 WHERE id = @id", new { id, next }, t), ct);

    /// <summary>Gives up on updating the message, with Slack's reason.</summary>
    public Task RecordGaveUpAsync(Guid id, string error, CancellationToken ct) =>
        db.WriteBackgroundAsync((c, t) => c.ExecuteAsync(
            "UPDATE slack_messages SET settle_due_at = NULL, settle_attempts = settle_attempts + 1, settle_error = @error WHERE id = @id", new { id, error }, t), ct);

    /// <summary>
    /// Deletes up to <paramref name="limit"/> messages that are done with: updated with their outcome before
    /// <paramref name="before"/>, or given up on and posted before it. Returns how many.
    /// </summary>
    public Task<int> PruneAsync(long before, int limit, CancellationToken ct) =>
        db.WriteBackgroundAsync((c, t) => c.ExecuteAsync(
            "DELETE FROM slack_messages WHERE id IN (SELECT id FROM slack_messages " +
            "WHERE settled_at < @before OR (settle_error IS NOT NULL AND created_at < @before) LIMIT @limit)", new { before, limit }, t), ct);
}

/// <summary>
/// Deletes, every hour on the leader, the Slack messages Clarity has nothing left to do with: a message is kept while its
/// question or page is open, and then for <see cref="Keep"/> after it was updated with the outcome (or, when Slack kept
/// refusing the update, after it was posted). Nothing reads a message after that: a click on it is answered from the
/// question or escalation itself, not from this table.
/// </summary>
public sealed class SlackMessageSweep(SlackMessageStore store) : PeriodicSweep(TimeSpan.FromHours(1))
{
    /// <summary>How long a finished message's row is kept, for an operator looking into a failed update.</summary>
    public static readonly TimeSpan Keep = TimeSpan.FromDays(7);

    private const int Batch = 1000;

    public override string Name => "slack messages";

    protected override Task<int> RunAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var before = DbTime.ToDb(now - Keep);
        return InBatchesAsync(Batch, () => store.PruneAsync(before, Batch, cancellationToken));
    }
}

/// <summary>What a Slack message carries: a question (answer buttons) or a page (the Acknowledge button).</summary>
public enum SlackSubject
{
    Question,
    Page,
}

public sealed class SlackMessageRow
{
    public Guid Id { get; set; }
    public Guid OrgId { get; set; }

    /// <summary>The question the message carries (null for a page).</summary>
    public Guid? ClarificationId { get; set; }

    /// <summary>The escalation whose page the message is (null for a question).</summary>
    public Guid? EscalationId { get; set; }
    public string ChannelId { get; set; } = "";
    public string Ts { get; set; } = "";
    public string Blocks { get; set; } = "[]";
    public string Text { get; set; } = "";
    public long CreatedAt { get; set; }
    public string? SettleText { get; set; }
    public long? SettleDueAt { get; set; }
    public int SettleAttempts { get; set; }
    public long? SettledAt { get; set; }
    public string? SettleError { get; set; }
}
