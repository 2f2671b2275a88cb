using Clarity.BrowserTests.Infrastructure;
using Clarity.Client;
using Microsoft.Playwright;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Clarity.BrowserTests.Dashboard;

public abstract class ClarificationInboxTests(SetUpBrowserFixture fixture)
{
    [Fact]
    public async Task QuestionAskedByAnAgent_AnsweredWithOneClick_ReturnsTheAnswerToTheAgentsLongPoll()
    {
        using var agent = new ClarityClient(fixture.Host.BaseAddress, fixture.AgentKey, "acme");
        await agent.CreateTaskAsync(new CreateTaskRequest("inbox", "Refactor the billing module"));
        var lease = await agent.CheckoutAsync(new CheckoutRequest("coder-1", Queues: ["inbox"])) ?? throw new InvalidOperationException("No task to check out.");

        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync("/o/acme/clarifications");
        await Expect(page.GetByRole(AriaRole.Status).GetByText("No questions are waiting")).ToBeVisibleAsync();

        // The agent asks while the inbox is open: the list and the nav badge update without a reload (SSE).
        var question = await agent.CreateClarificationAsync(lease.Task.Id, new CreateClarificationRequest(
            lease.LeaseToken, "Which database should the billing module use?", 1800, Options: ["PostgreSQL", "SQLite"]));
        var heading = page.GetByRole(AriaRole.Heading, new() { Name = "Which database should the billing module use?" });
        await Expect(heading).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Navigation, new() { Name = "Main" }).GetByRole(AriaRole.Status, new() { Name = "1 pending" })).ToBeVisibleAsync();
        await Expect(page.GetByText("Refactor the billing module")).ToBeVisibleAsync();
        var expires = page.Locator("time[data-relative='expires ']");
        await Expect(expires).ToContainTextAsync("expires in");
        Assert.Matches(@"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$", await expires.GetAttributeAsync("title") ?? "");
        await page.ShotAsync("1-question-in-inbox");

        // The same question on a phone: the options and the answer box fit the screen.
        var phone = await fixture.NewPageAsync(width: 360, height: 740, touch: true);
        await BrowserFixture.SignInAsync(phone);
        await phone.GotoAsync("/o/acme/clarifications");
        await Expect(phone.GetByRole(AriaRole.Button, new() { Name = "SQLite" })).ToBeInViewportAsync();
        await Expect(phone.GetByRole(AriaRole.Button, new() { Name = "Menu", Exact = true }).Locator(".badge")).ToHaveTextAsync("1"); // seen without opening the drawer
        Assert.True(await phone.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"));
        await phone.ShotAsync("1-question-on-a-phone", fullPage: false);
        await phone.Context.CloseAsync();

        // The agent long-polls for the answer, as the API documents (GET …/clarifications/{id}?waitSeconds=60).
        var waiting = agent.GetClarificationAsync(question.Id, waitSeconds: 60);
        Assert.False(waiting.IsCompleted);

        await page.GetByRole(AriaRole.Button, new() { Name = "PostgreSQL" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "Answered: PostgreSQL" })).ToBeVisibleAsync();
        await Expect(heading).ToHaveCountAsync(0);
        await page.ShotAsync("2-answered");

        var answered = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(ClarificationStatuses.Answered, answered.Status);
        Assert.Equal("PostgreSQL", answered.Answer);
        Assert.Equal(TaskStatuses.Running, (await agent.GetTaskAsync(lease.Task.Id)).Status);
    }

    [Fact]
    public async Task FreeTextAnswer_IsDelivered_AndTheOrgsOtherPagesRender()
    {
        using var agent = new ClarityClient(fixture.Host.BaseAddress, fixture.AgentKey, "acme");
        await agent.CreateTaskAsync(new CreateTaskRequest("free-text", "Write the release notes"));
        var lease = await agent.CheckoutAsync(new CheckoutRequest("writer-1", Queues: ["free-text"])) ?? throw new InvalidOperationException("No task to check out.");
        var question = await agent.CreateClarificationAsync(lease.Task.Id, new CreateClarificationRequest(lease.LeaseToken, "What tone should the <release> notes take?", 1800));

        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page);
        await page.GotoAsync("/o/acme/clarifications");
        var card = page.GetByRole(AriaRole.Listitem).Filter(new() { Has = page.GetByRole(AriaRole.Heading, new() { Name = "What tone should the <release> notes take?" }) });
        await card.GetByLabel("Your answer").FillAsync("Friendly, & short.");
        await card.GetByRole(AriaRole.Button, new() { Name = "Send answer" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Status).Filter(new() { HasText = "Answered: Friendly, & short." })).ToBeVisibleAsync();
        Assert.Equal("Friendly, & short.", (await agent.GetClarificationAsync(question.Id)).Answer);

        // The agent page shows the agent, busy with its task.
        await page.GotoAsync("/o/acme/agents");
        var row = page.GetByRole(AriaRole.Row).Filter(new() { HasText = "writer-1" });
        await Expect(row).ToContainTextAsync("busy");
        await Expect(row.GetByRole(AriaRole.Link)).ToHaveAttributeAsync("href", $"/o/acme/tasks/{lease.Task.Id}");
        await page.ShotAsync("agents");

        // Search finds the line, highlights the match and escapes the rest.
        await agent.AppendLogsAsync(lease.Task.Id, [new LogLine("compiling <b>module</b> quasar-drive now")]);
        await page.GotoAsync("/o/acme/search");
        await page.GetByRole(AriaRole.Searchbox).FillAsync("quasar");
        await page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
        var hit = page.Locator("ol.hits li").First;
        await Expect(hit.Locator("mark")).ToHaveTextAsync("quasar");
        await Expect(hit).ToContainTextAsync("compiling <b>module</b>");
        Assert.Equal(0, await hit.Locator("b").CountAsync());
        await Expect(hit.GetByRole(AriaRole.Link)).ToHaveAttributeAsync("href", $"/o/acme/tasks/{lease.Task.Id}#seq-1");
        await page.ShotAsync("search");
    }
}

public sealed class SqliteClarificationInboxTests(SqliteSetUpBrowserFixture fixture) : ClarificationInboxTests(fixture), IClassFixture<SqliteSetUpBrowserFixture>;

public sealed class PostgresClarificationInboxTests(PostgresSetUpBrowserFixture fixture) : ClarificationInboxTests(fixture), IClassFixture<PostgresSetUpBrowserFixture>;
