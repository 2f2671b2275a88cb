using System.Collections.Frozen;

namespace Clarity.Hosting.Authorization;

/// <summary>
/// A role as access checks see it: the name that memberships, API keys and invitations record, and every permission
/// the role holds (its own and those it inherits). Checks compare permission sets, never names: a caller may grant,
/// change or revoke only what their own role <see cref="Includes"/>.
/// </summary>
public sealed class OrgRole
{
    public OrgRole(string name, IEnumerable<string> permissions)
    {
        Name = name;
        Permissions = permissions.ToFrozenSet(StringComparer.Ordinal);
    }

    /// <summary>The name as memberships, API keys and invitations record it.</summary>
    public string Name { get; }

    /// <summary>Every permission the role holds, inherited ones included.</summary>
    public IReadOnlySet<string> Permissions { get; }

    public bool Grants(string permission) => Permissions.Contains(permission);

    /// <summary>True when this role holds every permission <paramref name="other"/> holds.</summary>
    public bool Includes(OrgRole other) => other.Permissions.IsSubsetOf(Permissions);

    /// <summary>The name: what messages and pages show.</summary>
    public override string ToString() => Name;
}

/// <summary>A row of <c>roles</c> with the permissions listed for it in <c>role_permissions</c> (not those it inherits).</summary>
public sealed record RoleRecord(Guid Id, Guid? OrgId, string Name, Guid? InheritsId, IReadOnlyCollection<string> Permissions);

/// <summary>
/// The roles an org can use: the built-in ones (no org) and the org's own, each with its effective permissions: those
/// listed for it plus those of the role it inherits from, transitively. A role whose parent is not visible to the org,
/// or a cycle, stops the walk there. Should an org's own role share a built-in role's name, the built-in one wins.
/// </summary>
public sealed class RoleSet
{
    private readonly FrozenDictionary<string, OrgRole> _byName;

    private RoleSet(Guid orgId, IReadOnlyList<OrgRole> all)
    {
        OrgId = orgId;
        All = all;
        _byName = all.ToFrozenDictionary(r => r.Name, StringComparer.Ordinal);
    }

    /// <summary>The org whose roles these are.</summary>
    public Guid OrgId { get; }

    /// <summary>Every role, from the fewest permissions to the most (then by name): the order pages list them in.</summary>
    public IReadOnlyList<OrgRole> All { get; }

    public static RoleSet Build(Guid orgId, IEnumerable<RoleRecord> records)
    {
        var visible = records.Where(r => r.OrgId is null || r.OrgId == orgId).ToList();
        var byId = visible.ToDictionary(r => r.Id);
        var roles = new Dictionary<string, OrgRole>(StringComparer.Ordinal);
        foreach (var record in visible.OrderBy(r => r.OrgId is null ? 0 : 1))
        {
            if (roles.ContainsKey(record.Name))
            {
                continue;
            }

            var permissions = new HashSet<string>(StringComparer.Ordinal);
            var seen = new HashSet<Guid>();
            var current = record;
            while (current is not null && seen.Add(current.Id))
            {
                permissions.UnionWith(current.Permissions);
                current = current.InheritsId is { } parent ? byId.GetValueOrDefault(parent) : null;
            }

            roles[record.Name] = new OrgRole(record.Name, permissions);
        }

        return new RoleSet(orgId, [.. roles.Values.OrderBy(r => r.Permissions.Count).ThenBy(r => r.Name, StringComparer.Ordinal)]);
    }

    /// <summary>The role of that name, or null when the org has none.</summary>
    public OrgRole? Find(string? name) => name is not null && _byName.TryGetValue(name, out var role) ? role : null;

    /// <summary>The role a membership, key or invitation names. A name no role has (any more) grants nothing.</summary>
    public OrgRole Resolve(string name) => Find(name) ?? new OrgRole(name, []);

    /// <summary>The roles <paramref name="caller"/> may hand out: those whose permissions their role includes.</summary>
    public IReadOnlyList<OrgRole> GrantableBy(OrgRole caller) => [.. All.Where(caller.Includes)];

    /// <summary>The names of the roles that hold <paramref name="permission"/>.</summary>
    public IReadOnlyList<string> NamesGranting(string permission) => [.. All.Where(r => r.Grants(permission)).Select(r => r.Name)];

    /// <summary>The names of the roles that hold some permission <paramref name="role"/> does not.</summary>
    public IReadOnlyList<string> NamesNotIncludedIn(OrgRole role) => [.. All.Where(r => !role.Includes(r)).Select(r => r.Name)];
}
