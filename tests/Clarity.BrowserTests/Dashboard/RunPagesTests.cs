using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Clarity.BrowserTests.Infrastructure;
using Microsoft.Playwright;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Clarity.BrowserTests.Dashboard;

/// <summary>
/// The run pages: the run page's graph following the run live, the debugger stepped through from the page, and the
/// controls shown only to those who may use them.
/// </summary>
public abstract class RunPagesTests(SetUpBrowserFixture fixture)
{
    private const string ViewerEmail = "runs-viewer@acme.example";
    private const string ViewerPassword = "runs-viewer-password-1";

    private static string Definition(string name, string queue) => $$$"""
        name: {{{name}}}
        description: Draft, then review.
        inputs:
          topic: { type: string, default: otters }
        steps:
          - id: draft
            kind: task
            queue: {{{queue}}}-draft
            title: "Draft ${{ inputs.topic }}"
            input: { topic: "${{ inputs.topic }}" }
          - id: review
            kind: task
            queue: {{{queue}}}-review
            needs: [draft]
            title: Review
            input: { text: "${{ steps.draft.output.text }}" }
        """;

    [Fact]
    public async Task RunPage_FollowsTheRunLive_TheFinishedStepTurnsSucceeded_AndTheNextTurnsRunning_WithoutAReload()
    {
        var (name, queue) = await UploadAsync();
        var runId = await StartAsync(name, debug: false);
        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync($"/o/acme/runs/{runId}");

        var draft = Node(page, "draft");
        var review = Node(page, "review");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = $"Run of {name} v1", Level = 1 })).ToBeVisibleAsync();
        await Expect(draft).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("wf-status-running"));
        await Expect(review).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("wf-status-pending"));
        await page.EvaluateAsync("() => window.__sameDocument = true");
        await page.ShotAsync("running");

        await CompleteAsync(queue + "-draft", new { text = "otters swim" });

        await Expect(draft).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("wf-status-succeeded"));
        await Expect(review).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("wf-status-running"));
        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"), "the page reloaded");

        // A click on a node shows that step: its input and a link to its task (with the logs).
        await review.ClickAsync();
        var panel = page.Locator(".run-panel");
        await Expect(panel.GetByRole(AriaRole.Heading, new() { Name = "Step review" })).ToBeVisibleAsync();
        await Expect(panel.Locator("[data-step-input]")).ToContainTextAsync("otters swim");
        await Expect(panel.GetByRole(AriaRole.Link, new() { Name = "Open its task and logs" })).ToHaveAttributeAsync("href", new System.Text.RegularExpressions.Regex("/o/acme/tasks/[0-9a-f-]{36}$"));
        await page.ShotAsync("review-chosen");

        await CompleteAsync(queue + "-review", new { verdict = "fine" });
        await Expect(page.Locator("#run-status")).ToHaveTextAsync("Succeeded");
        await Expect(review).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("wf-status-succeeded"));
        await Expect(page.Locator(".run-profile tr[data-step='draft']")).ToContainTextAsync("★");
        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"), "the page reloaded");
    }

    [Fact]
    public async Task DebugRun_StartedFromTheWorkflowPage_IsSteppedThrough_StepThenContinue_AndFinishes()
    {
        var (name, queue) = await UploadAsync();
        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync($"/o/acme/workflows/{name}");
        await page.GetByRole(AriaRole.Link, new() { Name = "Start run" }).ClickAsync();
        await Expect(page.GetByLabel("Inputs (JSON object)")).ToHaveValueAsync(new System.Text.RegularExpressions.Regex("\"topic\": \"otters\""));
        await page.GetByLabel("Inputs (JSON object)").FillAsync("{\"topic\": \"herons\"}");
        await page.GetByLabel(new System.Text.RegularExpressions.Regex("^Debug")).CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Start run" }).ClickAsync();
        await page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/o/acme/runs/[0-9a-f-]{36}$"));

        // The first step is held before dispatch, with its resolved input.
        var panel = page.Locator(".run-panel");
        var draft = Node(page, "draft");
        var review = Node(page, "review");
        await Expect(draft).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("wf-held"));
        await Expect(panel.GetByRole(AriaRole.Heading, new() { Name = "Step draft" })).ToBeVisibleAsync();
        await Expect(panel.GetByRole(AriaRole.Heading, new() { Name = "Resolved input" })).ToBeVisibleAsync();
        await Expect(panel.Locator("[data-step-input]")).ToContainTextAsync("herons");
        await page.ShotAsync("held");

        await panel.GetByRole(AriaRole.Button, new() { Name = "Step", Exact = true }).ClickAsync();
        await Expect(page.GetByText("Step draft dispatched.")).ToBeVisibleAsync();
        await Expect(draft).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("wf-status-running"));
        await page.EvaluateAsync("() => window.__sameDocument = true");

        await CompleteAsync(queue + "-draft", new { text = "herons wade" });

        // The next step is held in turn, live.
        await Expect(draft).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("wf-status-succeeded"));
        await Expect(review).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("wf-held"));
        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"), "the page reloaded");
        await review.ClickAsync();
        await Expect(panel.GetByRole(AriaRole.Heading, new() { Name = "Step review" })).ToBeVisibleAsync();
        await Expect(panel.Locator("[data-held]")).ToBeVisibleAsync();
        await Expect(panel.Locator("[data-step-input]")).ToContainTextAsync("herons wade");
        await page.ShotAsync("next-held");

        await page.GetByRole(AriaRole.Button, new() { Name = "Continue" }).ClickAsync();
        await Expect(page.GetByText("Continued:")).ToBeVisibleAsync();
        await Expect(review).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("wf-status-running"));
        await CompleteAsync(queue + "-review", new { verdict = "fine" });
        await Expect(page.Locator("#run-status")).ToHaveTextAsync("Succeeded");
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Continue" })).ToHaveCountAsync(0);
        await page.ShotAsync("finished");
    }

    [Fact]
    public async Task Viewer_SeesTheRunAndItsGraph_ButNoControls()
    {
        var (name, _) = await UploadAsync();
        var runId = await StartAsync(name, debug: true);
        await fixture.Host.AddPersonAsync("acme", ViewerEmail, ViewerPassword, "viewer");
        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page, ViewerEmail, ViewerPassword);

        await page.GotoAsync($"/o/acme/runs/{runId}");
        await Expect(Node(page, "draft")).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("wf-held"));
        await Expect(page.Locator(".run-panel [data-step-input]")).ToContainTextAsync("otters");
        foreach (var control in new[] { "Pause", "Resume", "Cancel run", "Continue", "Step", "Retry", "Skip step", "Send signal" })
        {
            await Expect(page.GetByRole(AriaRole.Button, new() { Name = control, Exact = true })).ToHaveCountAsync(0);
        }

        await page.ShotAsync("viewer");
        await page.GotoAsync($"/o/acme/workflows/{name}");
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "Runs", Exact = true }).First).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "Start run" })).ToHaveCountAsync(0);
    }

    private static ILocator Node(IPage page, string step) => page.Locator($"[data-run-graph] svg .wf-node[data-step='{step}']");

    private async Task<(string Name, string Queue)> UploadAsync()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var (name, queue) = ("run-" + suffix, "q" + suffix);
        using var owner = fixture.Host.CreateClient(await fixture.Host.LoginTokenAsync());
        using var content = new StringContent(Definition(name, queue), Encoding.UTF8, new MediaTypeHeaderValue("application/yaml"));
        var response = await owner.PostAsync("api/v1/orgs/acme/workflows", content);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (name, queue);
    }

    private async Task<string> StartAsync(string name, bool debug)
    {
        using var agent = fixture.Host.CreateClient(fixture.AgentKey);
        var response = await agent.PostAsJsonAsync($"api/v1/orgs/acme/workflows/{name}/runs", new { input = new { }, debug });
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    /// <summary>Checks out the queue's task as an agent and completes it with the output.</summary>
    private async Task CompleteAsync(string queue, object output)
    {
        using var agent = fixture.Host.CreateClient(fixture.AgentKey);
        var checkout = await agent.PostAsJsonAsync("api/v1/orgs/acme/work/checkout", new { agent = "runner-" + queue, queues = new[] { queue }, leaseSeconds = 600 });
        Assert.True(checkout.StatusCode == System.Net.HttpStatusCode.OK, $"checkout of {queue}: {checkout.StatusCode} {await checkout.Content.ReadAsStringAsync()}");
        var lease = await checkout.Content.ReadFromJsonAsync<JsonElement>();
        var taskId = lease.GetProperty("task").GetProperty("id").GetString();
        var done = await agent.PostAsJsonAsync($"api/v1/orgs/acme/tasks/{taskId}/complete", new { leaseToken = lease.GetProperty("leaseToken").GetString(), output });
        Assert.True(done.IsSuccessStatusCode, await done.Content.ReadAsStringAsync());
    }
}

public sealed class SqliteRunPagesTests(SqliteSetUpBrowserFixture fixture) : RunPagesTests(fixture), IClassFixture<SqliteSetUpBrowserFixture>;

public sealed class PostgresRunPagesTests(PostgresSetUpBrowserFixture fixture) : RunPagesTests(fixture), IClassFixture<PostgresSetUpBrowserFixture>;
