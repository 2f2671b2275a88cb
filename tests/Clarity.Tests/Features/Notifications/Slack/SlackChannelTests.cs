using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Clarity.Features.Notifications;
using Clarity.Features.Notifications.Slack;
using Clarity.Hosting;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit;

namespace Clarity.Tests.Features.Notifications.Slack;

/// <summary>A host whose Slack settings point at a <see cref="SlackStandIn"/>, with the org "acme".</summary>
public abstract class SlackFixture(Backend backend) : IAsyncLifetime
{
    public SlackStandIn Slack { get; private set; } = null!;

    public ClarityHost Host { get; private set; } = null!;

    public OrgSession Org { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Slack = await SlackStandIn.StartAsync();
        Host = await ClarityHost.StartAsync(backend, new Dictionary<string, string?>
        {
            ["Clarity:Slack:BotToken"] = Slack.BotToken,
            ["Clarity:Slack:SigningSecret"] = Slack.SigningSecret,
            ["Clarity:Slack:ApiBaseUrl"] = Slack.ApiBaseUrl,
        });
        Org = await Host.SetupAsync("acme");
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        await Slack.DisposeAsync();
    }
}

public sealed class SqliteSlackFixture() : SlackFixture(Backend.Sqlite);

public sealed class PostgresSlackFixture() : SlackFixture(Backend.Postgres);

