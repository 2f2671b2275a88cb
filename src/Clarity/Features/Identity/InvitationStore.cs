using Clarity.Hosting;
using Clarity.Hosting.Authorization;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Identity;

/// <summary>
/// Invitations to join an org (<c>invitations</c>). The partial unique index on (org, email) for pending invitations
/// makes concurrent invitations of one email have one winner; acceptance is a conditional update, so an invitation is
/// accepted at most once.
/// </summary>
public sealed class InvitationStore(Database db)
{
    private const string Columns =
        "i.id AS Id, i.org_id AS OrgId, i.email AS Email, i.role AS Role, i.status AS Status, i.invited_by AS InvitedBy, " +
        "i.created_at AS CreatedAt, i.expires_at AS ExpiresAt, i.responded_at AS RespondedAt, i.user_id AS UserId";

    public enum CreateStatus
    {
        Created,
        AlreadyMember,
        AlreadyInvited,
    }

    /// <summary>Creates a pending invitation, unless the email already belongs to a member or has an open invitation to the org.</summary>
    public Task<CreateStatus> CreateAsync(Change change, InvitationRow row, string tokenHash) =>
        change.Run(async (c, t) =>
        {
            var member = await c.ExecuteScalarAsync<long>(
                "SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = @OrgId AND u.email = @Email", row, t);
            if (member > 0)
            {
                return CreateStatus.AlreadyMember;
            }

            // A pending invitation past its expiry no longer blocks a new one.
            await c.ExecuteAsync(
                "UPDATE invitations SET status = 'expired' WHERE org_id = @OrgId AND email = @Email AND status = 'pending' AND expires_at <= @CreatedAt", row, t);
            var inserted = await c.ExecuteAsync(
                "INSERT INTO invitations (id, org_id, email, role, token_hash, status, invited_by, created_at, expires_at) " +
                "VALUES (@Id, @OrgId, @Email, @Role, @tokenHash, 'pending', @InvitedBy, @CreatedAt, @ExpiresAt) " +
                "ON CONFLICT (org_id, email) WHERE status = 'pending' DO NOTHING",
                new { row.Id, row.OrgId, row.Email, row.Role, tokenHash, row.InvitedBy, row.CreatedAt, row.ExpiresAt }, t);
            return inserted == 1 ? CreateStatus.Created : CreateStatus.AlreadyInvited;
        });

