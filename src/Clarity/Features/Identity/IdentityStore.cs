using System.Data.Common;
using Clarity.Hosting;
using Clarity.Hosting.Authorization;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Identity;

// Inside the namespace: BouncyCastle (through MailKit) has a root namespace named Org.
using Org = Clarity.Client.Org;

/// <summary>
/// SQL for orgs, users, memberships, API keys and server secrets. The same SQL serves both backends. Every check that
/// guards a write runs in the write's transaction, under the lock or constraint that makes it hold under concurrency:
/// the setup_state row (one first-run setup), the unique slug and email, and the org row's lock for "an org keeps an owner".
/// Such checks judge roles by their permissions as the transaction reads them (<see cref="RoleStore.LoadAsync(DbConnection, DbTransaction?, Guid, CancellationToken)"/>).
/// </summary>
public sealed class IdentityStore(Database db)
{
    private const string OrgColumns = "id AS Id, slug AS Slug, name AS Name, created_at AS CreatedAt";
    private const string MemberColumns = "u.id AS UserId, u.email AS Email, u.display_name AS DisplayName, m.role AS Role, m.created_at AS JoinedAt";
    private const string ApiKeyColumns =
        "id AS Id, name AS Name, prefix AS Prefix, role AS Role, created_by AS CreatedBy, created_at AS CreatedAt, last_used_at AS LastUsedAt, revoked_at AS RevokedAt";
    private const string ApiKeyPrincipalColumns =
        "id AS Id, org_id AS OrgId, name AS Name, prefix AS Prefix, role AS Role, created_by AS CreatedBy, revoked_at AS RevokedAt, last_used_at AS LastUsedAt";

    public Database Database => db;

    /// <summary>True once first-run setup has completed.</summary>
    public async Task<bool> IsSetUpAsync(CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.ExecuteScalarAsync<long>(new CommandDefinition("SELECT COUNT(*) FROM setup_state", cancellationToken: ct)) > 0;
    }

    /// <summary>Creates the first org, its owner and the membership. False when setup has already happened (one winner among concurrent setups).</summary>
    public Task<bool> SetupAsync(Change change, Org org, User user, string passwordHash) =>
        change.Run(async (c, t) =>
        {
            var claimed = await c.ExecuteAsync(
                "INSERT INTO setup_state (singleton, completed_at) VALUES (1, @at) ON CONFLICT (singleton) DO NOTHING",
                new { at = DbTime.ToDb(org.CreatedAt) }, t);
            if (claimed == 0)
            {
                return false;
            }

            await InsertOrgAsync(c, t, org);
            await InsertUserAsync(c, t, user, passwordHash);
            await InsertMembershipAsync(c, t, org.Id, user.Id, BuiltInRoles.Owner, org.CreatedAt);
            return true;
        });

    public async Task<Org?> FindOrgBySlugAsync(string slug, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var row = await c.QuerySingleOrDefaultAsync<OrgRow>($"SELECT {OrgColumns} FROM orgs WHERE slug = @slug", new { slug });
        return row?.ToModel();
    }

    /// <summary>Creates an org owned by <paramref name="ownerId"/>; false when the slug is taken (also by a concurrent create).</summary>
    public Task<bool> CreateOrgAsync(Change change, Org org, Guid ownerId) =>
        change.Run(async (c, t) =>
        {
            var inserted = await c.ExecuteAsync(
                "INSERT INTO orgs (id, slug, name, created_at) VALUES (@Id, @Slug, @Name, @createdAt) ON CONFLICT (slug) DO NOTHING",
                new { org.Id, org.Slug, org.Name, createdAt = DbTime.ToDb(org.CreatedAt) }, t);
            if (inserted == 0)
            {
                return false;
            }

            await InsertMembershipAsync(c, t, org.Id, ownerId, BuiltInRoles.Owner, org.CreatedAt);
            return true;
        });

    public async Task<UserCredentials?> FindCredentialsAsync(string email, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<UserCredentials>(
            "SELECT id AS Id, email AS Email, password_hash AS PasswordHash FROM users WHERE email = @email", new { email });
    }

