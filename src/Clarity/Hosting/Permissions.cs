using System.Collections.Frozen;

namespace Clarity.Hosting;

/// <summary>Permissions are data: a role is a set of these strings, and every endpoint names the one it needs.</summary>
public static class Permissions
{
    public const string OrgRead = "org:read";
    public const string OrgAdmin = "org:admin";
    public const string MembersRead = "members:read";
    public const string MembersManage = "members:manage";
    public const string ApiKeysManage = "apikeys:manage";
    public const string AgentsRead = "agents:read";
    public const string AgentsWrite = "agents:write";
    public const string TasksRead = "tasks:read";
    public const string TasksWrite = "tasks:write";
    public const string TasksRespond = "tasks:respond";
}

/// <summary>The built-in roles, from least to most privileged.</summary>
public static class Roles
{
    public const string Viewer = "viewer";
    public const string Member = "member";
    public const string Admin = "admin";
    public const string Owner = "owner";

    public static readonly IReadOnlyList<string> All = [Viewer, Member, Admin, Owner];

    private static readonly FrozenDictionary<string, FrozenSet<string>> s_grants = BuildGrants();

    public static IReadOnlySet<string> PermissionsOf(string role) => s_grants.TryGetValue(role, out var set) ? set : FrozenSet<string>.Empty;

    public static bool Grants(string role, string permission) => s_grants.TryGetValue(role, out var set) && set.Contains(permission);

    public static bool IsKnown(string? role) => role is not null && s_grants.ContainsKey(role);

    /// <summary>A caller may hand out only roles at or below their own.</summary>
    public static bool CanGrant(string callerRole, string role) => Rank(role) <= Rank(callerRole);

    public static int Rank(string role) => role switch
    {
        Viewer => 1,
        Member => 2,
        Admin => 3,
        Owner => 4,
        _ => 0,
    };

    /// <summary>A SQL expression giving the rank of the role in <paramref name="column"/>, as <see cref="Rank"/> does.</summary>
    public static string RankSql(string column) =>
        "CASE " + column + " " + string.Concat(All.Select(r => $"WHEN '{r}' THEN {Rank(r)} ")) + "ELSE 0 END";

    private static FrozenDictionary<string, FrozenSet<string>> BuildGrants()
    {
        string[] viewer = [Permissions.OrgRead, Permissions.TasksRead, Permissions.AgentsRead];
        string[] member = [.. viewer, Permissions.TasksWrite, Permissions.TasksRespond, Permissions.AgentsWrite];
        string[] admin = [.. member, Permissions.MembersRead, Permissions.MembersManage, Permissions.ApiKeysManage];
        string[] owner = [.. admin, Permissions.OrgAdmin];
        return new Dictionary<string, FrozenSet<string>>
        {
            [Viewer] = viewer.ToFrozenSet(),
            [Member] = member.ToFrozenSet(),
            [Admin] = admin.ToFrozenSet(),
            [Owner] = owner.ToFrozenSet(),
        }.ToFrozenDictionary();
    }
}

/// <summary>Endpoint metadata: the permission an org-scoped endpoint needs.</summary>
public sealed record RequiresPermission(string Permission);

/// <summary>Endpoint metadata: any signed-in caller (user or API key), not tied to one org.</summary>
public sealed record RequiresCaller(bool UserOnly);

/// <summary>Endpoint metadata: no authentication.</summary>
public sealed record PublicEndpoint;

public static class AccessEndpointExtensions
{
    public static TBuilder RequirePermission<TBuilder>(this TBuilder builder, string permission)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new RequiresPermission(permission));

    public static TBuilder RequireUser<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new RequiresCaller(UserOnly: true));

    public static TBuilder RequireCaller<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new RequiresCaller(UserOnly: false));

    public static TBuilder Public<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new PublicEndpoint());
}