    /// <summary>An org's invitations, newest first; <paramref name="status"/> filters (expired includes pending ones past their time).</summary>
    public async Task<IReadOnlyList<InvitationRow>> ListAsync(Guid orgId, string? status, long now, Guid? before, int limit, CancellationToken ct)
    {
        var sql = $"SELECT {Columns} FROM invitations i WHERE i.org_id = @orgId";
        sql += status switch
        {
            null => "",
            InvitationStatuses.Pending => " AND i.status = 'pending' AND i.expires_at > @now",
            InvitationStatuses.Expired => " AND (i.status = 'expired' OR (i.status = 'pending' AND i.expires_at <= @now))",
            _ => " AND i.status = @status",
        };
        if (before is not null)
        {
            sql += " AND i.id < @before";
        }

        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<InvitationRow>(new CommandDefinition(sql + " ORDER BY i.id DESC LIMIT @limit", new { orgId, status, now, before, limit }, cancellationToken: ct))).AsList();
    }

    public async Task<InvitationRow?> FindAsync(Guid orgId, Guid id, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<InvitationRow>(new CommandDefinition(
            $"SELECT {Columns} FROM invitations i WHERE i.org_id = @orgId AND i.id = @id", new { orgId, id }, cancellationToken: ct));
    }

    /// <summary>The invitation a link's token names, with its org.</summary>
    public async Task<InvitationRow?> FindByTokenAsync(string tokenHash, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<InvitationRow>(new CommandDefinition(
            $"SELECT {Columns}, o.slug AS OrgSlug, o.name AS OrgName FROM invitations i JOIN orgs o ON o.id = i.org_id WHERE i.token_hash = @tokenHash",
            new { tokenHash }, cancellationToken: ct));
    }

    /// <summary>The open invitations addressed to <paramref name="email"/>, oldest first (at most 50).</summary>
    public async Task<IReadOnlyList<PendingInvitation>> ListPendingForEmailAsync(string email, long now, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var rows = await c.QueryAsync<PendingRow>(new CommandDefinition(
            "SELECT i.id AS Id, o.slug AS OrgSlug, o.name AS OrgName, i.role AS Role, u.display_name AS InvitedBy, i.expires_at AS ExpiresAt " +
            "FROM invitations i JOIN orgs o ON o.id = i.org_id LEFT JOIN users u ON u.id = i.invited_by " +
            "WHERE i.email = @email AND i.status = 'pending' AND i.expires_at > @now ORDER BY i.id LIMIT 50",
            new { email, now }, cancellationToken: ct));
        return [.. rows.Select(r => new PendingInvitation(r.Id, r.OrgSlug, r.OrgName, r.Role, r.InvitedBy, DbTime.FromDb(r.ExpiresAt)))];
    }

    public enum RevokeStatus
    {
        Revoked,
        NotFound,
        NotPending,
        Outranked,
    }

    /// <summary>Withdraws a pending invitation, unless it offers a role that holds a permission <paramref name="actorRole"/> does not.</summary>
    public Task<RevokeStatus> RevokeAsync(Change change, Guid orgId, Guid id, OrgRole actorRole, long now) =>
        change.Run(async (c, t) =>
        {
            var row = await c.QuerySingleOrDefaultAsync<InvitationRow>(
                $"SELECT {Columns} FROM invitations i WHERE i.org_id = @orgId AND i.id = @id", new { orgId, id }, t);
            if (row is null)
            {
                return RevokeStatus.NotFound;
            }

            var roles = await RoleStore.LoadAsync(c, t, orgId);
            if (!roles.Resolve(actorRole.Name).Includes(roles.Resolve(row.Role)))
            {
                return RevokeStatus.Outranked;
            }

            var changed = await c.ExecuteAsync(
                "UPDATE invitations SET status = 'revoked', responded_at = @now WHERE id = @id AND status = 'pending'", new { id, now }, t);
            return changed == 1 ? RevokeStatus.Revoked : RevokeStatus.NotPending;
        });

    /// <summary>
    /// Accepts (adding the membership) or declines an open invitation addressed to <paramref name="email"/>, on behalf of
    /// <paramref name="userId"/>. Null when there is no such open invitation (unknown, someone else's, answered or expired).
    /// </summary>
    public Task<InvitationRow?> RespondAsync(Change change, Guid id, Guid userId, string email, bool accept, long now) =>
        change.Run(async (c, t) =>
        {
            var row = await c.QuerySingleOrDefaultAsync<InvitationRow>(
                "UPDATE invitations SET status = @status, responded_at = @now, user_id = @userId " +
                "WHERE id = @id AND email = @email AND status = 'pending' AND expires_at > @now " +
                "RETURNING id AS Id, org_id AS OrgId, email AS Email, role AS Role, status AS Status, invited_by AS InvitedBy, " +
                "created_at AS CreatedAt, expires_at AS ExpiresAt, responded_at AS RespondedAt, user_id AS UserId",
                new { id, userId, email, status = accept ? InvitationStatuses.Accepted : InvitationStatuses.Declined, now }, t);
            if (row is not null && accept)
            {
                await IdentityStore.AddMembershipAsync(c, t, row.OrgId, userId, row.Role, DbTime.FromDb(now));
            }

            return row;
        });

    /// <summary>
    /// Accepts the invitation a link names by creating its invitee's account: the user, the membership and the answer,
    /// in one transaction. Null when the link names no open invitation; a 409 problem when the email already has an
    /// account (also one created concurrently), in which case nothing is written.
    /// </summary>
    public Task<InvitationRow?> AcceptWithNewAccountAsync(Change change, string tokenHash, Func<string, User> newUser, string passwordHash, long now) =>
        change.Run(async (c, t) =>
        {
            var row = await c.QuerySingleOrDefaultAsync<InvitationRow>(
                "UPDATE invitations SET status = 'accepted', responded_at = @now " +
                "WHERE token_hash = @tokenHash AND status = 'pending' AND expires_at > @now " +
                "RETURNING id AS Id, org_id AS OrgId, email AS Email, role AS Role, status AS Status, invited_by AS InvitedBy, " +
                "created_at AS CreatedAt, expires_at AS ExpiresAt, responded_at AS RespondedAt, user_id AS UserId",
                new { tokenHash, now }, t);
            if (row is null)
            {
                return null;
            }

            var user = newUser(row.Email);
            if (!await IdentityStore.TryInsertUserAsync(c, t, user, passwordHash))
            {
                // Thrown, not returned: the transaction rolls back and the invitation stays open for a signed-in accept.
                throw Problems.Conflict("account-exists",
                    $"{row.Email} already has an account: sign in as {row.Email}, then accept the invitation in the dashboard or with POST /api/v1/invitations/{row.Id}/accept.");
            }

            await c.ExecuteAsync("UPDATE invitations SET user_id = @userId WHERE id = @id", new { userId = user.Id, id = row.Id }, t);
            await IdentityStore.AddMembershipAsync(c, t, row.OrgId, user.Id, row.Role, DbTime.FromDb(now));
            row.UserId = user.Id;
            return row;
        });

    private sealed class PendingRow
    {
        public Guid Id { get; set; }
        public string OrgSlug { get; set; } = "";
        public string OrgName { get; set; } = "";
        public string Role { get; set; } = "";
        public string? InvitedBy { get; set; }
        public long ExpiresAt { get; set; }
    }
}

/// <summary>An invitations row as stored (times in epoch milliseconds), with its org's slug and name when read by token.</summary>
public sealed class InvitationRow
{
    public Guid Id { get; set; }
    public Guid OrgId { get; set; }
    public string Email { get; set; } = "";
    public string Role { get; set; } = "";
    public string Status { get; set; } = "";
    public Guid? InvitedBy { get; set; }
    public long CreatedAt { get; set; }
    public long ExpiresAt { get; set; }
    public long? RespondedAt { get; set; }
    public Guid? UserId { get; set; }
    public string? OrgSlug { get; set; }
    public string? OrgName { get; set; }

    /// <summary>The status as callers see it: a pending invitation past its expiry reads as expired.</summary>
    public string EffectiveStatus(long now) => Status == InvitationStatuses.Pending && ExpiresAt <= now ? InvitationStatuses.Expired : Status;

    public Invitation ToModel(long now, string? acceptUrl = null) =>
        new(Id, Email, Role, EffectiveStatus(now), InvitedBy, DbTime.FromDb(CreatedAt), DbTime.FromDb(ExpiresAt), DbTime.FromDb(RespondedAt), acceptUrl);
}
