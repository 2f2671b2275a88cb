using System.Net.Http.Headers;
using System.Text;
using Clarity.BrowserTests.Infrastructure;
using Microsoft.Playwright;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Clarity.BrowserTests.Dashboard;

/// <summary>The workflow pages: the editor's live validation and graph, saving from a template, and a version's docs.</summary>
public abstract class WorkflowPagesTests(SetUpBrowserFixture fixture)
{
    private static string Definition(string name, string needs) => $"""
        name: {name}
        description: Draft, then review.
        steps:
          - id: draft
            kind: task
            queue: writing
            title: Draft
          - id: review
            kind: task
            queue: review
            needs: {needs}
            title: Review
        """;

    [Fact]
    public async Task Editor_MarksABrokenNeedAtItsLineAsYouType_AndDrawsTheGraphOnceItIsFixed()
    {
        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync("/o/acme/workflows/_new");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "New workflow", Level = 1 })).ToBeVisibleAsync();
        var editor = page.Locator(".cm-content");
        var status = page.Locator("[data-problem-status]");
        var problems = page.Locator("[data-problem-list] li");
        var nodes = page.Locator("[data-workflow-graph] svg .wf-node");

        // Line 11 needs a step that does not exist.
        await editor.FillAsync(Definition("drafting", "[drafts]"));

        var mark = page.Locator(".cm-lintRange-error");
        await Expect(mark).ToHaveTextAsync("drafts");
        Assert.Equal(11, await page.EvaluateAsync<int>("() => [...document.querySelectorAll('.cm-content .cm-line')].findIndex(l => l.querySelector('.cm-lintRange-error')) + 1"));
        await Expect(status).ToHaveTextAsync("1 problem.");
        await Expect(problems).ToHaveCountAsync(1);
        await Expect(problems.First).ToHaveAttributeAsync("data-line", "11");
        await Expect(problems.First).ToHaveAttributeAsync("data-code", "unknown-need");
        await Expect(problems.First).ToContainTextAsync("Line 11, column 13");
        await Expect(problems.First).ToContainTextAsync("drafts");
        await Expect(nodes).ToHaveCountAsync(0);
        await page.ShotAsync("broken-need");

        // Fix it by typing: the word under the diagnostic becomes the step's real id.
        await mark.DblClickAsync();
        await page.Keyboard.TypeAsync("draft");

        await Expect(status).ToHaveTextAsync("No problems: ready to save.");
        await Expect(problems).ToHaveCountAsync(0);
        await Expect(page.Locator(".cm-lintRange-error")).ToHaveCountAsync(0);
        await Expect(nodes).ToHaveCountAsync(2);
        await Expect(page.Locator("[data-workflow-graph] svg .wf-node[data-step='draft']")).ToContainTextAsync("task");
        await Expect(page.Locator("[data-workflow-graph] svg .wf-edge[data-from='draft'][data-to='review']")).ToHaveCountAsync(1);
        await page.ShotAsync("fixed");

        // A step of the graph leads to its line.
        await page.Locator("[data-workflow-graph] svg .wf-node[data-step='review']").ClickAsync();
        await Expect(page.Locator(".cm-activeLine")).ToHaveTextAsync("  - id: review");
    }

    [Fact]
    public async Task Editor_FromATemplate_SavesVersionOne_AndTheListShowsTheWorkflow()
    {
        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page);
        await page.GetByRole(AriaRole.Navigation, new() { Name = "Main" }).GetByRole(AriaRole.Link, new() { Name = "Workflows" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Workflows", Level = 1 })).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "New workflow" }).ClickAsync();

        await page.GetByLabel("Start from a template").SelectOptionAsync("write-review-approve-publish");
        await page.GetByRole(AriaRole.Button, new() { Name = "Use template" }).ClickAsync();
        await Expect(page.Locator(".cm-content")).ToContainTextAsync("name: write-review-approve-publish");
        await Expect(page.Locator("[data-problem-status]")).ToHaveTextAsync("No problems: ready to save.");
        await Expect(page.Locator("[data-workflow-graph] svg .wf-node")).ToHaveCountAsync(4);
        await Expect(page.Locator("[data-workflow-graph] svg .wf-node.wf-kind-approval[data-step='approve']")).ToHaveCountAsync(1);
        await page.ShotAsync("template");

        await page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await page.WaitForURLAsync("**/o/acme/workflows/write-review-approve-publish?version=1&saved=1");
        await Expect(page.GetByText("Saved as version 1.")).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "write-review-approve-publish", Level = 1 })).ToBeVisibleAsync();

        await page.GotoAsync("/o/acme/workflows");
        var row = page.Locator("tr[data-workflow='write-review-approve-publish']");
        await Expect(row.GetByRole(AriaRole.Link, new() { Name = "write-review-approve-publish" })).ToBeVisibleAsync();
        await Expect(row.GetByRole(AriaRole.Link, new() { Name = "v1" })).ToBeVisibleAsync();
        await Expect(row).ToContainTextAsync("Draft a piece with one agent");
        await page.ShotAsync("list");
    }

    [Fact]
    public async Task VersionPage_RendersTheDocsAsHtml_WithTheGraphDrawnInPlaceOfMermaid_AndUserTextKeptInert()
    {
        var name = "docs-" + Guid.NewGuid().ToString("N")[..6];
        using var owner = fixture.Host.CreateClient(await fixture.Host.LoginTokenAsync());
        var first = Definition(name, "[draft]").Replace("Draft, then review.", "Draft, then **review**. <script>window.__pwned = true</script> [x](javascript:window.__pwned=true)", StringComparison.Ordinal);
        await UploadAsync(owner, first);
        await UploadAsync(owner, first + "\n  - id: publish\n    kind: wait\n    seconds: 60\n    needs: [review]\n");
        (await owner.PutAsync($"api/v1/orgs/acme/workflows/{name}/labels/stable", new StringContent("{\"version\":1}", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();

        var page = await fixture.NewPageAsync();
        var dialogs = 0;
        page.Dialog += async (_, dialog) =>
        {
            dialogs++;
            await dialog.DismissAsync();
        };
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync($"/o/acme/workflows/{name}");

        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = name, Level = 1 })).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Version 2", Level = 2 })).ToBeVisibleAsync();
        var versions = page.GetByRole(AriaRole.Navigation, new() { Name = "Versions" });
        await Expect(versions.GetByRole(AriaRole.Link)).ToHaveCountAsync(2);
        var docs = page.Locator(".wf-docs");
        await Expect(docs.GetByRole(AriaRole.Heading, new() { Name = "Steps" })).ToBeVisibleAsync();
        await Expect(docs.Locator("table code", new() { HasTextString = "publish" }).First).ToBeVisibleAsync();
        await Expect(docs.Locator("strong", new() { HasTextString = "review" })).ToHaveCountAsync(1);
        await Expect(docs).ToContainTextAsync("<script>window.__pwned = true</script>");
        await Expect(docs.Locator("a[href^='javascript']")).ToHaveCountAsync(0);
        await Expect(docs).Not.ToContainTextAsync("graph TD");
        var graph = page.Locator(".wf-docs [data-workflow-graph] svg");
        await Expect(graph.Locator(".wf-node")).ToHaveCountAsync(3);
        await Expect(graph.Locator(".wf-node.wf-kind-wait[data-step='publish']")).ToHaveCountAsync(1);
        await Expect(graph.Locator(".wf-edge[data-from='review'][data-to='publish']")).ToHaveCountAsync(1);
        await page.ShotAsync("version-2");

        await versions.GetByRole(AriaRole.Link, new() { Name = "v1" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Version 1", Level = 2 })).ToBeVisibleAsync();
        await Expect(page.Locator(".wf-meta .wf-label")).ToHaveTextAsync("stable");
        await Expect(graph.Locator(".wf-node")).ToHaveCountAsync(2);
        Assert.False(await page.EvaluateAsync<bool>("() => window.__pwned === true"));
        Assert.Equal(0, dialogs);
    }

    [Fact]
    public async Task Editor_WithoutJavaScript_SavesThroughTheForm_AndListsTheProblemsOfAFileThatIsNotValid()
    {
        await using var context = await fixture.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = fixture.Host.BaseAddress.ToString(),
            JavaScriptEnabled = false,
            ViewportSize = new ViewportSize { Width = 1280, Height = 860 },
        });
        context.SetDefaultTimeout(60_000);
        var page = await context.NewPageAsync();
        await BrowserFixture.SignInAsync(page);
        var name = "plain-" + Guid.NewGuid().ToString("N")[..6];
        await page.GotoAsync("/o/acme/workflows/_new");
        var text = page.GetByLabel("Definition (YAML)");

        await text.FillAsync(Definition(name, "[drafts]"));
        await page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("line 11, column 13");
        await Expect(page.Locator("[data-problem-list] li[data-code='unknown-need'][data-line='11']")).ToHaveCountAsync(1);
        await Expect(text).ToHaveValueAsync(Definition(name, "[drafts]"));

        await text.FillAsync(Definition(name, "[draft]"));
        await page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await page.WaitForURLAsync($"**/o/acme/workflows/{name}?version=1&saved=1");
        await Expect(page.GetByText("Saved as version 1.")).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Steps" })).ToBeVisibleAsync();
    }

    private static async Task UploadAsync(HttpClient client, string yaml)
    {
        using var content = new StringContent(yaml, Encoding.UTF8, new MediaTypeHeaderValue("application/yaml"));
        var response = await client.PostAsync("api/v1/orgs/acme/workflows", content);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }
}

public sealed class SqliteWorkflowPagesTests(SqliteSetUpBrowserFixture fixture) : WorkflowPagesTests(fixture), IClassFixture<SqliteSetUpBrowserFixture>;

public sealed class PostgresWorkflowPagesTests(PostgresSetUpBrowserFixture fixture) : WorkflowPagesTests(fixture), IClassFixture<PostgresSetUpBrowserFixture>;
