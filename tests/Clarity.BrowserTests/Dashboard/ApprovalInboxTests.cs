using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Clarity.BrowserTests.Infrastructure;
using Clarity.Client;
using Microsoft.Playwright;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Clarity.BrowserTests.Dashboard;

/// <summary>
/// Workflow approvals in the dashboard's inbox: they appear, take votes and disappear live, beside the clarifications;
/// a vote goes through the same service as the API, and its refusals show as the inbox's error message.
/// </summary>
public abstract class ApprovalInboxTests(SetUpBrowserFixture fixture)
{
    private DashboardHost Host => fixture.Host;

    [Fact]
    public async Task TwoVoteApproval_VotedFromTwoInboxes_UpdatesLiveEverywhere_AndTheRunContinues()
    {
        var (name, queue, description) = await UploadAsync(votes: 2);
        var (ann, ben) = (await AddMemberAsync("ann"), await AddMemberAsync("ben"));

        // The owner keeps the inbox open from before the run starts: the approval arrives without a reload.
        var owner = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(owner);
        await owner.GotoAsync("/o/acme/clarifications");
        await Expect(owner.GetByRole(AriaRole.Status).GetByText("No approvals are waiting for your vote")).ToBeVisibleAsync();
        var runId = await StartRunAsync(name, fixture.AgentKey);
        var ownerCard = Card(owner, description);
        await Expect(ownerCard).ToContainTextAsync("0 of 2 approvals so far");
        await Expect(ownerCard).ToContainTextAsync(name);
        await Expect(ownerCard.GetByRole(AriaRole.Link, new() { Name = "run …" + runId.ToString()[^12..] })).ToHaveAttributeAsync("href", $"/o/acme/runs/{runId}?step=approve");
        await Expect(Badge(owner, "1 pending")).ToBeVisibleAsync();
        var expires = ownerCard.Locator("time[data-relative='expires ']");
        await Expect(expires).ToContainTextAsync("expires in");
        Assert.Matches(@"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$", await expires.GetAttributeAsync("title") ?? "");

        var annPage = await SignedInInboxAsync(ann);
        var benPage = await SignedInInboxAsync(ben);
        await Expect(Card(benPage, description)).ToContainTextAsync("0 of 2 approvals so far");
        var annCard = Card(annPage, description);
        await Expect(annCard).ToContainTextAsync("0 of 2 approvals so far");
        await annPage.ShotAsync("1-approval-in-inbox");

        await annCard.GetByLabel("Comment (optional)").FillAsync("Looks right to me.");
        await annCard.GetByRole(AriaRole.Button, new() { Name = "Approve" }).ClickAsync();
        await Expect(annPage.GetByRole(AriaRole.Status).Filter(new() { HasText = "Your approval of 'approve' is recorded: 1 of 2." })).ToBeVisibleAsync();
        await Expect(Card(annPage, description)).ToHaveCountAsync(0); // Ann has voted: nothing left for her

        // Ben's and the owner's open inboxes show the vote without a reload.
        await Expect(Card(benPage, description)).ToContainTextAsync("1 of 2 approvals so far");
        await Expect(ownerCard).ToContainTextAsync("1 of 2 approvals so far");
        await benPage.ShotAsync("2-one-vote-in");

        await Card(benPage, description).GetByRole(AriaRole.Button, new() { Name = "Approve" }).ClickAsync();
        await Expect(benPage.GetByRole(AriaRole.Status).Filter(new() { HasText = "Approved: 'approve' has 2 of 2 approvals, and the run continues." })).ToBeVisibleAsync();
        await Expect(Card(benPage, description)).ToHaveCountAsync(0);
        await Expect(ownerCard).ToHaveCountAsync(0);
        await Expect(Badge(owner, "none pending")).ToBeAttachedAsync();
        await Expect(owner.GetByRole(AriaRole.Status).GetByText("No approvals are waiting for your vote")).ToBeVisibleAsync();

        // The run went on: its next step's task is claimable, and the votes kept Ann's comment.
        using var agent = new ClarityClient(Host.BaseAddress, fixture.AgentKey, "acme");
        var lease = await agent.CheckoutAsync(new CheckoutRequest("publisher-1", Queues: [queue])) ?? throw new InvalidOperationException("The run's next task was not queued.");
        Assert.Equal("Publish", lease.Task.Title);
        var step = Step(await GetRunAsync(runId), "approve");
        Assert.Equal("succeeded", step.GetProperty("status").GetString());
        var votes = step.GetProperty("approval").GetProperty("votes").EnumerateArray().ToList();
        Assert.Equal(2, votes.Count);
        Assert.Contains(votes, v => v.GetProperty("comment").ValueKind == JsonValueKind.String && v.GetProperty("comment").GetString() == "Looks right to me.");
    }