    public Task UpdatePasswordHashAsync(Guid userId, string hash, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync("UPDATE users SET password_hash = @hash WHERE id = @userId", new { hash, userId }, t), ct);

    public async Task<User?> FindUserAsync(Guid id, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var row = await c.QuerySingleOrDefaultAsync<UserRow>(
            "SELECT id AS Id, email AS Email, display_name AS DisplayName, created_at AS CreatedAt FROM users WHERE id = @id", new { id });
        return row?.ToModel();
    }

    public async Task<string?> FindRoleAsync(Guid orgId, Guid userId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<string>(
            "SELECT role FROM memberships WHERE org_id = @orgId AND user_id = @userId", new { orgId, userId });
    }

    public async Task<IReadOnlyList<OrgMembership>> ListMembershipsAsync(Guid userId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var rows = await c.QueryAsync<OrgMembership>(
            "SELECT o.slug AS Slug, o.name AS Name, m.role AS Role FROM memberships m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = @userId ORDER BY o.slug",
            new { userId });
        return rows.AsList();
    }

    /// <summary>An org's members in email order, after <paramref name="afterEmail"/> (a page cursor).</summary>
    public async Task<IReadOnlyList<Member>> ListMembersAsync(Guid orgId, string? afterEmail, int limit, CancellationToken ct)
    {
        var sql = $"SELECT {MemberColumns} FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = @orgId";
        if (afterEmail is not null)
        {
            sql += " AND u.email > @afterEmail";
        }

        await using var c = await db.OpenReadAsync(ct);
        var rows = await c.QueryAsync<MemberRow>(new CommandDefinition(sql + " ORDER BY u.email LIMIT @limit", new { orgId, afterEmail, limit }, cancellationToken: ct));
        return rows.Select(r => r.ToModel()).ToList();
    }

