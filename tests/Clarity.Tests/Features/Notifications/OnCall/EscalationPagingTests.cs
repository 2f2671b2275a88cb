using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Clarity.Features.Notifications;
using Clarity.Features.Notifications.Email;
using Clarity.Features.Notifications.OnCall;
using Clarity.Storage;
using Clarity.Tests.Features.Notifications.Email;
using Clarity.Tests.Features.Notifications.Slack;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using MimeKit;
using Xunit;

namespace Clarity.Tests.Features.Notifications.OnCall;

/// <summary>
/// A host that pages for real: email through a loopback SMTP server, Slack through the stand-in (bot token and signing
/// secret), links at <see cref="PublicUrl"/>, and the on-call engine on a fake clock.
/// </summary>
public abstract class EscalationPagingFixture(Backend backend) : IAsyncLifetime
{
    public const string PublicUrl = "https://clarity.example.test";

    public SmtpSink Sink { get; private set; } = null!;

    public SlackStandIn Slack { get; private set; } = null!;

    public ClarityHost Host { get; private set; } = null!;

    public OrgSession Org { get; private set; } = null!;

    public OrgSession OtherOrg { get; private set; } = null!;

    public FakeTimeProvider Clock { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Sink = await SmtpSink.StartAsync();
        Slack = await SlackStandIn.StartAsync();
        var settings = Sink.Settings(PublicUrl);
        settings["Clarity:Slack:BotToken"] = Slack.BotToken;
        settings["Clarity:Slack:SigningSecret"] = Slack.SigningSecret;
        settings["Clarity:Slack:ApiBaseUrl"] = Slack.ApiBaseUrl;
        Host = await ClarityHost.StartAsync(backend, settings);
        Org = await Host.SetupAsync("acme");
        OtherOrg = await Host.CreateOrgAsync(Org, "other");
        Clock = Host.UseFakeClock(new FakeTimeProvider(DateTimeOffset.UtcNow));
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        await Slack.DisposeAsync();
        await Sink.DisposeAsync();
    }
}

public sealed class SqliteEscalationPagingFixture() : EscalationPagingFixture(Backend.Sqlite);

public sealed class PostgresEscalationPagingFixture() : EscalationPagingFixture(Backend.Postgres);

