using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Notifications.Email;

/// <summary>
/// The one-time "Acknowledge" links of page emails (table escalation_ack_links): one row per mail, bound to the
/// escalation and the person paged, holding only the SHA-256 of the link's token (the same tokens as answer links). A link
/// acknowledges only while its escalation is open; after that it shows who acknowledged (or how it ended). The same SQL
/// serves SQLite and PostgreSQL.
/// </summary>
public sealed class EscalationAckLinkStore(Database db, TimeProvider clock)
{
    private const string Columns =
        "id AS Id, org_id AS OrgId, escalation_id AS EscalationId, user_id AS UserId, recipient_email AS RecipientEmail, delivery_id AS DeliveryId, " +
        "created_at AS CreatedAt, used_at AS UsedAt";

    /// <summary>Makes the link of one page mail to <paramref name="userId"/> and returns its token (shown once, in the mail).</summary>
    public async Task<string> CreateAsync(NotificationDelivery delivery, NotificationPage page, Guid userId, string recipient, CancellationToken ct)
    {
        var token = AnswerToken.New();
        var row = new
        {
            id = Guid.CreateVersion7(),
            orgId = delivery.OrgId,
            escalationId = page.EscalationId,
            userId,
            email = recipient.ToLowerInvariant(),
            tokenHash = AnswerToken.Hash(token),
            deliveryId = delivery.Id,
            now = DbTime.ToDb(clock.GetUtcNow()),
        };
        await db.WriteAsync((c, t) => c.ExecuteAsync(
            "INSERT INTO escalation_ack_links (id, org_id, escalation_id, user_id, recipient_email, token_hash, delivery_id, created_at) " +
            "VALUES (@id, @orgId, @escalationId, @userId, @email, @tokenHash, @deliveryId, @now)", row, t), ct);
        return token;
    }

    /// <summary>The link a token names; null for a token that is malformed or unknown.</summary>
    public async Task<EscalationAckLink?> FindAsync(string? token, CancellationToken ct)
    {
        if (!AnswerToken.IsWellFormed(token))
        {
            return null;
        }

        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<EscalationAckLink>(new CommandDefinition(
            $"SELECT {Columns} FROM escalation_ack_links WHERE token_hash = @hash", new { hash = AnswerToken.Hash(token!) }, cancellationToken: ct));
    }

    /// <summary>Marks the link used, once: false when it already was.</summary>
    public Task<bool> MarkUsedAsync(Guid id, CancellationToken ct) =>
        db.WriteAsync(async (c, t) => await c.ExecuteAsync(
            "UPDATE escalation_ack_links SET used_at = @now WHERE id = @id AND used_at IS NULL", new { id, now = DbTime.ToDb(clock.GetUtcNow()) }, t) == 1, ct);

    /// <summary>
    /// Deletes the links of escalations that closed (acknowledged, resolved, exhausted) before <paramref name="closedBefore"/>:
    /// such a link can only say how its escalation ended. A link of an open escalation is never deleted.
    /// </summary>
    public Task<int> PruneAsync(DateTimeOffset closedBefore, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync(
            "DELETE FROM escalation_ack_links WHERE escalation_id IN " +
            "(SELECT id FROM escalations WHERE status <> 'open' AND closed_at IS NOT NULL AND closed_at < @before)",
            new { before = DbTime.ToDb(closedBefore) }, t), ct);
}

/// <summary>An acknowledge link as stored (times in epoch milliseconds).</summary>
public sealed class EscalationAckLink
{
    public Guid Id { get; set; }
    public Guid OrgId { get; set; }
    public Guid EscalationId { get; set; }
    public Guid UserId { get; set; }
    public string RecipientEmail { get; set; } = "";
    public Guid DeliveryId { get; set; }
    public long CreatedAt { get; set; }
    public long? UsedAt { get; set; }
}
