using System.Security.Cryptography;
using System.Text;
using Clarity.Features.Identity;
using Clarity.Features.Notifications.OnCall;
using Clarity.Hosting;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Notifications.Email;

/// <summary>
/// The one-time links an email carries to answer one question (table email_answer_links): one row per (question,
/// recipient), holding only the SHA-256 of the link's token. The same SQL serves SQLite and PostgreSQL.
/// </summary>
public sealed class EmailAnswerLinkStore(Database db, IdentityStore identity, TimeProvider clock)
{
    private const string Columns =
        "id AS Id, org_id AS OrgId, clarification_id AS ClarificationId, recipient_email AS RecipientEmail, user_id AS UserId, " +
        "delivery_id AS DeliveryId, task_title AS TaskTitle, agent_name AS AgentName, created_at AS CreatedAt, expires_at AS ExpiresAt, used_at AS UsedAt";

    /// <summary>
    /// Makes the link for <paramref name="question"/> to <paramref name="recipient"/> and returns its token (shown once, in the
    /// mail). Every mail gets its own link, and all of a question's links work until it is answered (a reminder does not
    /// break the first mail's link); the first answer wins. The member behind the address, if any, is recorded.
    /// </summary>
    public async Task<string> CreateAsync(NotificationDelivery delivery, NotificationView view, NotificationQuestion question, string recipient, CancellationToken ct)
    {
        var token = AnswerToken.New();
        var email = recipient.ToLowerInvariant();
        var userId = delivery.RecipientUserId ?? await MemberIdAsync(delivery.OrgId, email, ct);
        var row = new
        {
            id = Guid.CreateVersion7(),
            orgId = delivery.OrgId,
            clarificationId = question.Id,
            email,
            userId,
            tokenHash = AnswerToken.Hash(token),
            deliveryId = delivery.Id,
            taskTitle = Trim(view.TaskTitle, 500),
            agentName = Trim(view.AgentName, 200),
            now = DbTime.ToDb(clock.GetUtcNow()),
            expiresAt = DbTime.ToDb(question.ExpiresAt),
        };
        await db.WriteAsync((c, t) => c.ExecuteAsync(
            "INSERT INTO email_answer_links (id, org_id, clarification_id, recipient_email, user_id, token_hash, delivery_id, task_title, agent_name, created_at, expires_at) " +
            "VALUES (@id, @orgId, @clarificationId, @email, @userId, @tokenHash, @deliveryId, @taskTitle, @agentName, @now, @expiresAt)",
            row, t), ct);
        return token;
    }

    /// <summary>The link a token names; null for a token that is malformed or unknown.</summary>
    public async Task<EmailAnswerLink?> FindAsync(string? token, CancellationToken ct)
    {
        if (!AnswerToken.IsWellFormed(token))
        {
            return null;
        }

        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<EmailAnswerLink>(new CommandDefinition(
            $"SELECT {Columns} FROM email_answer_links WHERE token_hash = @hash", new { hash = AnswerToken.Hash(token!) }, cancellationToken: ct));
    }

    /// <summary>Marks the link used, once: false when it already was.</summary>
    public Task<bool> MarkUsedAsync(Guid id, CancellationToken ct) =>
        db.WriteAsync(async (c, t) => await c.ExecuteAsync(
            "UPDATE email_answer_links SET used_at = @now WHERE id = @id AND used_at IS NULL", new { id, now = DbTime.ToDb(clock.GetUtcNow()) }, t) == 1, ct);

    /// <summary>True when the member <paramref name="userId"/> still belongs to the org (a removed member answers as the recipient only).</summary>
    public async Task<bool> IsMemberAsync(Guid orgId, Guid userId, CancellationToken ct) => await identity.FindRoleAsync(orgId, userId, ct) is not null;

    /// <summary>Deletes links whose question expired more than <paramref name="keep"/> ago (they can only say "expired").</summary>
    public Task<int> PruneAsync(TimeSpan keep, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync(
            "DELETE FROM email_answer_links WHERE expires_at < @before", new { before = DbTime.ToDb(clock.GetUtcNow() - keep) }, t), ct);

    private async Task<Guid?> MemberIdAsync(Guid orgId, string email, CancellationToken ct)
    {
        if (await identity.FindCredentialsAsync(email, ct) is not { } user)
        {
            return null;
        }

        return await identity.FindRoleAsync(orgId, user.Id, ct) is null ? null : user.Id;
    }

    private static string? Trim(string? value, int max) => value is null || value.Length <= max ? value : value[..max];
}

/// <summary>An answer link as stored (times in epoch milliseconds).</summary>
public sealed class EmailAnswerLink
{
    public Guid Id { get; set; }
    public Guid OrgId { get; set; }
    public Guid ClarificationId { get; set; }
    public string RecipientEmail { get; set; } = "";
    public Guid? UserId { get; set; }
    public Guid DeliveryId { get; set; }
    public string? TaskTitle { get; set; }
    public string? AgentName { get; set; }
    public long CreatedAt { get; set; }
    public long ExpiresAt { get; set; }
    public long? UsedAt { get; set; }
}

/// <summary>An answer link's token: 32 random bytes, base64url (43 characters). Only its SHA-256 (hex) is stored.</summary>
public static class AnswerToken
{
    public const int Length = 43;

    public static string New() => ApiKeySecret.Base64Url(RandomNumberGenerator.GetBytes(32));

    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(token)));

    /// <summary>43 base64url characters: anything else is refused before any lookup.</summary>
    public static bool IsWellFormed(string? token) =>
        token is { Length: Length } && token.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');
}

/// <summary>
/// Deletes, at most once an hour, the one-time links of mails that can only say "too late" any more: answer links of
/// questions that expired over a week ago, and acknowledge links of escalations that closed over a week ago (by the
/// on-call clock, which is the clock escalations close by).
/// </summary>
public sealed class EmailLinkSweep(EmailAnswerLinkStore answers, EscalationAckLinkStore acks, OnCallClock onCall, TimeProvider clock) : ISweep
{
    /// <summary>How long a spent link keeps showing how its question or escalation ended.</summary>
    public static readonly TimeSpan Keep = TimeSpan.FromDays(7);

    private static readonly TimeSpan s_every = TimeSpan.FromHours(1);
    private long _last;

    public string Name => "email-links";

    public async Task<int> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var at = clock.GetTimestamp();
        if (_last != 0 && clock.GetElapsedTime(_last, at) < s_every)
        {
            return 0;
        }

        _last = at;
        return await answers.PruneAsync(Keep, cancellationToken) + await acks.PruneAsync(onCall.Now - Keep, cancellationToken);
    }
}
