using System.Text.RegularExpressions;
using Clarity.Hosting;
using Clarity.Tests.Infrastructure;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Hosting;

/// <summary>docs/api.md stays true to the code: every route appears there with the access it really declares.</summary>
public sealed partial class ApiDocsTests : IAsyncLifetime
{
    private ClarityHost _host = null!;

    public async Task InitializeAsync() => _host = await ClarityHost.StartAsync(Backend.Sqlite);

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [GeneratedRegex(@"\{(\w+):[^}]+\}")]
    private static partial Regex Constraint();

    [Fact]
    public void ApiDocs_ListEveryRouteWithTheAccessItDeclares()
    {
        var docs = File.ReadAllText(FindRepoFile("docs/api.md"));
        var missing = new List<string>();
        foreach (var endpoint in _host.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().Where(e => !RouteTable.IsDashboard(e)))
        {
            var methods = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? [];
            var path = "/" + Constraint().Replace(endpoint.RoutePattern.RawText!.TrimStart('/'), "{$1}").Replace("{documentName}", "v1", StringComparison.Ordinal).TrimEnd('/');
            var access = endpoint.Metadata.GetMetadata<RequiresPermission>() is { } p ? $"`{p.Permission}`"
                : endpoint.Metadata.GetMetadata<RequiresCaller>() is { } c ? (c.UserOnly ? "user" : "caller")
                : endpoint.Metadata.GetMetadata<PublicEndpoint>() is not null ? "public"
                : "UNDECLARED";
            foreach (var method in methods)
            {
                var row = $"| {method} | `{path}` | {access} |";
                if (!docs.Contains(row, StringComparison.Ordinal))
                {
                    missing.Add(row);
                }
            }
        }

        Assert.True(missing.Count == 0, "docs/api.md lacks these rows:\n" + string.Join('\n', missing));
    }

    public static string FindRepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"{relative} was not found above {AppContext.BaseDirectory}.");
    }
}
