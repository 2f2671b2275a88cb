using Clarity.Hosting.Authentication;

namespace Clarity.Hosting.Authorization;

public static class AccessServices
{
    /// <summary>Who is calling (the authentication handlers) and what they may do (roles as data, and the one resolver).</summary>
    public static IServiceCollection AddAccess(this IServiceCollection services) =>
        services
            .AddClarityAuthentication()
            .AddSingleton<RoleStore>()
            .AddSingleton<RoleCatalog>()
            .AddSingleton<AccessResolver>();
}
