using Clarity.Client;
using Clarity.Dashboard.Pages;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Clarity.Tests.Dashboard;

/// <summary>The task page's summary, rendered without a host: what it shows of a task's dependencies.</summary>
public sealed class TaskSummaryTests
{
    [Fact]
    public async Task BlockedTask_ShowsItsStatus_AndLinksEachDependency()
    {
        var dependencies = new[] { Guid.CreateVersion7(), Guid.CreateVersion7() };
        var html = await RenderAsync(Task(TaskStatuses.Blocked, dependencies));

        Assert.Contains("status-blocked", html, StringComparison.Ordinal);
        Assert.Contains(">Blocked<", html, StringComparison.Ordinal);
        Assert.Contains("Depends on", html, StringComparison.Ordinal);
        Assert.All(dependencies, d => Assert.Contains($"href=\"/o/acme/tasks/{d}\"", html, StringComparison.Ordinal));
        Assert.Contains("Blocked until every one of these succeeds.", html, StringComparison.Ordinal);
        Assert.Contains("Cancel task", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TaskWithoutDependencies_ShowsNoDependencyList()
    {
        var html = await RenderAsync(Task(TaskStatuses.Queued, null));
        Assert.DoesNotContain("Depends on", html, StringComparison.Ordinal);
    }

    private static AgentTask Task(string status, IReadOnlyList<Guid>? dependsOn) => new(
        Guid.CreateVersion7(), "q", "title", status, null, null, null, [], 0, 0, 3, 3600, null, null, null, 0, null, null,
        DateTimeOffset.UtcNow, null, null, DateTimeOffset.UtcNow, DependsOn: dependsOn);

    private static async Task<string> RenderAsync(AgentTask task)
    {
        await using var services = new ServiceCollection().AddLogging().BuildServiceProvider();
        await using var renderer = new HtmlRenderer(services, services.GetRequiredService<ILoggerFactory>());
        var parameters = ParameterView.FromDictionary(new Dictionary<string, object?>
        {
            [nameof(TaskSummary.Task)] = task,
            [nameof(TaskSummary.OrgSlug)] = "acme",
            [nameof(TaskSummary.CanCancel)] = true,
        });
        return await renderer.Dispatcher.InvokeAsync(async () => (await renderer.RenderComponentAsync<TaskSummary>(parameters)).ToHtmlString());
    }
}