    [Fact]
    public async Task Rejection_FromTheInbox_FailsTheApproval_AndRefusedVotesShowAsErrors()
    {
        var (name, queue, description) = await UploadAsync(votes: 2);
        var (cat, dan) = (await AddMemberAsync("cat"), await AddMemberAsync("dan"));
        var runId = await StartRunAsync(name, await Host.LoginTokenAsync(cat.Email, cat.Password));

        // Cat started the run: she sees the approval, but the service refuses her approval (no self-approval).
        var catPage = await SignedInInboxAsync(cat);
        await Card(catPage, description).GetByRole(AriaRole.Button, new() { Name = "Approve" }).ClickAsync();
        await Expect(catPage.GetByRole(AriaRole.Alert)).ToContainTextAsync("You started this run, so you cannot approve it");
        await catPage.ShotAsync("1-self-approval-refused");

        // Dan's inbox stops following the stream (as a tab that missed the events would), so it keeps a stale form.
        var danPage = await SignedInInboxAsync(dan);
        await Expect(Card(danPage, description)).ToContainTextAsync("0 of 2 approvals so far");
        await danPage.EvaluateAsync("document.querySelectorAll('[hx-trigger]').forEach((el) => el.removeAttribute('hx-trigger'))");

        var catCard = Card(catPage, description);
        await catCard.GetByLabel("Comment (optional)").FillAsync("Not this week.");
        await catCard.GetByRole(AriaRole.Button, new() { Name = "Reject" }).ClickAsync();
        await Expect(catPage.GetByRole(AriaRole.Status).Filter(new() { HasText = "Rejected: 'approve' failed (1 rejection)." })).ToBeVisibleAsync();
        await Expect(Card(catPage, description)).ToHaveCountAsync(0);

        var run = await GetRunAsync(runId);
        Assert.Equal("failed", run.GetProperty("status").GetString());
        Assert.Equal("failed", Step(run, "approve").GetProperty("status").GetString());
        Assert.Equal("skipped", Step(run, "publish").GetProperty("status").GetString());
        Assert.Equal("Not this week.", Step(run, "approve").GetProperty("approval").GetProperty("votes")[0].GetProperty("comment").GetString());
        using var agent = new ClarityClient(Host.BaseAddress, fixture.AgentKey, "acme");
        Assert.Null(await agent.CheckoutAsync(new CheckoutRequest("publisher-2", Queues: [queue])));

        // Dan's stale vote is refused (409): an error message, the inbox reloaded without the approval, never a 500.
        await Card(danPage, description).GetByRole(AriaRole.Button, new() { Name = "Approve" }).ClickAsync();
        await Expect(danPage.GetByRole(AriaRole.Alert)).ToContainTextAsync("The run is failed.");
        await Expect(Card(danPage, description)).ToHaveCountAsync(0);
        await danPage.ShotAsync("2-stale-vote-refused");
    }

