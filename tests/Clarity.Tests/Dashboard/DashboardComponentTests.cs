using System.Reflection;
using Clarity.Dashboard;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Rendering;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Clarity.Tests.Dashboard;

/// <summary>
/// The dashboard's rule that a component loads its data before its first render, whatever the database's timing
/// (Npgsql's calls yield, SQLite's complete synchronously). No host or database: a yield stands in for the I/O.
/// </summary>
public sealed class DashboardComponentTests
{
    [Fact]
    public async Task LoadAsync_ThatYields_CompletesBeforeTheFirstRender()
    {
        var html = await RenderAsync<YieldingPage>();
        Assert.Equal("LOADED", html);
    }

    [Fact]
    public void NoDashboardComponent_LoadsDataInOnInitializedAsyncOrOnParametersSetAsync()
    {
        var components = typeof(DashboardComponent).Assembly.GetTypes()
            .Where(t => typeof(IComponent).IsAssignableFrom(t) && t.Namespace?.StartsWith("Clarity.Dashboard", StringComparison.Ordinal) == true)
            .ToList();
        Assert.NotEmpty(components);
        foreach (var type in components)
        {
            foreach (var hook in new[] { "OnInitializedAsync", "OnParametersSetAsync" })
            {
                var declaredBy = type.GetMethod(hook, BindingFlags.Instance | BindingFlags.NonPublic, Type.EmptyTypes)?.DeclaringType;
                Assert.True(
                    declaredBy is null || declaredBy == typeof(ComponentBase) || declaredBy == typeof(DashboardComponent),
                    $"{type.FullName} overrides {hook}: a component rendered before that await completes shows missing data. Derive from DashboardComponent and load in LoadAsync.");
            }
        }
    }

    private static async Task<string> RenderAsync<T>()
        where T : IComponent
    {
        await using var services = new ServiceCollection().AddLogging().BuildServiceProvider();
        await using var renderer = new HtmlRenderer(services, services.GetRequiredService<ILoggerFactory>());
        return await renderer.Dispatcher.InvokeAsync(async () => (await renderer.RenderComponentAsync<T>()).ToHtmlString());
    }

    /// <summary>Throws if it renders before its data has loaded, as the overview did on PostgreSQL.</summary>
    private sealed class YieldingPage : DashboardComponent
    {
        private string _title = null!;

        protected override async Task LoadAsync()
        {
            await Task.Yield();
            _title = "loaded";
        }

        protected override void BuildRenderTree(RenderTreeBuilder builder) => builder.AddContent(0, _title.ToUpperInvariant());
    }
}
