using Clarity.Dashboard.Pages;
using Clarity.Features.Workflows.Definitions;
using Xunit;

namespace Clarity.Tests.Dashboard;

/// <summary>Workflow docs as the dashboard shows them: Markdown from user YAML, so no raw HTML and no script links.</summary>
public sealed class WorkflowDocsHtmlTests
{
    [Fact]
    public void Render_RawHtml_IsShownAsText()
    {
        var html = string.Concat(WorkflowDocsHtml.Render("Hello <script>alert(1)</script> <img src=x onerror=alert(1)>\n\n<div onclick=\"x()\">block</div>\n"));

        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<div", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("&lt;script&gt;", html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[click](javascript:alert(1))")]
    [InlineData("[click](JavaScript:alert(1))")]
    [InlineData("[click](java&#09;script:alert(1))")]
    [InlineData("[click](data:text/html;base64,PHNjcmlwdD4=)")]
    [InlineData("[click][ref]\n\n[ref]: javascript:alert(1)")]
    [InlineData("<javascript:alert(1)>")]
    [InlineData("![click](javascript:alert(1))")]
    public void Render_LinksToOtherSchemes_LoseTheirLink(string markdown)
    {
        var html = string.Concat(WorkflowDocsHtml.Render(markdown));

        Assert.DoesNotContain("href", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("src=", html, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("[docs](https://example.com/a?b=c:d)", "https://example.com/a?b=c:d")]
    [InlineData("[docs](/o/acme/workflows)", "/o/acme/workflows")]
    [InlineData("[mail](mailto:ops@example.com)", "mailto:ops@example.com")]
    [InlineData("<https://example.com>", "https://example.com")]
    public void Render_SafeLinks_AreKept(string markdown, string href)
    {
        var html = string.Concat(WorkflowDocsHtml.Render(markdown));

        Assert.Contains($"href=\"{href}\"", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_WorkflowDocs_DropsTheTitle_RendersTables_AndMarksWhereTheGraphGoes()
    {
        var yaml = """
            name: ship
            description: Build, then <b>ship</b> [it](javascript:alert(1)).
            steps:
              - id: build
                kind: task
                queue: ci
                title: Build
              - id: ship
                kind: task
                queue: ci
                needs: [build]
                title: Ship
            """;
        var definition = WorkflowDefinitionParser.Parse(yaml).Definition!;

        var parts = WorkflowDocsHtml.Render(WorkflowDocs.Render(definition));

        Assert.Single(parts, p => p is null);
        var html = string.Concat(parts.Where(p => p is not null));
        Assert.DoesNotContain("<h1", html, StringComparison.Ordinal);
        Assert.Contains("<h2", html, StringComparison.Ordinal);
        Assert.Contains("<table>", html, StringComparison.Ordinal);
        Assert.Contains("<code>build</code>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("mermaid", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<b>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("javascript", html, StringComparison.Ordinal);
    }
}
