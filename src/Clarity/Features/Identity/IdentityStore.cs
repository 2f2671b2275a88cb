using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Identity;

/// <summary>SQL for orgs, users, memberships, API keys and server secrets. The same SQL serves both backends.</summary>
public sealed class IdentityStore(Database db)
{
    private const string OrgColumns = "id AS Id, slug AS Slug, name AS Name, created_at AS CreatedAt";

    public async Task<bool> AnyUserAsync(CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM (SELECT 1 FROM users LIMIT 1) x") > 0;
    }

    /// <summary>Creates the first org, its owner and the membership, only while no user exists.</summary>
    public Task<bool> SetupAsync(Org org, User user, string passwordHash, CancellationToken ct) =>
        db.WriteAsync(async (c, t) =>
        {
            if (await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM (SELECT 1 FROM users LIMIT 1) x", transaction: t) > 0)
            {
                return false;
            }

            await InsertOrgAsync(c, t, org);
            await InsertUserAsync(c, t, user, passwordHash);
            await InsertMembershipAsync(c, t, org.Id, user.Id, "owner", org.CreatedAt);
            return true;
        }, ct);

    public async Task<Org?> FindOrgBySlugAsync(string slug, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var row = await c.QuerySingleOrDefaultAsync<OrgRow>($"SELECT {OrgColumns} FROM orgs WHERE slug = @slug", new { slug });
        return row?.ToModel();
    }

    /// <summary>Creates an org owned by <paramref name="ownerId"/>; false when the slug is taken.</summary>
    public Task<bool> CreateOrgAsync(Org org, Guid ownerId, CancellationToken ct) =>
        db.WriteAsync(async (c, t) =>
        {
            var taken = await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM orgs WHERE slug = @Slug", new { org.Slug }, t);
            if (taken > 0)
            {
                return false;
            }

            await InsertOrgAsync(c, t, org);
            await InsertMembershipAsync(c, t, org.Id, ownerId, "owner", org.CreatedAt);
            return true;
        }, ct);

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

    public async Task<IReadOnlyList<Member>> ListMembersAsync(Guid orgId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var rows = await c.QueryAsync<MemberRow>(
            "SELECT u.id AS UserId, u.email AS Email, u.display_name AS DisplayName, m.role AS Role, m.created_at AS JoinedAt " +
            "FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = @orgId ORDER BY u.email",
            new { orgId });
        return rows.Select(r => r.ToModel()).ToList();
    }

    public enum AddMemberResult
    {
        Added,
        AlreadyMember,
        PasswordRequired,
    }

    /// <summary>Adds a user to an org, creating the user first when the email is new.</summary>
    public Task<AddMemberResult> AddMemberAsync(Guid orgId, User newUser, string? passwordHash, string role, CancellationToken ct) =>
        db.WriteAsync(async (c, t) =>
        {
            var existing = await c.QuerySingleOrDefaultAsync<Guid?>("SELECT id FROM users WHERE email = @Email", new { newUser.Email }, t);
            Guid userId;
            if (existing is { } id)
            {
                userId = id;
                var member = await c.ExecuteScalarAsync<long>(
                    "SELECT COUNT(*) FROM memberships WHERE org_id = @orgId AND user_id = @userId", new { orgId, userId }, t);
                if (member > 0)
                {
                    return AddMemberResult.AlreadyMember;
                }
            }
            else
            {
                if (passwordHash is null)
                {
                    return AddMemberResult.PasswordRequired;
                }

                await InsertUserAsync(c, t, newUser, passwordHash);
                userId = newUser.Id;
            }

            await InsertMembershipAsync(c, t, orgId, userId, role, newUser.CreatedAt);
            return AddMemberResult.Added;
        }, ct);

    public async Task<Member?> FindMemberAsync(Guid orgId, Guid userId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var row = await c.QuerySingleOrDefaultAsync<MemberRow>(
            "SELECT u.id AS UserId, u.email AS Email, u.display_name AS DisplayName, m.role AS Role, m.created_at AS JoinedAt " +
            "FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = @orgId AND m.user_id = @userId",
            new { orgId, userId });
        return row?.ToModel();
    }

    public enum MemberChange
    {
        Done,
        NotFound,
        LastOwner,
    }

    /// <summary>Changes a member's role, or removes them when <paramref name="role"/> is null. An org always keeps an owner.</summary>
    public Task<MemberChange> ChangeMemberAsync(Guid orgId, Guid userId, string? role, CancellationToken ct) =>
        db.WriteAsync(async (c, t) =>
        {
            var current = await c.QuerySingleOrDefaultAsync<string>(
                "SELECT role FROM memberships WHERE org_id = @orgId AND user_id = @userId", new { orgId, userId }, t);
            if (current is null)
            {
                return MemberChange.NotFound;
            }

            if (current == "owner" && role != "owner")
            {
                var owners = await c.ExecuteScalarAsync<long>(
                    "SELECT COUNT(*) FROM memberships WHERE org_id = @orgId AND role = 'owner'", new { orgId }, t);
                if (owners <= 1)
                {
                    return MemberChange.LastOwner;
                }
            }

            if (role is null)
            {
                await c.ExecuteAsync("DELETE FROM memberships WHERE org_id = @orgId AND user_id = @userId", new { orgId, userId }, t);
            }
            else
            {
                await c.ExecuteAsync("UPDATE memberships SET role = @role WHERE org_id = @orgId AND user_id = @userId", new { orgId, userId, role }, t);
            }

            return MemberChange.Done;
        }, ct);

    public Task InsertApiKeyAsync(Guid orgId, CreatedApiKey key, string secretHash, Guid? createdBy, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync(
            "INSERT INTO api_keys (id, org_id, name, prefix, secret_hash, role, created_by, created_at) VALUES (@Id, @orgId, @Name, @Prefix, @secretHash, @Role, @createdBy, @createdAt)",
            new { key.Id, orgId, key.Name, key.Prefix, secretHash, key.Role, createdBy, createdAt = DbTime.ToDb(key.CreatedAt) }, t), ct);

    public async Task<IReadOnlyList<ApiKeyInfo>> ListApiKeysAsync(Guid orgId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var rows = await c.QueryAsync<ApiKeyRow>(
            "SELECT id AS Id, name AS Name, prefix AS Prefix, role AS Role, created_at AS CreatedAt, last_used_at AS LastUsedAt, revoked_at AS RevokedAt " +
            "FROM api_keys WHERE org_id = @orgId ORDER BY id", new { orgId });
        return rows.Select(r => r.ToModel()).ToList();
    }

    /// <summary>Revokes a key of this org; false when there is no such key.</summary>
    public Task<bool> RevokeApiKeyAsync(Guid orgId, Guid id, DateTimeOffset now, CancellationToken ct) =>
        db.WriteAsync(async (c, t) =>
        {
            var exists = await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM api_keys WHERE id = @id AND org_id = @orgId", new { id, orgId }, t);
            if (exists == 0)
            {
                return false;
            }

            await c.ExecuteAsync(
                "UPDATE api_keys SET revoked_at = @now WHERE id = @id AND org_id = @orgId AND revoked_at IS NULL",
                new { id, orgId, now = DbTime.ToDb(now) }, t);
            return true;
        }, ct);

    public async Task<ApiKeyPrincipal?> FindApiKeyAsync(string secretHash, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var row = await c.QuerySingleOrDefaultAsync<ApiKeyPrincipalRow>(
            "SELECT id AS Id, org_id AS OrgId, name AS Name, prefix AS Prefix, role AS Role, revoked_at AS RevokedAt, last_used_at AS LastUsedAt FROM api_keys WHERE secret_hash = @secretHash",
            new { secretHash });
        return row is null ? null : new ApiKeyPrincipal(row.Id, row.OrgId, row.Name, row.Prefix, row.Role, row.RevokedAt is not null, row.LastUsedAt);
    }

    public Task TouchApiKeyAsync(Guid id, DateTimeOffset now, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync("UPDATE api_keys SET last_used_at = @now WHERE id = @id", new { id, now = DbTime.ToDb(now) }, t), ct);

    public async Task<Org?> FindOrgAsync(Guid id, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var row = await c.QuerySingleOrDefaultAsync<OrgRow>($"SELECT {OrgColumns} FROM orgs WHERE id = @id", new { id });
        return row?.ToModel();
    }

    /// <summary>Returns the named server secret, creating it with <paramref name="create"/> the first time (first writer wins across nodes).</summary>
    public async Task<string> GetOrCreateSecretAsync(string name, Func<string> create, CancellationToken ct)
    {
        var candidate = create();
        return await db.WriteAsync(async (c, t) =>
        {
            await c.ExecuteAsync(
                "INSERT INTO server_secrets (name, value, created_at) VALUES (@name, @candidate, @now) ON CONFLICT (name) DO NOTHING",
                new { name, candidate, now = DbTime.ToDb(DateTimeOffset.UtcNow) }, t);
            return await c.QuerySingleAsync<string>("SELECT value FROM server_secrets WHERE name = @name", new { name }, t);
        }, ct);
    }

    private static Task InsertOrgAsync(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction t, Org org) =>
        c.ExecuteAsync("INSERT INTO orgs (id, slug, name, created_at) VALUES (@Id, @Slug, @Name, @createdAt)",
            new { org.Id, org.Slug, org.Name, createdAt = DbTime.ToDb(org.CreatedAt) }, t);

    private static Task InsertUserAsync(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction t, User user, string passwordHash) =>
        c.ExecuteAsync("INSERT INTO users (id, email, display_name, password_hash, created_at) VALUES (@Id, @Email, @DisplayName, @passwordHash, @createdAt)",
            new { user.Id, user.Email, user.DisplayName, passwordHash, createdAt = DbTime.ToDb(user.CreatedAt) }, t);

    private static Task InsertMembershipAsync(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction t, Guid orgId, Guid userId, string role, DateTimeOffset at) =>
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

    private sealed record ApiKeyRow(Guid Id, string Name, string Prefix, string Role, long CreatedAt, long? LastUsedAt, long? RevokedAt)
    {
        public ApiKeyInfo ToModel() => new(Id, Name, Prefix, Role, DbTime.FromDb(CreatedAt), DbTime.FromDb(LastUsedAt), DbTime.FromDb(RevokedAt));
    }

    private sealed record ApiKeyPrincipalRow(Guid Id, Guid OrgId, string Name, string Prefix, string Role, long? RevokedAt, long? LastUsedAt);
}