/// <summary>
/// Issue 12's on-call escalation end to end: a rule with a policy fires when an agent asks; the level-1 person gets the
/// page by email (with a one-time Acknowledge link) and as a Slack DM (with an Acknowledge button); the fake clock moves
/// past the delay and level 2 is paged; acknowledging by the email link, the Slack button or answering the question stops
/// it; one correlation id links it all. No test sleeps on the clock: it is advanced and the sweep is run.
/// </summary>
public abstract partial class EscalationPagingTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : EscalationPagingFixture
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    private SlackStandIn Slack => fixture.Slack;

    [GeneratedRegex(@"https://clarity\.example\.test/ack/[A-Za-z0-9_-]{43}")]
    private static partial Regex AckLink();

    [Fact]
    public async Task AgentAsks_Level1GetsThePageByEmailAndSlack_Level2AfterTheDelay_AndTheEmailLinkAcknowledges_SoLevel3IsNeverPaged()
    {
        var (queue, people, _) = await RuleWithPolicyAsync(3);
        var (ann, bob, cat) = (people[0], people[1], people[2]);
        var annSlack = Slack.AddUser(ann.Email);
        var (_, question) = await AskAsync(queue, "Deploy to production?", ["yes", "no"]);

        var escalation = await EscalationOfAsync(question);
        var pageMail = await PageMailAsync(ann.Email, 1);
        Assert.Contains("PAGE", pageMail.Subject, StringComparison.Ordinal);
        Assert.Contains("Deploy to production?", pageMail.Subject, StringComparison.Ordinal);
        Assert.Equal("escalation.page", pageMail.Headers["X-Clarity-Event"]);
        Assert.Equal(escalation.Str("correlationId"), pageMail.Headers["X-Clarity-Correlation-Id"]);
        var ack = AckLink().Match(pageMail.TextBody ?? "");
        Assert.True(ack.Success, pageMail.TextBody);
        Assert.Contains(ack.Value, WebUtility.HtmlDecode(pageMail.HtmlBody), StringComparison.Ordinal);
        Assert.Contains(fixture.Host.Server.Options.PublicUrl + "/answer/", pageMail.TextBody, StringComparison.Ordinal);

        // The Slack DM, with its Acknowledge button.
        var dm = await SlackPageAsync(annSlack, 1);
        Assert.Contains(dm.Buttons, b => (string?)b["text"]!["text"] == "Acknowledge");
        Assert.Contains("Deploy to production?", dm.AllText, StringComparison.Ordinal);

        // Level 1's delay runs out: level 2 is paged, not level 3.
        fixture.Clock.Advance(TimeSpan.FromMinutes(5));
        await Host.SweepEscalationsAsync();
        await PageMailAsync(bob.Email, 1);

        using var browser = Host.CreateClient();
        var form = await PageAsync(browser.GetAsync(PathOf(ack.Value)), HttpStatusCode.OK);
        Assert.Contains("Acknowledge", form, StringComparison.Ordinal);
        Assert.Equal("open", (await EscalationAsync(escalation)).Str("status"));
        var done = await PageAsync(browser.PostAsync(PathOf(ack.Value), new FormUrlEncodedContent([])), HttpStatusCode.OK);
        Assert.Contains("acknowledged", done, StringComparison.OrdinalIgnoreCase);

        fixture.Clock.Advance(TimeSpan.FromMinutes(10));
        await Host.SweepEscalationsAsync();
        var after = await EscalationAsync(escalation);
        Assert.Equal(("acknowledged", "email", ann.UserId.ToString()), (after.Str("status"), after.Str("acknowledgedVia"), after.Str("acknowledgedBy")));
        Assert.Equal(["notified", "notified", "acknowledged"], after.Timeline().Select(e => e.Str("kind")));
        Assert.Contains("via email", after.Timeline()[2].Str("detail"), StringComparison.Ordinal);
        Assert.Empty(await PageDeliveriesAsync(cat.Email));

        // The reused link shows who acknowledged and changes nothing.
        var reused = await PageAsync(browser.PostAsync(PathOf(ack.Value), new FormUrlEncodedContent([])), HttpStatusCode.Conflict);
        Assert.Contains("already acknowledged", reused, StringComparison.Ordinal);
        Assert.Contains(ann.Email, reused, StringComparison.Ordinal);
        Assert.Equal(after.Str("acknowledgedAt"), (await EscalationAsync(escalation)).Str("acknowledgedAt"));

        // One correlation id: every step's outbox event, and every page delivery's mail.
        var events = await Host.EscalationEventsAsync(Guid.Parse(escalation.Str("id")));
        Assert.All(events, e => Assert.Equal((escalation.Str("correlationId"), escalation.Str("correlationId")), (e.RowCorrelation, e.Linked)));
        Assert.Equal(escalation.Str("correlationId"), (await PageMailAsync(bob.Email, 1)).Headers["X-Clarity-Correlation-Id"]);
    }

    [Fact]
    public async Task AnEscalationThatCannotStart_IsSkipped_AndTheFanOutGoesOn_WithItsDeliveriesAndTheEscalationsBehindIt()
    {
        // A policy whose stored levels no longer read (changed outside the API): starting an escalation on it throws.
        var team = Work.Unique("team") + "@example.org";
        var (poisonedQueue, _, policy) = await RuleWithPolicyAsync(1, team);
        var db = Host.Services.GetRequiredService<Database>();
        string levels;
        await using (var c = await db.OpenReadAsync())
        {
            levels = await c.QuerySingleAsync<string>("SELECT levels FROM escalation_policies WHERE id = @id", new { id = Guid.Parse(policy) });
        }

        await db.WriteAsync((c, t) => c.ExecuteAsync("UPDATE escalation_policies SET levels = 'not json' WHERE id = @id", new { id = Guid.Parse(policy) }, t));
        try
        {
            var (_, poisoned) = await AskAsync(poisonedQueue, "Behind a broken policy?", null);
            var (queue, people, _) = await RuleWithPolicyAsync(1);
            var (_, healthy) = await AskAsync(queue, "Behind the broken one?", null);

            // The escalation behind it starts and pages; the broken one is skipped, and its rule's email delivery is still written.
            Assert.Equal("open", (await EscalationOfAsync(healthy)).Str("status"));
            await PageMailAsync(people[0].Email, 1);
            using var owner = Host.CreateClient(Org.OwnerToken);
            Assert.Empty((await owner.GetAsync(Org.Api($"escalations?subject={poisoned}")).ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray());
            var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
            while (!(await PageDeliveriesAsync(team, "clarification.asked")).Any(d => d.Str("channel") == "email"))
            {
                Assert.True(DateTimeOffset.UtcNow < deadline, "The broken policy's rule never got its email delivery.");
                await Task.Delay(100);
            }
        }
        finally
        {
            await db.WriteAsync((c, t) => c.ExecuteAsync("UPDATE escalation_policies SET levels = @levels WHERE id = @id", new { levels, id = Guid.Parse(policy) }, t));
        }
    }

    [Fact]
    public async Task AckLinks_OfEscalationsClosedOverAWeekAgo_ArePruned_WhileLinksOfOpenOrRecentlyClosedOnesStay()
    {
        var (queue, people, _) = await RuleWithPolicyAsync(2);
        var ann = people[0];
        var (_, first) = await AskAsync(queue, "Acknowledged, then a week passes?", null);
        await EscalationOfAsync(first);
        var closedLink = AckLink().Match((await PageMailAsync(ann.Email, 1)).TextBody ?? "").Value;
        var (_, second) = await AskAsync(queue, "Still open a week later?", null);
        await EscalationOfAsync(second);
        var openLink = AckLink().Match((await PageMailAsync(ann.Email, 2)).TextBody ?? "").Value;
        Assert.NotEqual(closedLink, openLink);

        using var browser = Host.CreateClient();
        await PageAsync(browser.PostAsync(PathOf(closedLink), new FormUrlEncodedContent([])), HttpStatusCode.OK);

        // Six days after it closed, the spent link still says who acknowledged.
        var closedAt = fixture.Clock.GetUtcNow();
        await SweepLinksAtAsync(closedAt + TimeSpan.FromDays(6));
        Assert.Contains("already acknowledged", await PageAsync(browser.GetAsync(PathOf(closedLink)), HttpStatusCode.OK), StringComparison.Ordinal);

        // Over a week after: it is gone; the open escalation's link still acknowledges.
        Assert.True(await SweepLinksAtAsync(closedAt + TimeSpan.FromDays(8)) >= 1);
        await PageAsync(browser.GetAsync(PathOf(closedLink)), HttpStatusCode.NotFound);
        Assert.Contains("Acknowledge", await PageAsync(browser.GetAsync(PathOf(openLink)), HttpStatusCode.OK), StringComparison.Ordinal);
    }

    /// <summary>Runs the mail-link sweep as if the on-call clock read <paramref name="now"/> (a fresh sweep: the hourly limit is the leader's).</summary>
    private Task<int> SweepLinksAtAsync(DateTimeOffset now) =>
        new EmailLinkSweep(
            Host.Services.GetRequiredService<EmailAnswerLinkStore>(),
            Host.Services.GetRequiredService<EscalationAckLinkStore>(),
            new OnCallClock(new FakeTimeProvider(now)),
            TimeProvider.System).SweepAsync(now, CancellationToken.None);

    [Fact]
    public async Task SlackAcknowledgeButton_AcknowledgesViaSlack_UpdatesTheMessage_AndStopsTheEscalation()
    {
        var (queue, people, _) = await RuleWithPolicyAsync(2);
        var annSlack = Slack.AddUser(people[0].Email);
        var (_, question) = await AskAsync(queue, "Roll back?", null);
        var escalation = await EscalationOfAsync(question);
        var dm = await SlackPageAsync(annSlack, 1);

        var (response, responseUrl) = await Slack.ClickAsync(Host.BaseAddress, dm, "Acknowledge", annSlack);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("acknowledged", (string?)Assert.Single(await Slack.RepliesToAsync(responseUrl))["text"], StringComparison.Ordinal);
        Assert.Empty(dm.Buttons);
        Assert.Contains($"Acknowledged by {people[0].Email} via slack", dm.AllText, StringComparison.Ordinal);

        fixture.Clock.Advance(TimeSpan.FromMinutes(10));
        await Host.SweepEscalationsAsync();
        var after = await EscalationAsync(escalation);
        Assert.Equal(("acknowledged", "slack"), (after.Str("status"), after.Str("acknowledgedVia")));
        Assert.Equal(["notified", "acknowledged"], after.Timeline().Select(e => e.Str("kind")));
        Assert.Empty(await PageDeliveriesAsync(people[1].Email));
    }

    [Fact]
    public async Task SlackAcknowledge_ByAnUnmappedSlackUser_RepliesHowToLinkTheAccount_AndRecordsNothing()
    {
        var (queue, people, _) = await RuleWithPolicyAsync(2);
        var annSlack = Slack.AddUser(people[0].Email);
        var (_, question) = await AskAsync(queue, "Unmapped?", null);
        var escalation = await EscalationOfAsync(question);
        var dm = await SlackPageAsync(annSlack, 1);
        var stranger = Slack.AddUser("nobody-" + Guid.NewGuid().ToString("N") + "@example.org");

        var (response, responseUrl) = await Slack.ClickAsync(Host.BaseAddress, dm, "Acknowledge", stranger);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("not linked", (string?)Assert.Single(await Slack.RepliesToAsync(responseUrl))["text"], StringComparison.Ordinal);
        Assert.Equal("open", (await EscalationAsync(escalation)).Str("status"));
        Assert.NotEmpty(dm.Buttons);
    }

    [Fact]
    public async Task DecidingTheApproval_ResolvesItsEscalation_AndNoFurtherLevelIsPaged()
    {
        var people = new[] { await Host.AddPersonAsync(Org, "member"), await Host.AddPersonAsync(Org, "member") };
        var workflow = Work.Unique("wf").ToLowerInvariant();
        using var owner = Host.CreateClient(Org.OwnerToken);
        await EscalatingRuleAsync(owner, people, "approval.pending", new { workflows = new[] { workflow } });
        var yaml = $"name: {workflow}\nsteps:\n  - {{ id: approve, kind: approval, votes: 1, from: tasks:respond }}\n";
        var uploaded = await owner.PostAsync(Org.Api("workflows"), new StringContent(yaml, System.Text.Encoding.UTF8, new System.Net.Http.Headers.MediaTypeHeaderValue("application/yaml")));
        Assert.True(uploaded.IsSuccessStatusCode, await uploaded.Content.ReadAsStringAsync());
        using var agent = Host.CreateClient(Org.MemberKey);
        var run = (await agent.PostAsJsonAsync(Org.Api($"workflows/{workflow}/runs"), new { input = new { } }).ExpectAsync(HttpStatusCode.Created)).Str("id");

        var escalation = await EscalationOfAsync(EscalationSubjects.ApprovalStep(Guid.Parse(run), "approve").ToString());
        Assert.Equal("approval", escalation.Str("subject"));
        await PageMailAsync(people[0].Email, 1);

        using var voter = Host.CreateClient(people[0].Token);
        await voter.PostAsJsonAsync(Org.Api($"runs/{run}/steps/approve/votes"), new { decision = "approve" }).ExpectAsync(HttpStatusCode.OK);
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        while ((await EscalationAsync(escalation)).Str("status") != "resolved")
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, "The decided approval never resolved its escalation");
            await Task.Delay(100);
        }

        fixture.Clock.Advance(TimeSpan.FromMinutes(10));
        await Host.SweepEscalationsAsync();
        var after = await EscalationAsync(escalation);
        Assert.Equal("resolved", after.Str("status"));
        Assert.Equal(["notified", "answered"], after.Timeline().Select(e => e.Str("kind")));
        Assert.Equal("approval approved", after.Timeline()[1].Str("detail"));
        Assert.Empty(await PageDeliveriesAsync(people[1].Email));
    }

    [Fact]
    public async Task AnsweringTheQuestion_ResolvesTheEscalation_AndNoFurtherLevelIsPaged()
    {
        var (queue, people, _) = await RuleWithPolicyAsync(2);
        var annSlack = Slack.AddUser(people[0].Email);
        var (_, question) = await AskAsync(queue, "Which region?", ["eu", "us"]);
        var escalation = await EscalationOfAsync(question);
        await PageMailAsync(people[0].Email, 1);
        var dm = await SlackPageAsync(annSlack, 1);

        using var answerer = Host.CreateClient(people[0].Token);
        await answerer.PostAsJsonAsync(Org.Api($"clarifications/{question}/answer"), new { answer = "eu" }).ExpectAsync(HttpStatusCode.OK);
        fixture.Clock.Advance(TimeSpan.FromMinutes(10));
        await Host.SweepEscalationsAsync();

        var after = await EscalationAsync(escalation);
        Assert.Equal(("resolved", people[0].UserId.ToString()), (after.Str("status"), after.Str("acknowledgedBy")));
        Assert.Equal(["notified", "answered"], after.Timeline().Select(e => e.Str("kind")));
        Assert.Empty(await PageDeliveriesAsync(people[1].Email));

        // The page's DM loses its Acknowledge button and says why.
        await Slack.WaitForAsync("chat.update", c => (string?)c.Body["ts"] == dm.Ts, "the chat.update of the resolved page");
        Assert.Empty(dm.Buttons);
        Assert.Contains("Resolved: the question was answered", dm.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ADrillsPageDM_EndsLikeARealOne_WhenThePagedPersonAcknowledgesThroughTheApi()
    {
        var (_, people, policy) = await RuleWithPolicyAsync(1);
        var annSlack = Slack.AddUser(people[0].Email);
        using var owner = Host.CreateClient(Org.OwnerToken);
        var drill = await owner.PostAsync(Org.Api($"escalation-policies/{policy}/drill"), null).ExpectAsync(HttpStatusCode.Created);
        var dm = await SlackPageAsync(annSlack, 1);
        Assert.Contains(dm.Buttons, b => (string?)b["text"]!["text"] == "Acknowledge");

        using var ann = Host.CreateClient(people[0].Token);
        await ann.PostAsJsonAsync(Org.Api($"escalations/{drill.Str("id")}/acknowledge"), new { via = "api" }).ExpectAsync(HttpStatusCode.OK);

        await Slack.WaitForAsync("chat.update", c => (string?)c.Body["ts"] == dm.Ts, "the chat.update of the drill's page DM");
        Assert.Empty(dm.Buttons);
        Assert.Contains($"Acknowledged by {people[0].Email} via api", dm.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PageDMs_OfEveryPersonPaged_LoseTheirAcknowledgeButton_WhenTheEscalationIsAcknowledgedByEmail()
    {
        var (queue, people, _) = await RuleWithPolicyAsync(3);
        var (ann, bob) = (people[0], people[1]);
        var (annSlack, bobSlack) = (Slack.AddUser(ann.Email), Slack.AddUser(bob.Email));
        var (_, question) = await AskAsync(queue, "Restart the cluster?", ["yes", "no"]);
        var escalation = await EscalationOfAsync(question);
        var annDm = await SlackPageAsync(annSlack, 1);
        var ack = AckLink().Match((await PageMailAsync(ann.Email, 1)).TextBody ?? "");
        Assert.True(ack.Success);

        fixture.Clock.Advance(TimeSpan.FromMinutes(5));
        await Host.SweepEscalationsAsync();
        var bobDm = await SlackPageAsync(bobSlack, 1);
        Assert.Contains(bobDm.Buttons, b => (string?)b["text"]!["text"] == "Acknowledge");

        using var browser = Host.CreateClient();
        await PageAsync(browser.PostAsync(PathOf(ack.Value), new FormUrlEncodedContent([])), HttpStatusCode.OK);
        Assert.Equal("acknowledged", (await EscalationAsync(escalation)).Str("status"));

        // Neither DM was clicked: both are updated from the escalation's event, with who acknowledged and through what.
        foreach (var dm in new[] { annDm, bobDm })
        {
            await Slack.WaitForAsync("chat.update", c => (string?)c.Body["ts"] == dm.Ts, "the chat.update of a page DM");
            Assert.Empty(dm.Buttons);
            Assert.Contains($"Acknowledged by {ann.Email} via email", dm.AllText, StringComparison.Ordinal);
            Assert.Contains("Restart the cluster?", dm.AllText, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task AckLink_ForgedOrAfterTheEscalationEnded_ShowsAClearPage_AndChangesNothing()
    {
        using var browser = Host.CreateClient();
        var forged = await PageAsync(browser.GetAsync("ack/" + new string('A', 43)), HttpStatusCode.NotFound);
        Assert.Contains("not valid", forged, StringComparison.Ordinal);
        await PageAsync(browser.PostAsync("ack/not-a-token", new FormUrlEncodedContent([])), HttpStatusCode.NotFound);

        var (queue, people, _) = await RuleWithPolicyAsync(1);
        var (_, question) = await AskAsync(queue, "Expire me?", null);
        var escalation = await EscalationOfAsync(question);
        var ack = AckLink().Match((await PageMailAsync(people[0].Email, 1)).TextBody ?? "").Value;

        // The chain runs out: the link can no longer acknowledge, and says so.
        fixture.Clock.Advance(TimeSpan.FromMinutes(10));
        await Host.SweepEscalationsAsync();
        Assert.Equal("exhausted", (await EscalationAsync(escalation)).Str("status"));
        var late = await PageAsync(browser.PostAsync(PathOf(ack), new FormUrlEncodedContent([])), HttpStatusCode.Conflict);
        Assert.Contains("ran out", late, StringComparison.Ordinal);
        Assert.Equal("exhausted", (await EscalationAsync(escalation)).Str("status"));
    }

    [Fact]
    public async Task RedeliveredEvent_StartsOneEscalation_AndPagesOnce()
    {
        var (queue, people, _) = await RuleWithPolicyAsync(2);
        var (_, question) = await AskAsync(queue, "Once only?", null);
        await EscalationOfAsync(question);
        await PageMailAsync(people[0].Email, 1);

        // The fan-out reads every event again, as a former leader's pass would have.
        await Host.Services.GetRequiredService<Database>().WriteAsync((c, t) =>
            c.ExecuteAsync("UPDATE consumer_cursors SET seq = 0 WHERE name = @name", new { name = NotificationStore.CursorName }, t));
        var dispatcher = Host.Services.GetRequiredService<NotificationDispatcher>();
        while (await dispatcher.PassAsync(CancellationToken.None))
        {
        }

        await dispatcher.PassAsync(CancellationToken.None);
        using var owner = Host.CreateClient(Org.OwnerToken);
        var list = await owner.GetAsync(Org.Api($"escalations?subject={question}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Single(list.GetProperty("items").EnumerateArray());
        Assert.Single(await PageDeliveriesAsync(people[0].Email), d => d.Str("channel") == "email");
    }

    [Fact]
    public async Task RuleApi_CarriesThePolicy_RefusesBadOnes_AndAPolicyInUseCannotBeDeleted()
    {
        var person = await Host.AddPersonAsync(Org, "member");
        using var admin = Host.CreateClient(Org.OwnerToken);
        var policy = await admin.CreatePolicyAsync(Org, [OnCallTestKit.Level(5, users: [person.UserId])]);
        object Rule(string? escalationPolicy) => new
        {
            events = new[] { "clarification.asked" },
            channels = new[] { new { type = "email", to = new[] { "team@example.org" } } },
            escalationPolicy,
        };

        var rule = await admin.PostAsJsonAsync(Org.Api("notification-rules"), Rule(policy)).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal(policy, rule.Str("escalationPolicy"));
        Assert.Equal(policy, (await admin.GetAsync(Org.Api($"notification-rules/{rule.Str("id")}")).ExpectAsync(HttpStatusCode.OK)).Str("escalationPolicy"));

        using var otherAdmin = Host.CreateClient(fixture.OtherOrg.OwnerToken);
        var stranger = await Host.AddPersonAsync(fixture.OtherOrg, "member");
        var foreign = await otherAdmin.CreatePolicyAsync(fixture.OtherOrg, [OnCallTestKit.Level(5, users: [stranger.UserId])]);
        foreach (var bad in new[] { foreign, Guid.NewGuid().ToString(), "not-an-id" })
        {
            var problem = await admin.PostAsJsonAsync(Org.Api("notification-rules"), Rule(bad)).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
            Assert.True(problem.GetProperty("errors").TryGetProperty("escalationPolicy", out _), problem.ToString());
        }

        var noQuestion = await admin.PostAsJsonAsync(Org.Api("notification-rules"), new
        {
            events = new[] { "task.failed" },
            channels = new[] { new { type = "email", to = new[] { "team@example.org" } } },
            escalationPolicy = policy,
        }).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.Contains("clarification.asked", noQuestion.GetProperty("errors").GetProperty("escalationPolicy")[0].GetString(), StringComparison.Ordinal);

        using var member = Host.CreateClient(person.Token);
        var personal = await member.PostAsJsonAsync(Org.Api("me/notification-rules"), new { events = new[] { "clarification.asked" }, channels = new[] { new { type = "email" } }, escalationPolicy = policy })
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(personal.GetProperty("errors").TryGetProperty("escalationPolicy", out _), personal.ToString());

        await admin.DeleteAsync(Org.Api($"escalation-policies/{policy}")).ExpectProblemAsync(HttpStatusCode.Conflict, "escalation-policy-in-use");
        var detached = await admin.PatchAsJsonAsync(Org.Api($"notification-rules/{rule.Str("id")}"), new { escalationPolicy = "" }).ExpectAsync(HttpStatusCode.OK);
        Assert.True(detached.IsNull("escalationPolicy"));
        (await admin.DeleteAsync(Org.Api($"escalation-policies/{policy}"))).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task EmailLinkAndSlackButtonAtOnce_ExactlyOneAcknowledges_AndTheOtherIsToldWhoWon()
    {
        var (queue, people, _) = await RuleWithPolicyAsync(2);
        var annSlack = Slack.AddUser(people[0].Email);
        var (_, question) = await AskAsync(queue, "Race?", null);
        var escalation = await EscalationOfAsync(question);
        var ack = AckLink().Match((await PageMailAsync(people[0].Email, 1)).TextBody ?? "").Value;
        var dm = await SlackPageAsync(annSlack, 1);
        using var browser = Host.CreateClient();

        var email = Task.Run(() => browser.PostAsync(PathOf(ack), new FormUrlEncodedContent([])));
        var slack = Task.Run(() => Slack.ClickAsync(Host.BaseAddress, dm, "Acknowledge", annSlack));
        await Task.WhenAll(email, slack);

        using var emailResponse = await email;
        var (slackResponse, responseUrl) = await slack;
        Assert.Equal(HttpStatusCode.OK, slackResponse.StatusCode);
        var emailWon = emailResponse.StatusCode == HttpStatusCode.OK;
        Assert.True(emailWon || emailResponse.StatusCode == HttpStatusCode.Conflict, emailResponse.StatusCode.ToString());
        var slackWon = ((string?)Assert.Single(await Slack.RepliesToAsync(responseUrl))["text"])!.StartsWith("You acknowledged", StringComparison.Ordinal);
        Assert.True(emailWon ^ slackWon, $"email won: {emailWon}, slack won: {slackWon}");

        var after = await EscalationAsync(escalation);
        Assert.Equal(("acknowledged", emailWon ? "email" : "slack"), (after.Str("status"), after.Str("acknowledgedVia")));
        Assert.Single(after.Timeline(), e => e.Str("kind") == "acknowledged");
    }

    [Fact]
    public async Task DashboardAcknowledgeButton_OnTheTaskPage_AcknowledgesViaDashboard_WithTheAntiforgeryToken()
    {
        var (queue, people, _) = await RuleWithPolicyAsync(2);
        var (lease, question) = await AskAsync(queue, "From the dashboard?", null);
        var escalation = await EscalationOfAsync(question);
        await PageMailAsync(people[0].Email, 1);

        using var browser = Host.CreateCookieClient(people[0].Token);
        using var page = await browser.GetAsync($"o/{Org.Org}/tasks/{lease.TaskId}");
        var html = await page.Content.ReadAsStringAsync();
        var action = $"/o/{Org.Org}/escalations/{escalation.Str("id")}/acknowledge";
        Assert.Contains($"action=\"{action}\"", html, StringComparison.Ordinal);
        var token = WebUtility.HtmlDecode(TokenPattern().Match(html).Groups[1].Value);
        var cookie = page.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("clarity_csrf=", StringComparison.Ordinal)).Split(';')[0];
        var origin = Host.BaseAddress.GetLeftPart(UriPartial.Authority);

        // Without the token: refused, nothing changes.
        using (var forged = new HttpRequestMessage(HttpMethod.Post, action.TrimStart('/')) { Content = new FormUrlEncodedContent([new("task", lease.TaskId.ToString())]) })
        {
            forged.Headers.Add("Origin", origin);
            using var refused = await browser.SendAsync(forged);
            Assert.Equal("open", (await EscalationAsync(escalation)).Str("status"));
        }

        using var post = new HttpRequestMessage(HttpMethod.Post, action.TrimStart('/'))
        {
            Content = new FormUrlEncodedContent([new("__RequestVerificationToken", token), new("task", lease.TaskId.ToString())]),
        };
        post.Headers.Add("Origin", origin);
        post.Headers.Add("Cookie", $"clarity_session={people[0].Token}; {cookie}");
        using var poster = Host.CreateCookieClient(null);
        using var response = await poster.SendAsync(post);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal($"/o/{Org.Org}/tasks/{lease.TaskId}", response.Headers.Location!.OriginalString);

        var after = await EscalationAsync(escalation);
        Assert.Equal(("acknowledged", "dashboard", people[0].UserId.ToString()), (after.Str("status"), after.Str("acknowledgedVia"), after.Str("acknowledgedBy")));
    }

    [GeneratedRegex("<input[^>]*name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex TokenPattern();

    // ---- helpers

    /// <summary>A queue of its own, <paramref name="levels"/> members each a level of a policy (5 minutes apart), and an org rule with that policy for the queue's questions.</summary>
    private async Task<(string Queue, IReadOnlyList<Person> People, string Policy)> RuleWithPolicyAsync(int levels, string to = "team@example.org")
    {
        var people = new List<Person>();
        for (var i = 0; i < levels; i++)
        {
            people.Add(await Host.AddPersonAsync(Org, "member"));
        }

        var queue = Work.Unique("q");
        using var admin = Host.CreateClient(Org.OwnerToken);
        var policy = await EscalatingRuleAsync(admin, people, "clarification.asked", new { queues = new[] { queue } }, to);
        return (queue, people, policy);
    }

    /// <summary>A policy with one level per person (5 minutes apart), and an email rule on <paramref name="evt"/> (to <paramref name="to"/>) that escalates through it.</summary>
    private async Task<string> EscalatingRuleAsync(HttpClient owner, IEnumerable<Person> people, string evt, object filters, string to = "team@example.org")
    {
        var policy = await owner.CreatePolicyAsync(Org, [.. people.Select(p => OnCallTestKit.Level(5, users: [p.UserId]))]);
        await owner.PostAsJsonAsync(Org.Api("notification-rules"), new
        {
            events = new[] { evt },
            channels = new[] { new { type = "email", to = new[] { to } } },
            filters,
            escalationPolicy = policy,
        }).ExpectAsync(HttpStatusCode.Created);
        return policy;
    }

    private async Task<(Lease Lease, string QuestionId)> AskAsync(string queue, string text, string[]? options)
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        await agent.CreateTaskAsync(Org, new { queue, title = "Release 1.2" });
        var lease = await agent.CheckoutTaskAsync(Org, Work.Unique("agent"), queue);
        var question = await agent.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/clarifications"), new { leaseToken = lease.Token, question = text, options, expiresInSeconds = 3600 })
            .ExpectAsync(HttpStatusCode.Created);
        return (lease, question.Str("id"));
    }

    /// <summary>The escalation the rule started about the question (the fan-out starts it in the background).</summary>
    private async Task<JsonElement> EscalationOfAsync(string question)
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        while (true)
        {
            var list = await owner.GetAsync(Org.Api($"escalations?subject={question}")).ExpectAsync(HttpStatusCode.OK);
            if (list.GetProperty("items").EnumerateArray().FirstOrDefault() is { ValueKind: JsonValueKind.Object } found)
            {
                return found;
            }

            Assert.True(DateTimeOffset.UtcNow < deadline, "The rule never started an escalation about " + question);
            await Task.Delay(100);
        }
    }

    private async Task<JsonElement> EscalationAsync(JsonElement escalation)
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        return await owner.GetEscalationAsync(Org, Guid.Parse(escalation.Str("id")));
    }

    /// <summary>The page deliveries (or those of <paramref name="evt"/>) to an address (email and Slack), from the delivery log.</summary>
    private async Task<List<JsonElement>> PageDeliveriesAsync(string email, string evt = "escalation.page")
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var page = await owner.GetAsync(Org.Api($"notification-deliveries?event={evt}&limit=200")).ExpectAsync(HttpStatusCode.OK);
        return [.. page.GetProperty("items").EnumerateArray().Where(d => string.Equals(d.Str("recipient"), email, StringComparison.OrdinalIgnoreCase))];
    }

    /// <summary>Waits until <paramref name="count"/> page emails to the address are sent; returns the newest as the SMTP server received it.</summary>
    private async Task<MimeMessage> PageMailAsync(string email, int count)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        while (true)
        {
            var sent = (await PageDeliveriesAsync(email)).Where(d => d.Str("channel") == "email" && d.Str("status") == "sent").ToList();
            if (sent.Count >= count)
            {
                return fixture.Sink.Find(sent[0].Str("externalId")).Message;
            }

            Assert.True(DateTimeOffset.UtcNow < deadline, $"No page email reached {email}: {string.Join(Environment.NewLine, await PageDeliveriesAsync(email))}");
            await Task.Delay(100);
        }
    }

    /// <summary>Waits for the page DMs to a Slack user.</summary>
    private async Task<SlackPosted> SlackPageAsync(string slackUser, int count)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        while (Slack.DirectMessages(slackUser).Count < count)
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, "No Slack DM reached " + slackUser);
            await Task.Delay(100);
        }

        return Slack.DirectMessages(slackUser)[count - 1];
    }

    private static string PathOf(string link) => new Uri(link).AbsolutePath.TrimStart('/');

    private static async Task<string> PageAsync(Task<HttpResponseMessage> pending, HttpStatusCode status)
    {
        using var response = await pending;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode} (expected {(int)status}): {body}");
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        return WebUtility.HtmlDecode(body);
    }
}

public sealed class SqliteEscalationPagingTests(SqliteEscalationPagingFixture fixture) : EscalationPagingTests<SqliteEscalationPagingFixture>(fixture);

public sealed class PostgresEscalationPagingTests(PostgresEscalationPagingFixture fixture) : EscalationPagingTests<PostgresEscalationPagingFixture>(fixture);