/// <summary>
/// The Slack channel against the stand-in: posting questions with their options as buttons, answering by a click
/// (signed the way Slack signs), refusing bad and stale signatures, unmapped people and viewers, telling a late clicker
/// who answered first, updating the message once the question is settled, and Slack's failures as outcomes.
/// </summary>
public abstract class SlackChannelTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : SlackFixture
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    private SlackStandIn Slack => fixture.Slack;

    private INotificationChannel Channel => Host.Services.GetServices<INotificationChannel>().Single(c => c.Type == NotificationChannels.Slack);

    [Fact]
    public async Task Question_IsPostedWithItsOptionsAsButtons_AndAClickAnswersItAsTheSlackUser_ThenTheMessageLosesItsButtons()
    {
        var person = await Host.AddPersonAsync(Org, "member");
        var slackUser = Slack.AddUser(person.Email.ToUpperInvariant());
        using var agent = Host.CreateClient(Org.MemberKey);
        var (lease, question) = await AskAsync(agent, "Deploy to production?", ["ship it", "hold"]);

        var outcome = await Channel.SendAsync(Delivery("#ops"), QuestionView(question, lease, ["ship it", "hold"]), CancellationToken.None);
        Assert.True(outcome.Sent, outcome.Detail);
        var message = Slack.Message(Slack.ChannelIdOf("#ops"), outcome.ExternalId!)!;
        var post = Assert.Single(Slack.CallsOf("chat.postMessage"), c => c.Body.ToJsonString().Contains(Guid.Parse(question).ToString("N"), StringComparison.Ordinal));
        Assert.Equal(Slack.BotToken, post.Token);
        Assert.Equal(["ship it", "hold", "Open in Clarity", "View the log"], message.Buttons.Select(b => (string?)b["text"]!["text"]));
        Assert.Contains(message.Blocks, b => (string?)b!["type"] == "header");
        Assert.Contains("step-7 log line", message.AllText, StringComparison.Ordinal);

        // The agent waits for the answer while the person clicks in Slack.
        var waiting = agent.GetAsync(Org.Api($"clarifications/{question}?waitSeconds=50"));
        var (response, responseUrl) = await Slack.ClickAsync(Host.BaseAddress, message, "ship it", slackUser);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reply = Assert.Single(await Slack.RepliesToAsync(responseUrl));
        Assert.Equal(("ephemeral", false), ((string?)reply["response_type"], (bool?)reply["replace_original"]));
        Assert.Contains("You answered", (string?)reply["text"], StringComparison.Ordinal);

        var answered = await waiting.ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("answered", "ship it", "slack", person.UserId.ToString()),
            (answered.Str("status"), answered.Str("answer"), answered.Str("answeredVia"), answered.Str("answeredBy")));
        Assert.Equal("running", (await agent.GetTaskAsync(Org, lease.TaskId)).Str("status"));

        using var owner = Host.CreateClient(Org.OwnerToken);
        var audit = await owner.GetAsync(Org.Api($"audit?target=clarification:{question}&action=clarification.answered")).ExpectAsync(HttpStatusCode.OK);
        var entry = Assert.Single(audit.GetProperty("items").EnumerateArray());
        Assert.Equal(("user", person.UserId.ToString()), (entry.GetProperty("actor").Str("kind"), entry.GetProperty("actor").Str("id")));
        Assert.Equal("slack", entry.GetProperty("entry").GetProperty("after").Str("via"));

        // Then the message is updated in place: no buttons, and who answered, via what.
        var update = await Slack.WaitForAsync("chat.update", c => (string?)c.Body["ts"] == message.Ts, "the chat.update of the answered question");
        Assert.Equal((message.ChannelId, Slack.BotToken), ((string?)update.Body["channel"], update.Token));
        Assert.Empty(message.Buttons);
        Assert.Contains($"Answered by {person.Email} via slack", message.AllText, StringComparison.Ordinal);
        Assert.Contains("Deploy to production?", message.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Click_WithABadSignature_Is401_AndNothingChanges()
    {
        var person = await Host.AddPersonAsync(Org, "member");
        var slackUser = Slack.AddUser(person.Email);
        var (message, question, agent) = await PostQuestionAsync(["yes", "no"]);

        var (response, responseUrl) = await Slack.ClickAsync(Host.BaseAddress, message, "yes", slackUser, secret: "not-the-signing-secret");
        await Task.FromResult(response).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Empty(Slack.RepliesTo(responseUrl));

        // A body changed after signing fails the same way.
        var (tampered, _) = await Slack.ClickAsync(Host.BaseAddress, message, "yes", slackUser, tamper: r =>
            r.Content = new StringContent("payload=%7B%7D", System.Text.Encoding.UTF8, "application/x-www-form-urlencoded"));
        await Task.FromResult(tampered).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");

        // And so does a request without the headers.
        var (unsigned, _) = await Slack.ClickAsync(Host.BaseAddress, message, "yes", slackUser, tamper: r =>
        {
            r.Headers.Remove(SlackSignature.SignatureHeader);
            r.Headers.Remove(SlackSignature.TimestampHeader);
        });
        await Task.FromResult(unsigned).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");

        await AssertPendingAsync(agent, question);
    }

    [Fact]
    public async Task Click_WithAStaleTimestamp_Is401_AndNothingChanges()
    {
        var person = await Host.AddPersonAsync(Org, "member");
        var slackUser = Slack.AddUser(person.Email);
        var (message, question, agent) = await PostQuestionAsync(["yes", "no"]);

        var stale = DateTimeOffset.UtcNow.AddMinutes(-6).ToUnixTimeSeconds();
        var (response, responseUrl) = await Slack.ClickAsync(Host.BaseAddress, message, "yes", slackUser, timestamp: stale);
        await Task.FromResult(response).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Empty(Slack.RepliesTo(responseUrl));
        await AssertPendingAsync(agent, question);
    }

    [Fact]
    public async Task Click_ByAnUnmappedSlackUser_RepliesHowToLinkTheAccount_AndRecordsNothing()
    {
        var (message, question, agent) = await PostQuestionAsync(["yes", "no"]);
        var stranger = Slack.AddUser(Work.Unique("stranger") + "@elsewhere.example");
        var noEmail = Slack.AddUser(null);

        foreach (var user in new[] { stranger, noEmail })
        {
            var (response, responseUrl) = await Slack.ClickAsync(Host.BaseAddress, message, "yes", user);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var reply = Assert.Single(await Slack.RepliesToAsync(responseUrl));
            Assert.Equal("ephemeral", (string?)reply["response_type"]);
            Assert.Contains("same (verified) email address in Slack and in Clarity", (string?)reply["text"], StringComparison.Ordinal);
            Assert.Contains("nothing was recorded", (string?)reply["text"], StringComparison.Ordinal);
        }

        await AssertPendingAsync(agent, question);
        Assert.DoesNotContain(Slack.CallsOf("chat.update"), c => (string?)c.Body["ts"] == message.Ts);
    }

    [Fact]
    public async Task Click_ByAViewer_IsRefused_AndRecordsNothing()
    {
        var viewer = await Host.AddPersonAsync(Org, "viewer");
        var slackUser = Slack.AddUser(viewer.Email);
        var (message, question, agent) = await PostQuestionAsync(["yes", "no"]);

        var (response, responseUrl) = await Slack.ClickAsync(Host.BaseAddress, message, "no", slackUser);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reply = Assert.Single(await Slack.RepliesToAsync(responseUrl));
        Assert.Contains("does not allow answering questions", (string?)reply["text"], StringComparison.Ordinal);
        await AssertPendingAsync(agent, question);
    }

    [Fact]
    public async Task SecondClick_IsToldWhoAnsweredFirst_ViaWhatAndWhen()
    {
        var first = await Host.AddPersonAsync(Org, "member");
        var second = await Host.AddPersonAsync(Org, "admin");
        var (firstUser, secondUser) = (Slack.AddUser(first.Email), Slack.AddUser(second.Email));
        var (message, question, agent) = await PostQuestionAsync(["left", "right"]);

        // The second person clicks on the message as their Slack showed it before the first answer: the updater may
        // remove the buttons (chat.update) as soon as the first click has answered.
        var (late, responseUrl) = Slack.BuildClick(Host.BaseAddress, message, "right", secondUser);
        Assert.Equal(HttpStatusCode.OK, (await Slack.ClickAsync(Host.BaseAddress, message, "left", firstUser)).Response.StatusCode);
        using var client = new HttpClient();
        using var response = await client.SendAsync(late);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = (string?)Assert.Single(await Slack.RepliesToAsync(responseUrl))["text"];
        Assert.Contains($"already answered by {first.Email} via slack at ", text, StringComparison.Ordinal);

        var stored = await agent.GetAsync(Org.Api($"clarifications/{question}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("left", first.UserId.ToString()), (stored.Str("answer"), stored.Str("answeredBy")));
    }

    [Fact]
    public async Task TheSameCallbackDeliveredTwice_AnswersOnce()
    {
        var person = await Host.AddPersonAsync(Org, "member");
        var slackUser = Slack.AddUser(person.Email);
        var (message, question, _) = await PostQuestionAsync(["once", "twice"]);

        var (request, responseUrl) = Slack.BuildClick(Host.BaseAddress, message, "once", slackUser);
        var body = await request.Content!.ReadAsByteArrayAsync();
        using var client = new HttpClient();
        foreach (var _ in new[] { 1, 2 })
        {
            using var copy = new HttpRequestMessage(HttpMethod.Post, request.RequestUri) { Content = new ByteArrayContent(body) };
            copy.Content.Headers.ContentType = request.Content.Headers.ContentType;
            foreach (var header in request.Headers)
            {
                copy.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }

            Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(copy)).StatusCode);
        }

        using var owner = Host.CreateClient(Org.OwnerToken);
        var audit = await owner.GetAsync(Org.Api($"audit?target=clarification:{question}&action=clarification.answered")).ExpectAsync(HttpStatusCode.OK);
        Assert.Single(audit.GetProperty("items").EnumerateArray());
        var replies = (await Slack.RepliesToAsync(responseUrl, 2)).Select(r => (string?)r["text"]).ToList();
        Assert.Equal(2, replies.Count);
        Assert.Contains(replies, r => r!.Contains("You answered", StringComparison.Ordinal));
        Assert.Contains(replies, r => r!.Contains("already answered", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ExpiredQuestion_WithADefault_HasItsMessageUpdatedToSaySo()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var lease = await agent.StartTaskAsync(Org);
        var question = (await agent.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/clarifications"),
            new { leaseToken = lease.Token, question = "Rotate the keys?", options = new[] { "rotate", "skip" }, expiresInSeconds = 1, onExpiry = "default", defaultAnswer = "skip" })
            .ExpectAsync(HttpStatusCode.Created)).Str("id");
        var outcome = await Channel.SendAsync(Delivery("#ops"), QuestionView(question, lease, ["rotate", "skip"]), CancellationToken.None);
        Assert.True(outcome.Sent, outcome.Detail);

        await Slack.WaitForAsync("chat.update", c => (string?)c.Body["ts"] == outcome.ExternalId, "the chat.update of the expired question");
        var message = Slack.Message(Slack.ChannelIdOf("#ops"), outcome.ExternalId!)!;
        Assert.Empty(message.Buttons);
        Assert.Contains("Expired — default applied", message.AllText, StringComparison.Ordinal);
        Assert.Contains("skip", message.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Notice_HasLinkButtonsOnly_AndEscapesTextThatWouldMentionOrLink()
    {
        var view = new NotificationView
        {
            EventType = NotificationEvents.TaskFailed,
            EventSeq = 1,
            OrgId = Guid.NewGuid(),
            OrgSlug = Org.Org,
            OccurredAt = DateTimeOffset.UtcNow,
            Summary = "Task <!channel> failed & <https://evil.example|click>",
            Url = "https://clarity.example/o/acme/tasks/1",
            TaskTitle = "nightly build",
            AgentName = "builder",
            RecentLogLines = ["line 1", "line 2 <@U123>"],
        };

        var outcome = await Channel.SendAsync(Delivery("#alerts"), view, CancellationToken.None);
        Assert.True(outcome.Sent, outcome.Detail);
        var message = Slack.Message(Slack.ChannelIdOf("#alerts"), outcome.ExternalId!)!;
        Assert.Equal(["Open in Clarity"], message.Buttons.Select(b => (string?)b["text"]!["text"]));
        Assert.All(message.Buttons, b => Assert.NotNull(b["url"]));
        Assert.DoesNotContain("<!channel>", message.AllText, StringComparison.Ordinal);
        Assert.DoesNotContain("<https://evil", message.AllText, StringComparison.Ordinal);
        Assert.Contains("&lt;!channel&gt; failed &amp; &lt;https://evil.example|click&gt;", message.AllText, StringComparison.Ordinal);
        Assert.Contains("Task failed", message.AllText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_WithAWrongBotToken_FailsWithInvalidAuth()
    {
        var right = Slack.BotToken;
        Slack.BotToken = "xoxb-some-other-app";
        try
        {
            var outcome = await Channel.SendAsync(Delivery("#ops"), Notice(), CancellationToken.None);
            Assert.Equal((false, false, "invalid_auth"), (outcome.Sent, outcome.Retryable, outcome.Detail));
        }
        finally
        {
            Slack.BotToken = right;
        }
    }

    [Fact]
    public async Task Send_ToAnUnknownChannel_FailsWithChannelNotFound_AndToAnInvalidName_WithoutCallingSlack()
    {
        var outcome = await Channel.SendAsync(Delivery("#nowhere"), Notice(), CancellationToken.None);
        Assert.Equal((false, false, "channel_not_found"), (outcome.Sent, outcome.Retryable, outcome.Detail));

        var calls = Slack.Calls.Count;
        var invalid = await Channel.SendAsync(Delivery("not a channel"), Notice(), CancellationToken.None);
        Assert.False(invalid.Sent || invalid.Retryable);
        Assert.Equal(calls, Slack.Calls.Count);
    }

    [Fact]
    public async Task Send_WhenSlackRateLimits_AsksForARetry()
    {
        Interlocked.Exchange(ref Slack.RateLimitNext, 1);
        var outcome = await Channel.SendAsync(Delivery("#ops"), Notice(), CancellationToken.None);
        Assert.Equal((false, true), (outcome.Sent, outcome.Retryable));
        Assert.StartsWith("ratelimited", outcome.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithOnlyAnIncomingWebhook_NoticesGoThere_WithoutButtons()
    {
        var settings = new ClarityOptions { Slack = new SlackOptions { IncomingWebhookUrl = Slack.WebhookUrl } };
        var options = Options.Create(settings);
        var api = new SlackApi(Host.Services.GetRequiredService<IHttpClientFactory>(), options, NullLogger<SlackApi>.Instance);
        var channel = ActivatorUtilities.CreateInstance<SlackChannel>(Host.Services, api, options);
        var view = Notice() with
        {
            EventType = NotificationEvents.ClarificationAsked,
            Question = new NotificationQuestion(Guid.NewGuid(), "Which region?", ["eu", "us"], DateTimeOffset.UtcNow.AddHours(1), "fail", null),
        };

        var outcome = await channel.SendAsync(Delivery("#ops"), view, CancellationToken.None);
        Assert.True(outcome.Sent, outcome.Detail);
        var posted = Slack.CallsOf("webhook").Last().Body;
        Assert.DoesNotContain(posted["blocks"]!.AsArray(), b => (string?)b!["type"] == "actions");
        Assert.Contains("Which region?", posted.ToJsonString(), StringComparison.Ordinal);
        Assert.Contains(posted["blocks"]!.AsArray().Select(b => (string?)b!["text"]?["text"]), t => t is not null && t.EndsWith("|Answer in Clarity>", StringComparison.Ordinal));
    }

    private static NotificationDelivery Delivery(string channel) =>
        new(Guid.NewGuid(), Guid.NewGuid(), NotificationChannels.Slack, channel, null, 1, Work.Unique("corr"));

    private NotificationView Notice() => new()
    {
        EventType = NotificationEvents.TaskSucceeded,
        EventSeq = 1,
        OrgId = Guid.NewGuid(),
        OrgSlug = Org.Org,
        OccurredAt = DateTimeOffset.UtcNow,
        Summary = "Task nightly build succeeded",
        Url = "https://clarity.example/o/acme/tasks/1",
    };

    private NotificationView QuestionView(string question, Lease lease, IReadOnlyList<string> options) => new()
    {
        EventType = NotificationEvents.ClarificationAsked,
        EventSeq = 1,
        OrgId = OrgId,
        OrgSlug = Org.Org,
        OccurredAt = DateTimeOffset.UtcNow,
        Summary = "Question from agent build-bot",
        Url = $"https://clarity.example/o/{Org.Org}/inbox",
        TaskId = Guid.Parse(lease.TaskId),
        TaskTitle = "work",
        AgentName = "build-bot",
        Queue = lease.Task.Str("queue"),
        Question = new NotificationQuestion(Guid.Parse(question), "Deploy to production?", options, DateTimeOffset.UtcNow.AddHours(1), "fail", null),
        RecentLogLines = ["step-6 log line", "step-7 log line"],
        LogUrl = $"https://clarity.example/o/{Org.Org}/tasks/{lease.TaskId}/logs",
    };

    private Guid OrgId => Host.Services.GetRequiredService<Clarity.Features.Identity.IdentityStore>().FindOrgBySlugAsync(Org.Org, CancellationToken.None).GetAwaiter().GetResult()!.Id;

    private async Task<(Lease Lease, string Question)> AskAsync(HttpClient agent, string text, string[] options)
    {
        var lease = await agent.StartTaskAsync(Org);
        var question = await agent.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/clarifications"), new { leaseToken = lease.Token, question = text, options })
            .ExpectAsync(HttpStatusCode.Created);
        return (lease, question.Str("id"));
    }

    [Fact]
    public async Task FinishedMessages_AreDeletedAWeekAfterTheirUpdate_WhileOpenAndRecentOnesAreKept()
    {
        var db = Host.Services.GetRequiredService<Database>();
        var store = Host.Services.GetRequiredService<SlackMessageStore>();
        Guid orgId;
        await using (var c = await db.OpenReadAsync())
        {
            orgId = await c.ExecuteScalarAsync<Guid>("SELECT id FROM orgs WHERE slug = @slug", new { slug = Org.Org });
        }

        var now = DateTimeOffset.UtcNow;
        long DaysAgo(int days) => DbTime.ToDb(now.AddDays(-days));
        async Task<Guid> MessageAsync(int postedDaysAgo, string set)
        {
            var row = new SlackMessageRow
            {
                Id = Guid.NewGuid(), OrgId = orgId, ClarificationId = Guid.NewGuid(), ChannelId = "C-SWEEP", Ts = Guid.NewGuid().ToString("N"),
                Text = "question", CreatedAt = DaysAgo(postedDaysAgo),
            };
            await store.InsertAsync(row, CancellationToken.None);
            if (set.Length > 0)
            {
                await db.WriteAsync((c, t) => c.ExecuteAsync($"UPDATE slack_messages SET {set} WHERE id = @Id", new { row.Id, eight = DaysAgo(8), six = DaysAgo(6) }, t));
            }

            return row.Id;
        }

        var updatedLongAgo = await MessageAsync(9, "settled_at = @eight");
        var updatedRecently = await MessageAsync(9, "settled_at = @six");
        var stillOpen = await MessageAsync(30, "");
        var gaveUpLongAgo = await MessageAsync(8, "settle_error = 'message_not_found'");
        var dueForItsUpdate = await MessageAsync(8, "settle_due_at = @eight, settle_text = 'Answered'");

        var sweep = new SlackMessageSweep(store);
        await sweep.SweepAsync(now, CancellationToken.None);

        IReadOnlyList<Guid> left;
        await using (var c = await db.OpenReadAsync())
        {
            left = (await c.QueryAsync<Guid>("SELECT id FROM slack_messages WHERE channel_id = 'C-SWEEP'")).AsList();
        }

        Assert.Equivalent(new[] { updatedRecently, stillOpen, dueForItsUpdate }, left);
        Assert.DoesNotContain(updatedLongAgo, left);
        Assert.DoesNotContain(gaveUpLongAgo, left);

        // It runs once an hour: a message that became old enough meanwhile waits for the next run.
        var another = await MessageAsync(9, "settled_at = @eight");
        Assert.Equal(0, await sweep.SweepAsync(now.AddMinutes(59), CancellationToken.None));
        Assert.Equal(1, await sweep.SweepAsync(now.AddMinutes(61), CancellationToken.None));
        await using (var c = await db.OpenReadAsync())
        {
            Assert.Equal(0, await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM slack_messages WHERE id = @another", new { another }));
        }
    }

    private async Task<(SlackPosted Message, string Question, HttpClient Agent)> PostQuestionAsync(string[] options)
    {
        var agent = Host.CreateClient(Org.MemberKey);
        var (lease, question) = await AskAsync(agent, "Deploy to production?", options);
        var outcome = await Channel.SendAsync(Delivery("#ops"), QuestionView(question, lease, options), CancellationToken.None);
        Assert.True(outcome.Sent, outcome.Detail);
        return (Slack.Message(Slack.ChannelIdOf("#ops"), outcome.ExternalId!)!, question, agent);
    }

    private async Task AssertPendingAsync(HttpClient agent, string question)
    {
        var stored = await agent.GetAsync(Org.Api($"clarifications/{question}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("pending", stored.Str("status"));
        Assert.True(stored.IsNull("answer"));
        using var owner = Host.CreateClient(Org.OwnerToken);
        var audit = await owner.GetAsync(Org.Api($"audit?target=clarification:{question}&action=clarification.answered")).ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(audit.GetProperty("items").EnumerateArray());
    }
}

public sealed class SqliteSlackChannelTests(SqliteSlackFixture fixture) : SlackChannelTests<SqliteSlackFixture>(fixture);

public sealed class PostgresSlackChannelTests(PostgresSlackFixture fixture) : SlackChannelTests<PostgresSlackFixture>(fixture);
