using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Hosting.Compliance;
using System.Security.Cryptography;
using Clarity.Features.Tasks;
using Clarity.Hosting;
using Clarity.Hosting.Authorization;
using Clarity.Storage;

namespace Clarity.Features.Identity;

/// <summary>What the invitation link's page shows before it is accepted.</summary>
public sealed record InvitationPreview(Guid Id, string OrgSlug, string OrgName, string Email, string Role, string Status, DateTimeOffset ExpiresAt);

/// <summary>
/// Joining an org happens by invitation. An admin invites an email with a role; the answer is the same whether or not
/// the email has an account, and nobody is added until the person accepts: signed in (the dashboard, or
/// <c>POST /api/v1/invitations/{id}/accept</c>), or through the invitation's link, which also creates the account of
/// someone who has none. Invitations expire.
/// </summary>
public sealed class InvitationService(InvitationStore store, IdentityStore identity, SessionService sessions, PasswordHashing passwords, SignInThrottle throttle, Changes changes, TimeProvider clock, RoleCatalog roles)
{
    public const string TokenScheme = "cli_";
    private static readonly TimeSpan s_defaultLifetime = TimeSpan.FromDays(7);

    /// <summary>Invites <c>request.Email</c> to the org. <paramref name="linkBase"/> is the site's base URL, for the accept link.</summary>
    public async Task<Invitation> CreateAsync(OrgContext org, CreateInvitationRequest request, string linkBase, CancellationToken ct)
    {
        var email = IdentityRules.Email(request.Email);
        var role = IdentityRules.Role(request.Role, org, await roles.ForOrgAsync(org.OrgId, ct));
        var hours = Check.Range(request.ExpiresInHours, "expiresInHours", 1, 720, (int)s_defaultLifetime.TotalHours);
        var now = DbTime.ToDb(clock.GetUtcNow());
        var token = TokenScheme + ApiKeySecret.Base64Url(RandomNumberGenerator.GetBytes(32));
        var row = new InvitationRow
        {
            Id = Guid.CreateVersion7(),
            OrgId = org.OrgId,
            Email = email,
            Role = role,
            Status = InvitationStatuses.Pending,
            InvitedBy = org.Caller.UserId ?? org.Caller.ApiKey?.CreatedBy,
            CreatedAt = now,
            ExpiresAt = now + hours * 3_600_000L,
        };
        var outcome = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var outcome = await store.CreateAsync(change, row, ApiKeySecret.Hash(token));
            if (outcome == InvitationStore.CreateStatus.Created)
            {
                change.Emit(new InvitationChanged(org.OrgId, row.Id, role, InvitationStatuses.Pending));
                change.Audit(new AuditRecord(org.OrgId, AuditActions.InvitationCreated, Target(row.Id, email),
                    After: new AuditFields().Personal("email", email).Add("role", role).Add("expiresAt", DbTime.FromDb(row.ExpiresAt))));
            }

            return outcome;
        }, ct);
        switch (outcome)
        {
            case InvitationStore.CreateStatus.AlreadyMember:
                throw Problems.Conflict("already-member", $"{email} is already a member of this org.");
            case InvitationStore.CreateStatus.AlreadyInvited:
                throw Problems.Conflict("already-invited", $"{email} already has an open invitation to this org; revoke it to send a new one.");
        }

        return row.ToModel(now, linkBase.TrimEnd('/') + "/invite/" + token);
    }

    public async Task<InvitationPage> ListAsync(OrgContext org, string? status, string? cursor, int? limit, CancellationToken ct)
    {
        if (status is not null && !InvitationStatuses.All.Contains(status))
        {
            throw Problems.Validation("status", $"must be one of {string.Join(", ", InvitationStatuses.All)}.");
        }

        var take = Check.Range(limit, "limit", 1, 200, 50);
        var now = DbTime.ToDb(clock.GetUtcNow());
        var rows = await store.ListAsync(org.OrgId, status, now, Cursor.Decode(cursor), take + 1, ct);
        var items = rows.Take(take).Select(r => r.ToModel(now)).ToList();
        return new InvitationPage(items, rows.Count > take ? Cursor.Encode(items[^1].Id) : null);
    }

    public async Task RevokeAsync(OrgContext org, Guid id, CancellationToken ct)
    {
        var outcome = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var outcome = await store.RevokeAsync(change, org.OrgId, id, org.Role, change.Now);
            if (outcome == InvitationStore.RevokeStatus.Revoked)
            {
                change.Emit(new InvitationChanged(org.OrgId, id, "", InvitationStatuses.Revoked));
                change.Audit(new AuditRecord(org.OrgId, AuditActions.InvitationRevoked, new AuditTarget("invitation", id),
                    Before: new AuditFields().Add("status", InvitationStatuses.Pending), After: new AuditFields().Add("status", InvitationStatuses.Revoked)));
            }

            return outcome;
        }, ct);
        switch (outcome)
        {
            case InvitationStore.RevokeStatus.NotFound:
                throw Problems.NotFound("Invitation");
            case InvitationStore.RevokeStatus.NotPending:
                throw Problems.Conflict("not-pending", "The invitation has already been answered or withdrawn.");
            case InvitationStore.RevokeStatus.Outranked:
                throw Problems.Forbidden($"Your role '{org.Role}' cannot withdraw an invitation to a role that holds permissions yours does not.");
        }
    }

    /// <summary>Accepts (or declines) an invitation addressed to the signed-in user's email.</summary>
    public async Task<OrgMembership?> RespondAsync(Caller caller, Guid id, bool accept, CancellationToken ct)
    {
        var user = await SignedInUserAsync(caller, ct);
        var row = await changes.RunAsync(caller.Actor, async change =>
        {
            var row = await store.RespondAsync(change, id, user.Id, user.Email, accept, change.Now);
            if (row is not null)
            {
                change.Emit(new InvitationChanged(row.OrgId, row.Id, row.Role, row.Status));
                change.Audit(new AuditRecord(row.OrgId, accept ? AuditActions.InvitationAccepted : AuditActions.InvitationDeclined, Target(row.Id, user.Email),
                    Before: new AuditFields().Add("status", InvitationStatuses.Pending), After: new AuditFields().Add("status", row.Status)));
                if (accept)
                {
                    change.Emit(new MemberJoined(row.OrgId, user.Id, row.Role));
                    change.Audit(Joined(row.OrgId, user.Id, user.Email, row.Role, null));
                }
            }

            return row;
        }, ct);
        if (row is null)
        {
            // Someone else's invitation is as invisible as a missing one.
            throw Problems.NotFound("Invitation");
        }

        if (!accept)
        {
            return null;
        }

        var org = await identity.FindOrgAsync(row.OrgId, ct) ?? throw Problems.NotFound("Org");
        return new OrgMembership(org.Slug, org.Name, await identity.FindRoleAsync(row.OrgId, user.Id, ct) ?? row.Role);
    }

    /// <summary>What the link's page shows; null when the token names no invitation.</summary>
    public async Task<InvitationPreview?> PreviewAsync(string? token, CancellationToken ct)
    {
        if (!LooksLikeToken(token))
        {
            return null;
        }

        var row = await store.FindByTokenAsync(ApiKeySecret.Hash(token!), ct);
        return row is null ? null
            : new InvitationPreview(row.Id, row.OrgSlug!, row.OrgName!, row.Email, row.Role, row.EffectiveStatus(DbTime.ToDb(clock.GetUtcNow())), DbTime.FromDb(row.ExpiresAt));
    }

    /// <summary>
    /// Accepts the invitation a link names by creating the invitee's account with the given password, and signs them in.
    /// An email that already has an account is told to sign in and accept instead (409 account-exists).
    /// </summary>
    public async Task<(LoginResult Login, User User, OrgMembership Membership)> AcceptWithNewAccountAsync(AcceptInvitationRequest request, SignInClient client, CancellationToken ct)
    {
        var token = Check.Required(request.Token, "token", 200);
        var password = IdentityRules.Password(request.Password);
        var displayName = request.DisplayName is null ? null : Check.Required(request.DisplayName, "displayName", 100);
        if (!LooksLikeToken(token))
        {
            throw InvalidLink();
        }

        // A cheap read first: a dead link must not cost a password hash. The transaction below still decides.
        var now = DbTime.FromDb(DbTime.ToDb(clock.GetUtcNow()));
        var open = await store.FindByTokenAsync(ApiKeySecret.Hash(token), ct);
        if (open is null || open.EffectiveStatus(DbTime.ToDb(now)) != InvitationStatuses.Pending)
        {
            throw InvalidLink();
        }

        string hash;
        using (await throttle.HashingTurnAsync(ct))
        {
            // Rate limit (PasswordHashingGate): a turn to hash, 429 when hashing is saturated.
            hash = passwords.Hash(password);
        }
        User? created = null;
        var row = await changes.RunAsync(Actor.System, async change =>
        {
            var row = await store.AcceptWithNewAccountAsync(
                change, ApiKeySecret.Hash(token), email => created = new User(Guid.CreateVersion7(), email, IdentityRules.DisplayName(displayName, email), now), hash, change.Now);
            if (row is not null)
            {
                // The new person is the actor of their own joining.
                change.Emit(new InvitationChanged(row.OrgId, row.Id, row.Role, InvitationStatuses.Accepted) { Actor = Actor.User(row.UserId!.Value) });
                change.Emit(new MemberJoined(row.OrgId, row.UserId!.Value, row.Role) { Actor = Actor.User(row.UserId!.Value) });
                var joiner = Actor.User(row.UserId!.Value);
                change.Audit(new AuditRecord(row.OrgId, AuditActions.InvitationAccepted, Target(row.Id, row.Email),
                    Before: new AuditFields().Add("status", InvitationStatuses.Pending), After: new AuditFields().Add("status", InvitationStatuses.Accepted).Add("newAccount", true))
                {
                    Actor = joiner,
                });
                change.Audit(Joined(row.OrgId, row.UserId!.Value, row.Email, row.Role, joiner));
            }

            return row;
        }, ct) ?? throw InvalidLink();
        var org = await identity.FindOrgAsync(row.OrgId, ct) ?? throw Problems.NotFound("Org");
        var login = await sessions.StartAsync(row.UserId!.Value, created!.Email, client.UserAgent, client.Address, ct);
        return (login, created!, new OrgMembership(org.Slug, org.Name, row.Role));
    }

    private static AuditTarget Target(Guid id, string email) => new("invitation", id, email) { LabelClass = ClarityTaxonomy.Personal };

    private static AuditRecord Joined(Guid orgId, Guid userId, string email, string role, Actor? actor) =>
        new(orgId, AuditActions.MemberJoined, new AuditTarget("member", userId, email) { LabelClass = ClarityTaxonomy.Personal },
            After: new AuditFields().Add("role", role))
        {
            Actor = actor,
        };

    private static ApiException InvalidLink() =>
        Problems.NotFound("An open invitation for this link");

    private static bool LooksLikeToken(string? token) =>
        token is { Length: > 4 and <= 200 } && token.StartsWith(TokenScheme, StringComparison.Ordinal);

    private async Task<User> SignedInUserAsync(Caller caller, CancellationToken ct)
    {
        var userId = caller.UserId ?? throw Problems.Forbidden("Invitations are answered by signed-in people, not API keys.");
        return await identity.FindUserAsync(userId, ct) ?? throw Problems.Unauthorized("The user no longer exists.");
    }
}
