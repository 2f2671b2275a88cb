using System.Data.Common;
using Clarity.Storage;
using Dapper;

namespace Clarity.Hosting.Authorization;

/// <summary>SQL for roles and their permissions (<c>roles</c>, <c>role_permissions</c>); the same on both backends.</summary>
public sealed class RoleStore(Database db)
{
    private const string LoadSql =
        "SELECT r.id AS Id, r.org_id AS OrgId, r.name AS Name, r.inherits_id AS InheritsId, p.permission AS Permission " +
        "FROM roles r LEFT JOIN role_permissions p ON p.role_id = r.id WHERE r.org_id IS NULL OR r.org_id = @orgId";

    /// <summary>The roles <paramref name="orgId"/> can use: the built-in ones and its own.</summary>
    public async Task<RoleSet?> LoadAsync(Guid orgId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await LoadAsync(c, null, orgId, ct);
    }

    /// <summary>
    /// The roles <paramref name="orgId"/> can use, as the caller's transaction sees them: a check that guards a write
    /// (under the org's lock) judges by these, not by a cached copy.
    /// </summary>
    public static async Task<RoleSet> LoadAsync(DbConnection c, DbTransaction? t, Guid orgId, CancellationToken ct = default)
    {
        var rows = await c.QueryAsync<Row>(new CommandDefinition(LoadSql, new { orgId }, t, cancellationToken: ct));
        var records = rows
            .GroupBy(r => r.Id)
            .Select(g => new RoleRecord(g.Key, g.First().OrgId, g.First().Name, g.First().InheritsId, [.. g.Where(r => r.Permission is not null).Select(r => r.Permission!)]));
        return RoleSet.Build(orgId, records);
    }

    /// <summary>Adds a role (an org's own when <paramref name="orgId"/> is set, else a built-in one) with the permissions listed for it.</summary>
    public static Task CreateAsync(Change change, Guid id, Guid? orgId, string name, Guid? inheritsId, IReadOnlyCollection<string> permissions) =>
        change.Run(async (c, t) =>
        {
            await c.ExecuteAsync(
                "INSERT INTO roles (id, org_id, name, inherits_id, created_at) VALUES (@id, @orgId, @name, @inheritsId, @now)",
                new { id, orgId, name, inheritsId, now = change.Now }, t);
            await InsertPermissionsAsync(c, t, id, permissions);
            return true;
        });

    /// <summary>Replaces the permissions listed for a role; returns the role's org (null for a built-in role), or false when there is no such role.</summary>
    public static Task<(bool Found, Guid? OrgId)> SetPermissionsAsync(Change change, Guid roleId, IReadOnlyCollection<string> permissions) =>
        change.Run<(bool, Guid?)>(async (c, t) =>
        {
            var role = await c.QuerySingleOrDefaultAsync<Row>("SELECT id AS Id, org_id AS OrgId, name AS Name FROM roles WHERE id = @roleId", new { roleId }, t);
            if (role is null)
            {
                return (false, null);
            }

            await c.ExecuteAsync("DELETE FROM role_permissions WHERE role_id = @roleId", new { roleId }, t);
            await InsertPermissionsAsync(c, t, roleId, permissions);
            return (true, role.OrgId);
        });

    private static Task InsertPermissionsAsync(DbConnection c, DbTransaction t, Guid roleId, IReadOnlyCollection<string> permissions) =>
        c.ExecuteAsync("INSERT INTO role_permissions (role_id, permission) VALUES (@roleId, @permission)",
            permissions.Distinct(StringComparer.Ordinal).Select(permission => new { roleId, permission }), t);

    private sealed class Row
    {
        public Guid Id { get; set; }
        public Guid? OrgId { get; set; }
        public string Name { get; set; } = "";
        public Guid? InheritsId { get; set; }
        public string? Permission { get; set; }
    }
}
