namespace Clarity.Hosting;

/// <summary>
/// The permissions endpoints declare. A role is a set of these (rows of <c>role_permissions</c>, read through
/// <see cref="Authorization.RoleCatalog"/>); every endpoint names the one it needs.
/// </summary>
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
    public const string AuditRead = "audit:read";

    public const string WebhooksManage = "webhooks:manage";

    public const string WorkflowsRead = "workflows:read";
    public const string WorkflowsManage = "workflows:manage";

    public const string RunsRead = "runs:read";
    public const string RunsManage = "runs:manage";

    public const string NotificationsManage = "notifications:manage";

    /// <summary>Every permission there is. A new one is also granted to the built-in roles that should hold it, by a migration.</summary>
    public static readonly IReadOnlyList<string> All =
        [OrgRead, TasksRead, AgentsRead, TasksWrite, TasksRespond, AgentsWrite, MembersRead, MembersManage, ApiKeysManage, WebhooksManage, OrgAdmin, AuditRead, WorkflowsRead, WorkflowsManage, RunsRead, RunsManage, NotificationsManage];
}

/// <summary>
/// The names of the built-in roles, which migration 0007 seeds as rows. Code assigns a name (whoever creates an org
/// becomes its <see cref="Owner"/>) but never decides anything by one: what a role may do is its permission set.
/// </summary>
public static class BuiltInRoles
{
    public const string Viewer = "viewer";
    public const string Member = "member";
    public const string Admin = "admin";
    public const string Owner = "owner";

    /// <summary>The seeded names, from least to most privileged.</summary>
    public static readonly IReadOnlyList<string> All = [Viewer, Member, Admin, Owner];
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
