using System.Text;
using Clarity.Dashboard;
using Clarity.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;

namespace Clarity.Tests.Infrastructure;

/// <summary>How an endpoint declares its access.</summary>
public enum AccessKind
{
    Public,
    Caller,
    User,
    Permission,
}

/// <summary>One route of the API as the server maps it: method, pattern and the access it declares.</summary>
/// <param name="BodyType">The type the endpoint reads from a JSON body, or null when it takes none.</param>
public sealed record ApiRoute(string Method, string Pattern, AccessKind Access, string? Permission, int DeclarationCount, Type? BodyType)
{
    public bool IsOrgScoped => Access == AccessKind.Permission;

    public bool HasBody => Method is "POST" or "PUT" or "PATCH";

    /// <summary>True when the endpoint reads a JSON array (e.g. a batch of log lines) rather than an object.</summary>
    public bool BodyIsArray => BodyType is { } t && t != typeof(string) && typeof(System.Collections.IEnumerable).IsAssignableFrom(t);

    /// <summary>"POST /api/v1/orgs/{org}/tasks" — the key used in theory rows.</summary>
    public string Key => $"{Method} {Pattern}";

    public RoutePattern Parsed => RoutePatternFactory.Parse(Pattern);

    /// <summary>The names of the route parameters, e.g. org, id, userId.</summary>
    public IReadOnlyList<string> Parameters => [.. Parsed.Parameters.Select(p => p.Name)];

    /// <summary>The literal segment just before a parameter, e.g. "tasks" for /tasks/{id}: says what kind of resource the id names.</summary>
    public string? ResourceOf(string parameter)
    {
        string? previous = null;
        foreach (var segment in Parsed.PathSegments)
        {
            if (segment.Parts is [RoutePatternParameterPart p] && p.Name == parameter)
            {
                return previous;
            }

            previous = segment.Parts is [RoutePatternLiteralPart literal] ? literal.Content : null;
        }

        return null;
    }

    /// <summary>Builds a relative request path by filling each parameter (without a leading slash, for HttpClient.BaseAddress).</summary>
    public string Fill(Func<string, string> value)
    {
        var path = new StringBuilder();
        foreach (var segment in Parsed.PathSegments)
        {
            path.Append('/');
            foreach (var part in segment.Parts)
            {
                path.Append(part switch
                {
                    RoutePatternLiteralPart literal => literal.Content,
                    RoutePatternParameterPart parameter => Uri.EscapeDataString(value(parameter.Name)),
                    RoutePatternSeparatorPart separator => separator.Content,
                    _ => throw new InvalidOperationException($"Unexpected route part in {Pattern}."),
                });
            }
        }

        return path.ToString().TrimStart('/');
    }
}

/// <summary>
/// The API's route table, read from the server's own <see cref="EndpointDataSource"/> so that generated tests
/// cover every endpoint, including ones added later, without a hand-kept list.
/// </summary>
public static class RouteTable
{
    private static readonly Lazy<IReadOnlyList<ApiRoute>> s_routes = new(Build);

    /// <summary>The routes of a server that is built but never started (for theory data, which is needed before any host runs).</summary>
    public static IReadOnlyList<ApiRoute> All => s_routes.Value;

    public static IReadOnlyList<ApiRoute> OrgScoped => [.. All.Where(r => r.IsOrgScoped)];

    /// <summary>Reads the routes from a server's endpoint data source.</summary>
    public static IReadOnlyList<ApiRoute> From(IServiceProvider services) => From(services.GetRequiredService<EndpointDataSource>().Endpoints);

    /// <summary>Reads the routes from a list of endpoints.</summary>
    public static IReadOnlyList<ApiRoute> From(IEnumerable<Endpoint> endpoints)
    {
        var routes = new List<ApiRoute>();
        foreach (var endpoint in endpoints.OfType<RouteEndpoint>().Where(e => !IsDashboard(e)))
        {
            var methods = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["*"];
            var permission = endpoint.Metadata.GetOrderedMetadata<RequiresPermission>();
            var caller = endpoint.Metadata.GetOrderedMetadata<RequiresCaller>();
            var isPublic = endpoint.Metadata.GetOrderedMetadata<PublicEndpoint>();
            var count = permission.Count + caller.Count + isPublic.Count;
            var access = permission.Count > 0 ? AccessKind.Permission
                : caller.Count > 0 ? (caller[0].UserOnly ? AccessKind.User : AccessKind.Caller)
                : AccessKind.Public;
            var pattern = "/" + (endpoint.RoutePattern.RawText ?? "").TrimStart('/');
            foreach (var method in methods)
            {
                var body = endpoint.Metadata.GetMetadata<IAcceptsMetadata>()?.RequestType;
                routes.Add(new ApiRoute(method, pattern, access, permission.Count > 0 ? permission[0].Permission : null, count, body));
            }
        }

        return [.. routes.OrderBy(r => r.Pattern, StringComparer.Ordinal).ThenBy(r => r.Method, StringComparer.Ordinal)];
    }

    /// <summary>
    /// Dashboard pages, fragments and static assets: HTML for browsers, with their own access rule (the session cookie,
    /// redirects to sign in). The generated suites cover the API only; the browser tests cover these.
    /// </summary>
    public static bool IsDashboard(Endpoint endpoint) =>
        endpoint.Metadata.GetMetadata<DashboardPageAttribute>() is not null || endpoint.Metadata.GetMetadata<DashboardStaticAsset>() is not null;

    public static ApiRoute Find(string key) =>
        All.SingleOrDefault(r => r.Key == key) ?? throw new InvalidOperationException($"No route {key}.");

    private static IReadOnlyList<ApiRoute> Build()
    {
        var dir = TestDatabases.NewTempDirectory();
        try
        {
            var server = ClarityServer.Create(new Dictionary<string, string?>
            {
                ["Clarity:Urls"] = "http://127.0.0.1:0",
                ["Clarity:DataDirectory"] = dir,
            });
            try
            {
                // Before start the global data source is still empty: read the app's own data sources instead.
                return From(((IEndpointRouteBuilder)server.App).DataSources.SelectMany(d => d.Endpoints));
            }
            finally
            {
                server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
        finally
        {
            TestDatabases.DeleteDirectory(dir);
        }
    }
}