    public async Task<Member?> FindMemberAsync(Guid orgId, Guid userId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await FindMemberAsync(c, null, orgId, userId))?.ToModel();
    }

    /// <summary>Adds the user to the org inside the caller's transaction; false when they already belong to it.</summary>
    public static async Task<bool> AddMembershipAsync(DbConnection c, DbTransaction t, Guid orgId, Guid userId, string role, DateTimeOffset at) =>
        await c.ExecuteAsync(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (@orgId, @userId, @role, @at) ON CONFLICT (org_id, user_id) DO NOTHING",
            new { orgId, userId, role, at = DbTime.ToDb(at) }, t) == 1;

    /// <summary>Creates a user inside the caller's transaction; false when the email already has an account (also a concurrent one).</summary>
    public static async Task<bool> TryInsertUserAsync(DbConnection c, DbTransaction t, User user, string passwordHash) =>
        await c.ExecuteAsync(
            "INSERT INTO users (id, email, display_name, password_hash, created_at) VALUES (@Id, @Email, @DisplayName, @passwordHash, @createdAt) ON CONFLICT (email) DO NOTHING",
            new { user.Id, user.Email, user.DisplayName, passwordHash, createdAt = DbTime.ToDb(user.CreatedAt) }, t) == 1;

    public enum MemberChangeStatus
    {
        Done,
        NotFound,
        LastOwner,
        Outranked,
    }

    /// <param name="Member">The member as they are now (null when removed or not found).</param>
    /// <param name="TargetRole">The member's role before the change (null when not found).</param>
    /// <param name="ApiKeys">The API keys the member created that the change revoked (removal) or capped (a lower role).</param>
    public sealed record MemberChangeResult(MemberChangeStatus Status, Member? Member, string? TargetRole, IReadOnlyList<ApiKeyInfo> ApiKeys);

    /// <summary>
    /// Changes a member's role, or removes them when <paramref name="role"/> is null. Runs under the org row's lock, so
    /// concurrent changes see each other, and judges by the roles as the transaction reads them:
    /// - an org always keeps an owner: a member whose role holds <c>org:admin</c> (<see cref="MemberChangeStatus.LastOwner"/>);
    /// - nobody changes a member whose role holds a permission their own does not, nor grants such a role
    ///   (<paramref name="actorRole"/>, the actor's current role for a user; null when members leave of their own accord).
    /// A removal revokes the API keys the member created in the org; a new role caps their keys whose role holds a
    /// permission the new one does not.
    /// </summary>
    public Task<MemberChangeResult> ChangeMemberAsync(Change change, Guid orgId, Guid userId, string? role, Guid? actorUserId, OrgRole? actorRole, DateTimeOffset now) =>
        change.Run(async (c, t) =>
        {
            await LockOrgAsync(c, t, orgId);
            var target = await FindMemberAsync(c, t, orgId, userId);
            if (target is null)
            {
                return new MemberChangeResult(MemberChangeStatus.NotFound, null, null, []);
            }

            var roles = await RoleStore.LoadAsync(c, t, orgId);
            var targetRole = roles.Resolve(target.Role);
            var newRole = role is null ? null : roles.Resolve(role);
            if (actorRole is not null)
            {
                // The actor's own role may have changed since the request was authorised: judge by the current one.
                var current = actorUserId is { } actor
                    ? await c.QuerySingleOrDefaultAsync<string>("SELECT role FROM memberships WHERE org_id = @orgId AND user_id = @actor", new { orgId, actor }, t)
                    : actorRole.Name;
                if (current is null || !roles.Resolve(current).Includes(targetRole) || (newRole is not null && !roles.Resolve(current).Includes(newRole)))
                {
                    return new MemberChangeResult(MemberChangeStatus.Outranked, target.ToModel(), target.Role, []);
                }
            }

            if (targetRole.Grants(Permissions.OrgAdmin) && newRole?.Grants(Permissions.OrgAdmin) != true)
            {
                var keepers = await c.ExecuteScalarAsync<long>(
                    $"SELECT COUNT(*) FROM memberships WHERE org_id = @orgId AND {db.Dialect.InList("role", "@names")}",
                    new { orgId, names = roles.NamesGranting(Permissions.OrgAdmin).ToArray() }, t);
                if (keepers <= 1)
                {
                    return new MemberChangeResult(MemberChangeStatus.LastOwner, target.ToModel(), target.Role, []);
                }
            }

            var at = DbTime.ToDb(now);
            if (newRole is null)
            {
                await c.ExecuteAsync("DELETE FROM memberships WHERE org_id = @orgId AND user_id = @userId", new { orgId, userId }, t);
                var revoked = await c.QueryAsync<ApiKeyRow>(
                    $"UPDATE api_keys SET revoked_at = @at WHERE org_id = @orgId AND created_by = @userId AND revoked_at IS NULL RETURNING {ApiKeyColumns}",
                    new { orgId, userId, at }, t);
                return new MemberChangeResult(MemberChangeStatus.Done, null, target.Role, [.. revoked.Select(r => r.ToModel())]);
            }

            await c.ExecuteAsync("UPDATE memberships SET role = @role WHERE org_id = @orgId AND user_id = @userId", new { orgId, userId, role }, t);
            var over = roles.NamesNotIncludedIn(newRole);
            IEnumerable<ApiKeyRow> capped = [];
            if (over.Count > 0)
            {
                capped = await c.QueryAsync<ApiKeyRow>(
                    $"UPDATE api_keys SET role = @role WHERE org_id = @orgId AND created_by = @userId AND revoked_at IS NULL " +
                    $"AND {db.Dialect.InList("role", "@over")} RETURNING {ApiKeyColumns}",
                    new { orgId, userId, role, over = over.ToArray() }, t);
            }

            return new MemberChangeResult(MemberChangeStatus.Done, (await FindMemberAsync(c, t, orgId, userId))?.ToModel(), target.Role, [.. capped.Select(r => r.ToModel())]);
        });

    /// <summary>Takes the org row's lock (PostgreSQL) for the rest of the transaction: the lock that protects invariants spanning an org's memberships.</summary>
    private Task LockOrgAsync(DbConnection c, DbTransaction t, Guid orgId) =>
        c.ExecuteAsync($"SELECT id FROM orgs WHERE id = @orgId {db.Dialect.ForUpdate}", new { orgId }, t);

    /// <param name="createdBy">The person responsible for the key: the signed-in creator, or the person behind the API key that created it.</param>
    public Task InsertApiKeyAsync(Change change, Guid orgId, CreatedApiKey key, string secretHash, Guid? createdBy) =>
        change.Run((c, t) => c.ExecuteAsync(
            "INSERT INTO api_keys (id, org_id, name, prefix, secret_hash, role, created_by, created_at) VALUES (@Id, @orgId, @Name, @Prefix, @secretHash, @Role, @createdBy, @createdAt)",
            new { key.Id, orgId, key.Name, key.Prefix, secretHash, key.Role, createdBy, createdAt = DbTime.ToDb(key.CreatedAt) }, t));

    /// <summary>An org's API keys, newest first, before the <paramref name="before"/> cursor.</summary>
    public async Task<IReadOnlyList<ApiKeyInfo>> ListApiKeysAsync(Guid orgId, Guid? before, int limit, CancellationToken ct)
    {
        var sql = $"SELECT {ApiKeyColumns} FROM api_keys WHERE org_id = @orgId";
        if (before is not null)
        {
            sql += " AND id < @before";
        }

        await using var c = await db.OpenReadAsync(ct);
        var rows = await c.QueryAsync<ApiKeyRow>(new CommandDefinition(sql + " ORDER BY id DESC LIMIT @limit", new { orgId, before, limit }, cancellationToken: ct));
        return rows.Select(r => r.ToModel()).ToList();
    }

    public enum RevokeStatus
    {
        Revoked,
        NotFound,
        Outranked,
    }

    /// <summary>
    /// Revokes a key of this org unless it outranks the actor: its role, or the current role of the member who created
    /// it, holds a permission <paramref name="actorRole"/> does not (an admin cannot revoke an owner's keys). Revoking a
    /// revoked key is a no-op.
    /// </summary>
    public Task<(RevokeStatus Status, ApiKeyInfo? Key)> RevokeApiKeyAsync(Change change, Guid orgId, Guid id, OrgRole actorRole, DateTimeOffset now) =>
        change.Run<(RevokeStatus, ApiKeyInfo?)>(async (c, t) =>
        {
            await LockOrgAsync(c, t, orgId);
            var key = await c.QuerySingleOrDefaultAsync<ApiKeyRow>(
                $"SELECT {ApiKeyColumns} FROM api_keys WHERE id = @id AND org_id = @orgId", new { id, orgId }, t);
            if (key is null)
            {
                return (RevokeStatus.NotFound, null);
            }

            var creatorRole = key.CreatedBy is { } creator
                ? await c.QuerySingleOrDefaultAsync<string>("SELECT role FROM memberships WHERE org_id = @orgId AND user_id = @creator", new { orgId, creator }, t)
                : null;
            var roles = await RoleStore.LoadAsync(c, t, orgId);
            var actor = roles.Resolve(actorRole.Name);
            if (!actor.Includes(roles.Resolve(key.Role)) || (creatorRole is not null && !actor.Includes(roles.Resolve(creatorRole))))
            {
                return (RevokeStatus.Outranked, key.ToModel());
            }

            await c.ExecuteAsync(
                "UPDATE api_keys SET revoked_at = @now WHERE id = @id AND org_id = @orgId AND revoked_at IS NULL",
                new { id, orgId, now = DbTime.ToDb(now) }, t);
            return (RevokeStatus.Revoked, key.ToModel());
        });

    public async Task<ApiKeyPrincipal?> FindApiKeyAsync(string secretHash, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var row = await c.QuerySingleOrDefaultAsync<ApiKeyPrincipalRow>(new CommandDefinition(
            $"SELECT {ApiKeyPrincipalColumns} FROM api_keys WHERE secret_hash = @secretHash", new { secretHash }, cancellationToken: ct));
        return row?.ToModel();
    }

    /// <summary>The key with this id, revoked or not (a stream's periodic re-check reads it again).</summary>
    public async Task<ApiKeyPrincipal?> FindApiKeyByIdAsync(Guid id, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var row = await c.QuerySingleOrDefaultAsync<ApiKeyPrincipalRow>(new CommandDefinition(
            $"SELECT {ApiKeyPrincipalColumns} FROM api_keys WHERE id = @id", new { id }, cancellationToken: ct));
        return row?.ToModel();
    }

    public Task TouchApiKeyAsync(Guid id, DateTimeOffset now, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync("UPDATE api_keys SET last_used_at = @now WHERE id = @id", new { id, now = DbTime.ToDb(now) }, t), ct);

    public async Task<Org?> FindOrgAsync(Guid id, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var row = await c.QuerySingleOrDefaultAsync<OrgRow>($"SELECT {OrgColumns} FROM orgs WHERE id = @id", new { id });
        return row?.ToModel();
    }

    private static Task<MemberRow?> FindMemberAsync(DbConnection c, DbTransaction? t, Guid orgId, Guid userId) =>
        c.QuerySingleOrDefaultAsync<MemberRow>(
            $"SELECT {MemberColumns} FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = @orgId AND m.user_id = @userId",
            new { orgId, userId }, t);

    private static Task InsertOrgAsync(DbConnection c, DbTransaction t, Org org) =>
        c.ExecuteAsync("INSERT INTO orgs (id, slug, name, created_at) VALUES (@Id, @Slug, @Name, @createdAt)",
            new { org.Id, org.Slug, org.Name, createdAt = DbTime.ToDb(org.CreatedAt) }, t);

    private static Task InsertUserAsync(DbConnection c, DbTransaction t, User user, string passwordHash) =>
        c.ExecuteAsync("INSERT INTO users (id, email, display_name, password_hash, created_at) VALUES (@Id, @Email, @DisplayName, @passwordHash, @createdAt)",
            new { user.Id, user.Email, user.DisplayName, passwordHash, createdAt = DbTime.ToDb(user.CreatedAt) }, t);

    private static Task InsertMembershipAsync(DbConnection c, DbTransaction t, Guid orgId, Guid userId, string role, DateTimeOffset at) =>
        c.ExecuteAsync("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (@orgId, @userId, @role, @at)",
            new { orgId, userId, role, at = DbTime.ToDb(at) }, t);

    private sealed record OrgRow(Guid Id, string Slug, string Name, long CreatedAt)
    {
        public Org ToModel() => new(Id, Slug, Name, DbTime.FromDb(CreatedAt));
    }

    private sealed record UserRow(Guid Id, string Email, string DisplayName, long CreatedAt)
    {
        public User ToModel() => new(Id, Email, DisplayName, DbTime.FromDb(CreatedAt));
    }

    private sealed record MemberRow(Guid UserId, string Email, string DisplayName, string Role, long JoinedAt)
    {
        public Member ToModel() => new(UserId, Email, DisplayName, Role, DbTime.FromDb(JoinedAt));
    }

    private sealed class ApiKeyRow
    {
        public Guid Id { get; set; }
        public string Name { get; set; } = "";
        public string Prefix { get; set; } = "";
        public string Role { get; set; } = "";
        public Guid? CreatedBy { get; set; }
        public long CreatedAt { get; set; }
        public long? LastUsedAt { get; set; }
        public long? RevokedAt { get; set; }

        public ApiKeyInfo ToModel() => new(Id, Name, Prefix, Role, DbTime.FromDb(CreatedAt), DbTime.FromDb(LastUsedAt), DbTime.FromDb(RevokedAt), CreatedBy);
    }

    private sealed class ApiKeyPrincipalRow
    {
        public Guid Id { get; set; }
        public Guid OrgId { get; set; }
        public string Name { get; set; } = "";
        public string Prefix { get; set; } = "";
        public string Role { get; set; } = "";
        public Guid? CreatedBy { get; set; }
        public long? RevokedAt { get; set; }
        public long? LastUsedAt { get; set; }

        public ApiKeyPrincipal ToModel() => new(Id, OrgId, Name, Prefix, Role, RevokedAt is not null, LastUsedAt) { CreatedBy = CreatedBy };
    }
}