    [Fact]
    public async Task VoteFormAction_RefusesWhatTheServiceRefuses_WithAReasonOnTheInbox_AndChangesNothing()
    {
        var (name, _, description) = await UploadAsync(votes: 1);
        var runId = await StartRunAsync(name, fixture.AgentKey);
        var viewer = new Person($"vera-{Guid.NewGuid():N}@acme.example", "vera-password-123");
        await Host.AddPersonAsync("acme", viewer.Email, viewer.Password, "viewer");
        var eve = await AddMemberAsync("eve");

        // The approval wants members: a viewer (who may read runs) does not see it, and a vote posted anyway is refused.
        var viewerPage = await SignedInInboxAsync(viewer);
        await Expect(viewerPage.GetByRole(AriaRole.Status).GetByText("No approvals are waiting for your vote")).ToBeVisibleAsync();
        var vote = $"/o/acme/approvals/{runId}/approve/vote";
        Assert.Contains("Votes on this approval come from people holding", await PostFormAsync(viewerPage, vote, ("decision", "approve")), StringComparison.Ordinal);

        var evePage = await SignedInInboxAsync(eve);
        await Expect(Card(evePage, description)).ToContainTextAsync("0 of 1 approval so far");

        // On a phone the approval and its buttons fit the screen.
        var phone = await fixture.NewPageAsync(width: 360, height: 740, touch: true);
        await BrowserFixture.SignInAsync(phone, eve.Email, eve.Password);
        await phone.GotoAsync("/o/acme/clarifications");
        await Expect(Card(phone, description).GetByRole(AriaRole.Button, new() { Name = "Reject" })).ToBeInViewportAsync();
        Assert.True(await phone.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"));
        await phone.ShotAsync("approval-on-a-phone", fullPage: false);
        await phone.Context.CloseAsync();

        // Bad input, or a run or step that is not there: the service's reason, back on the inbox.
        (string Path, (string, string)[] Fields, string Says)[] refused =
        [
            (vote, [("decision", "maybe")], "decision: must be"),
            (vote, [("decision", "approve"), ("comment", new string('x', 2001))], "comment:"),
            ($"/o/acme/approvals/{Guid.NewGuid()}/approve/vote", [("decision", "approve")], "Run was not found."),
            ($"/o/acme/approvals/{runId}/no-such-step/vote", [("decision", "approve")], "not found"),
        ];
        foreach (var (path, fields, says) in refused)
        {
            var html = await PostFormAsync(evePage, path, fields);
            Assert.Contains(says, html, StringComparison.Ordinal);
            Assert.Contains("alert-error", html, StringComparison.Ordinal);
        }

        // Without the antiforgery token nothing happens either.
        var noToken = await evePage.APIRequest.PostAsync(vote, new() { Form = FormOf(evePage, [("decision", "approve")]) });
        Assert.Equal(200, noToken.Status);
        Assert.Contains("The form expired", await noToken.TextAsync(), StringComparison.Ordinal);

        var step = Step(await GetRunAsync(runId), "approve");
        Assert.Equal("waiting", step.GetProperty("status").GetString());
        Assert.Equal(0, step.GetProperty("approval").GetProperty("votes").GetArrayLength());

        // Cancelled over the API, the run's approval leaves Eve's open inbox without a reload.
        await Expect(Card(evePage, description)).ToHaveCountAsync(1);
        using var agent = Host.CreateClient(fixture.AgentKey);
        (await agent.PostAsync($"api/v1/orgs/acme/runs/{runId}/cancel", null)).EnsureSuccessStatusCode();
        await Expect(Card(evePage, description)).ToHaveCountAsync(0);
    }

    /// <summary>Posts a form as the page's signed-in person (its cookies, its antiforgery token) and returns the page it lands on.</summary>
    private static async Task<string> PostFormAsync(IPage page, string path, params (string Name, string Value)[] fields)
    {
        var token = await page.Locator("meta[name=csrf-token]").GetAttributeAsync("content") ?? throw new InvalidOperationException("The page has no csrf-token meta.");
        var response = await page.APIRequest.PostAsync(path, new() { Form = FormOf(page, fields), Headers = new Dictionary<string, string> { ["RequestVerificationToken"] = token } });
        Assert.Equal(200, response.Status); // redirected back to the inbox, never a 500
        Assert.EndsWith("/o/acme/clarifications", new Uri(response.Url).AbsolutePath, StringComparison.Ordinal);
        return await response.TextAsync();
    }

    private static IFormData FormOf(IPage page, (string Name, string Value)[] fields)
    {
        var form = page.APIRequest.CreateFormData();
        foreach (var (name, value) in fields)
        {
            form.Set(name, value);
        }

        return form;
    }

    private static ILocator Card(IPage page, string description) =>
        page.GetByRole(AriaRole.List, new() { Name = "Pending approvals" }).GetByRole(AriaRole.Listitem)
            .Filter(new() { Has = page.GetByRole(AriaRole.Heading, new() { Name = description }) });

    private static ILocator Badge(IPage page, string name) =>
        page.GetByRole(AriaRole.Navigation, new() { Name = "Main" }).GetByRole(AriaRole.Status, new() { Name = name, Exact = true });

    private static JsonElement Step(JsonElement run, string id) =>
        run.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("id").GetString() == id);

    /// <summary>A workflow of an approval step (members vote) and the task step that needs it.</summary>
    private async Task<(string Name, string Queue, string Description)> UploadAsync(int votes)
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var (name, queue, description) = ($"release-{suffix}", $"publish-{suffix}", $"Sign off release {suffix}");
        var yaml = $$"""
            name: {{name}}
            steps:
              - { id: approve, kind: approval, votes: {{votes}}, from: member, description: {{description}}, expiresInSeconds: 3600 }
              - { id: publish, kind: task, queue: {{queue}}, title: Publish, needs: [approve] }
            """;
        using var owner = Host.CreateClient(await Host.LoginTokenAsync());
        var response = await owner.PostAsync("api/v1/orgs/acme/workflows", new StringContent(yaml, Encoding.UTF8, new MediaTypeHeaderValue("application/yaml")));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (name, queue, description);
    }

    private async Task<Guid> StartRunAsync(string name, string bearer)
    {
        using var client = Host.CreateClient(bearer);
        var response = await client.PostAsJsonAsync($"api/v1/orgs/acme/workflows/{name}/runs", new { input = new { } });
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
    }

    private async Task<JsonElement> GetRunAsync(Guid runId)
    {
        using var client = Host.CreateClient(fixture.AgentKey);
        return await client.GetFromJsonAsync<JsonElement>($"api/v1/orgs/acme/runs/{runId}");
    }

    private async Task<Person> AddMemberAsync(string who)
    {
        var person = new Person($"{who}-{Guid.NewGuid():N}@acme.example", $"{who}-password-123");
        await Host.AddPersonAsync("acme", person.Email, person.Password, "member");
        return person;
    }

    private async Task<IPage> SignedInInboxAsync(Person person)
    {
        var page = await fixture.NewPageAsync();
        await BrowserFixture.SignInAsync(page, person.Email, person.Password);
        await page.GotoAsync("/o/acme/clarifications");
        return page;
    }

    private sealed record Person(string Email, string Password);
}

public sealed class SqliteApprovalInboxTests(SqliteSetUpBrowserFixture fixture) : ApprovalInboxTests(fixture), IClassFixture<SqliteSetUpBrowserFixture>;

public sealed class PostgresApprovalInboxTests(PostgresSetUpBrowserFixture fixture) : ApprovalInboxTests(fixture), IClassFixture<PostgresSetUpBrowserFixture>;
