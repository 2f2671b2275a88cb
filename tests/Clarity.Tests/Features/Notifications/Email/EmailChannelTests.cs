using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Clarity.Features.Identity;
using Clarity.Features.Notifications;
using Clarity.Features.Notifications.Email;
using Clarity.Hosting;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using MimeKit;
using Xunit;

namespace Clarity.Tests.Features.Notifications.Email;

/// <summary>
/// The email channel against a real SMTP server (STARTTLS + AUTH): the MIME it sends, how it fails, and the one-time
/// answer link a question's mail carries, opened and posted like a browser would.
/// </summary>
public abstract partial class EmailChannelTests(EmailFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task Send_ClarificationAsked_DeliversMultipartMimeThroughStartTlsAndAuth_WithTheQuestionOptionsAndAnswerLink()
    {
        var (_, question) = await AskAsync("Deploy to production?", ["yes", "no", "wait"]);
        var view = await ViewAsync(question) with { RecentLogLines = [.. Enumerable.Range(1, 8).Select(i => $"log line {i}")] };
        var delivery = await DeliveryAsync("oncall@example.org");

        var outcome = await fixture.Channel.SendAsync(delivery, view, CancellationToken.None);

        Assert.True(outcome.Sent, outcome.Detail);
        var mail = fixture.Sink.Find(outcome.ExternalId!);
        Assert.True(mail.Envelope.GetProperty("tls").GetBoolean());
        Assert.Equal(SmtpSink.User, mail.Envelope.Str("authenticatedAs"));
        Assert.Equal(["oncall@example.org"], mail.Envelope.GetProperty("rcptTos").EnumerateArray().Select(r => r.GetString()));

        var message = mail.Message;
        Assert.Equal("clarity@example.test", message.From.Mailboxes.Single().Address);
        Assert.Equal("oncall@example.org", message.To.Mailboxes.Single().Address);
        Assert.Contains("Deploy to production?", message.Subject, StringComparison.Ordinal);
        Assert.Contains("build-bot", message.Subject, StringComparison.Ordinal);
        Assert.DoesNotContain("[TEST]", message.Subject, StringComparison.Ordinal);
        Assert.True(message.Headers.Contains(HeaderId.Date));
        Assert.Equal($"{delivery.Id:N}.1@example.test", message.MessageId);
        Assert.Equal("auto-generated", message.Headers["Auto-Submitted"]);
        Assert.Equal("clarification.asked", message.Headers["X-Clarity-Event"]);
        Assert.Equal(delivery.CorrelationId, message.Headers["X-Clarity-Correlation-Id"]);

        var alternative = Assert.IsType<MultipartAlternative>(message.Body);
        var parts = alternative.OfType<TextPart>().ToList();
        Assert.Equal(["text/plain", "text/html"], parts.Select(p => p.ContentType.MimeType));
        var text = parts[0].Text;
        var html = parts[1].Text;

        var link = AnswerLink().Match(text);
        Assert.True(link.Success, text);
        Assert.StartsWith(EmailFixture.PublicUrl + "/answer/", link.Value, StringComparison.Ordinal);
        foreach (var body in new[] { text, html })
        {
            Assert.Contains("Deploy to production?", body, StringComparison.Ordinal);
            Assert.Contains("Fix the login bug", body, StringComparison.Ordinal);
            Assert.Contains("build-bot", body, StringComparison.Ordinal);
            Assert.Contains("log line 8", body, StringComparison.Ordinal);
            Assert.DoesNotContain("log line 3", body, StringComparison.Ordinal);
        }

        // Each option is a button: a link to the answer page with it preselected (attribute values are HTML-escaped).
        html = WebUtility.HtmlDecode(html);
        for (var i = 0; i < 3; i++)
        {
            Assert.Contains($"href=\"{link.Value}?option={i}\"", html, StringComparison.Ordinal);
            Assert.Contains($"{link.Value}?option={i}", text, StringComparison.Ordinal);
        }

        Assert.Contains(">wait</a>", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_EveryEventAndADigest_RendersASubjectATextAndAnHtmlPart_AndADrillIsMarkedInTheSubject()
    {
        var events = NotificationEvents.All.Where(e => !e.StartsWith("clarification.", StringComparison.Ordinal)).ToList();
        foreach (var type in events)
        {
            var view = BaseView(type, $"Something about {type}") with { Detail = "the detail <b>here</b>" };
            var outcome = await fixture.Channel.SendAsync(await DeliveryAsync("team@example.org"), view, CancellationToken.None);
            Assert.True(outcome.Sent, outcome.Detail);
            var message = fixture.Sink.Find(outcome.ExternalId!).Message;
            Assert.Contains($"Something about {type}", message.TextBody, StringComparison.Ordinal);
            Assert.Contains("the detail <b>here</b>", message.TextBody, StringComparison.Ordinal);
            Assert.Contains("the detail &lt;b&gt;here&lt;/b&gt;", message.HtmlBody, StringComparison.Ordinal);
            Assert.Equal(type, message.Headers["X-Clarity-Event"]);
            Assert.False(string.IsNullOrWhiteSpace(message.Subject));
        }

        var drill = BaseView(NotificationEvents.TaskFailed, "Drill: task failed") with { IsTest = true };
        var sent = await fixture.Channel.SendAsync(await DeliveryAsync("team@example.org"), drill, CancellationToken.None);
        var drillMail = fixture.Sink.Find(sent.ExternalId!).Message;
        Assert.StartsWith("[TEST]", drillMail.Subject, StringComparison.Ordinal);
        Assert.Contains("TEST", drillMail.TextBody, StringComparison.Ordinal);

        var items = new[] { BaseView(NotificationEvents.TaskFailed, "First failure"), BaseView(NotificationEvents.TaskFailed, "Second failure"), BaseView(NotificationEvents.TaskFailed, "Third failure") };
        var digest = items[0] with { Digest = items };
        var digestSent = await fixture.Channel.SendAsync(await DeliveryAsync("team@example.org"), digest, CancellationToken.None);
        var digestMail = fixture.Sink.Find(digestSent.ExternalId!).Message;
        Assert.Equal("digest", digestMail.Headers["X-Clarity-Event"]);
        Assert.Contains("3 notifications", digestMail.Subject, StringComparison.Ordinal);
        foreach (var item in items)
        {
            Assert.Contains(item.Summary, digestMail.TextBody, StringComparison.Ordinal);
            Assert.Contains(item.Summary, digestMail.HtmlBody, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Send_WithAWrongPassword_FailsWithAReason_AndNothingIsDelivered()
    {
        var options = new ClarityOptions { PublicUrl = EmailFixture.PublicUrl };
        var configured = Host.Server.Options.Smtp;
        options.Smtp = new SmtpOptions
        {
            Host = configured.Host, Port = configured.Port, From = configured.From, UseStartTls = true,
            User = SmtpSink.User, Password = "not-the-password", AcceptAnyCertificate = true,
        };
        var channel = new EmailChannel(
            Host.Services.GetRequiredService<NotificationTemplates>(), Host.Services.GetRequiredService<EmailAnswerLinkStore>(),
            Options.Create(options), TimeProvider.System, NullLogger<EmailChannel>.Instance);
        var before = fixture.Sink.Count;

        var outcome = await channel.SendAsync(await DeliveryAsync("oncall@example.org"), BaseView(NotificationEvents.TaskFailed, "Never sent"), CancellationToken.None);

        Assert.False(outcome.Sent);
        Assert.False(outcome.Retryable);
        Assert.Contains("credentials", outcome.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("not-the-password", outcome.Detail, StringComparison.Ordinal);
        Assert.Equal(before, fixture.Sink.Count);
    }

    [Fact]
    public async Task Send_WhenTheServerRejectsTheRecipient_Fails_AndWhenItDefers_Retries()
    {
        var rejected = await fixture.Channel.SendAsync(await DeliveryAsync("rejected@example.org"), BaseView(NotificationEvents.TaskFailed, "Rejected"), CancellationToken.None);
        Assert.False(rejected.Sent);
        Assert.False(rejected.Retryable);
        Assert.Contains("550", rejected.Detail, StringComparison.Ordinal);

        var deferred = await fixture.Channel.SendAsync(await DeliveryAsync("tempfail@example.org"), BaseView(NotificationEvents.TaskFailed, "Deferred"), CancellationToken.None);
        Assert.False(deferred.Sent);
        Assert.True(deferred.Retryable);
        Assert.Contains("451", deferred.Detail, StringComparison.Ordinal);

        var notAnAddress = await fixture.Channel.SendAsync(await DeliveryAsync("not an address"), BaseView(NotificationEvents.TaskFailed, "Nowhere"), CancellationToken.None);
        Assert.False(notAnAddress.Sent);
        Assert.False(notAnAddress.Retryable);
    }

    [Fact]
    public async Task Send_WhenNoServerListens_Retries()
    {
        var options = new ClarityOptions();
        options.Smtp = new SmtpOptions { Host = "127.0.0.1", Port = ClosedPort(), From = "clarity@example.test", UseStartTls = true, TimeoutSeconds = 10 };
        var channel = new EmailChannel(
            Host.Services.GetRequiredService<NotificationTemplates>(), Host.Services.GetRequiredService<EmailAnswerLinkStore>(),
            Options.Create(options), TimeProvider.System, NullLogger<EmailChannel>.Instance);

        var outcome = await channel.SendAsync(await DeliveryAsync("oncall@example.org"), BaseView(NotificationEvents.TaskFailed, "Nobody home"), CancellationToken.None);

        Assert.False(outcome.Sent);
        Assert.True(outcome.Retryable, outcome.Detail);
    }

    [Fact]
    public async Task Send_SeveralMailsInARow_GoOverOneConnection()
    {
        using var channel = NewChannel(TimeProvider.System);

        var ports = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            var sent = await channel.SendAsync(await DeliveryAsync($"oncall{i}@example.org"), BaseView(NotificationEvents.TaskFailed, $"Failure {i}"), CancellationToken.None);
            Assert.True(sent.Sent, sent.Detail);
            ports.Add(ClientPort(sent));
        }

        Assert.Single(ports.Distinct());
    }

    [Fact]
    public async Task Send_AfterTheKeptConnectionIsOlderThanReuseFor_OpensANewOne()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var channel = NewChannel(clock);

        var first = await channel.SendAsync(await DeliveryAsync("oncall@example.org"), BaseView(NotificationEvents.TaskFailed, "First"), CancellationToken.None);
        clock.Advance(EmailChannel.ReuseFor + TimeSpan.FromSeconds(1));
        var second = await channel.SendAsync(await DeliveryAsync("oncall@example.org"), BaseView(NotificationEvents.TaskFailed, "Second"), CancellationToken.None);

        Assert.True(first.Sent, first.Detail);
        Assert.True(second.Sent, second.Detail);
        Assert.NotEqual(ClientPort(first), ClientPort(second));
    }

    [Fact]
    public async Task Send_WhenTheServerClosedTheKeptConnection_SendsOnANewOne()
    {
        using var channel = NewChannel(TimeProvider.System);

        // The sink closes the connection after a message to "dropafter…"; the channel still holds it as kept.
        var first = await channel.SendAsync(await DeliveryAsync("dropafter@example.org"), BaseView(NotificationEvents.TaskFailed, "Then the server hangs up"), CancellationToken.None);
        var second = await channel.SendAsync(await DeliveryAsync("oncall@example.org"), BaseView(NotificationEvents.TaskFailed, "Sent all the same"), CancellationToken.None);

        Assert.True(first.Sent, first.Detail);
        Assert.True(second.Sent, second.Detail);
        Assert.NotEqual(ClientPort(first), ClientPort(second));
    }

    [Fact]
    public async Task AnswerLink_Get_ShowsTheQuestionWithTheOptionPreselected_AndChangesNothing()
    {
        var (_, question) = await AskAsync("Which region?", ["eu-west", "us-east"]);
        var token = await MailTokenAsync(question, "oncall@example.org");
        using var browser = Host.CreateClient();

        var page = await PageAsync(browser.GetAsync($"answer/{token}?option=1"), HttpStatusCode.OK);
        Assert.Contains("Which region?", page, StringComparison.Ordinal);
        Assert.Contains("Fix the login bug", page, StringComparison.Ordinal);
        Assert.Contains("build-bot", page, StringComparison.Ordinal);
        Assert.Contains("oncall@example.org", page, StringComparison.Ordinal);
        Assert.Matches("<button[^>]*value=\"1\"[^>]*class=\"btn btn-primary\"[^>]*>us-east</button>", page);
        Assert.Matches("<button[^>]*value=\"0\"[^>]*class=\"btn\"[^>]*>eu-west</button>", page);

        // A mail scanner that follows every link changes nothing.
        await PageAsync(browser.GetAsync($"answer/{token}?option=0"), HttpStatusCode.OK);
        Assert.Equal("pending", (await ClarificationAsync(question)).Str("status"));
    }

    [Fact]
    public async Task AnswerLink_Post_AnswersAsTheRecipientViaEmail_IsAudited_AndTheAgentsWaitReturnsIt()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var (lease, question) = await AskAsync("Ship it?", ["ship", "hold"]);
        var token = await MailTokenAsync(question, "Stranger@Example.org");
        var waiting = agent.GetAsync(Org.Api($"clarifications/{question.Str("id")}?waitSeconds=50"));
        using var browser = Host.CreateClient();

        var page = await PageAsync(browser.PostAsync($"answer/{token}", Form(("option", "1"))), HttpStatusCode.OK);

        Assert.Contains("Thanks, answer recorded", page, StringComparison.Ordinal);
        var answered = await waiting.ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("answered", "hold", "email", "stranger@example.org"),
            (answered.Str("status"), answered.Str("answer"), answered.Str("answeredVia"), answered.Str("answeredByName")));
        Assert.True(answered.IsNull("answeredBy"));
        Assert.Equal("running", (await agent.GetTaskAsync(Org, lease.TaskId)).Str("status"));

        using var owner = Host.CreateClient(Org.OwnerToken);
        var audit = await owner.GetAsync(Org.Api($"audit?action=clarification.answered&target=clarification:{question.Str("id")}")).ExpectAsync(HttpStatusCode.OK);
        var entry = Assert.Single(audit.GetProperty("items").EnumerateArray());
        Assert.Equal("system", entry.GetProperty("actor").Str("kind"));
        var after = entry.GetProperty("entry").GetProperty("after");
        Assert.Equal(("email", "stranger@example.org", "hold"), (after.Str("via"), after.Str("answeredBy"), after.Str("answer")));
    }

    [Fact]
    public async Task AnswerLink_OfAMember_AnswersAsThatMember()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var userId = (await owner.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK)).GetProperty("user").Str("id");
        var (_, question) = await AskAsync("What should the release be called?", null);
        var token = await MailTokenAsync(question, Org.OwnerEmail);
        using var browser = Host.CreateClient();

        // Free text when the question has no options; an empty answer is refused and changes nothing.
        var refused = await PageAsync(browser.PostAsync($"answer/{token}", Form(("answer", "   "))), HttpStatusCode.BadRequest);
        Assert.Contains("<textarea", refused, StringComparison.Ordinal);
        Assert.Equal("pending", (await ClarificationAsync(question)).Str("status"));

        await PageAsync(browser.PostAsync($"answer/{token}", Form(("answer", "Aurora"))), HttpStatusCode.OK);

        var answered = await ClarificationAsync(question);
        Assert.Equal(("Aurora", userId, Org.OwnerEmail, "email"),
            (answered.Str("answer"), answered.Str("answeredBy"), answered.Str("answeredByName"), answered.Str("answeredVia")));
        var audit = await owner.GetAsync(Org.Api($"audit?action=clarification.answered&target=clarification:{question.Str("id")}")).ExpectAsync(HttpStatusCode.OK);
        var actor = Assert.Single(audit.GetProperty("items").EnumerateArray()).GetProperty("actor");
        Assert.Equal(("user", userId), (actor.Str("kind"), actor.Str("id")));
    }

    [Fact]
    public async Task AnswerLink_Reused_ShowsWhoAnswered_AndChangesNothing()
    {
        var (_, question) = await AskAsync("Rollback?", ["yes", "no"]);
        var token = await MailTokenAsync(question, "first@example.org");
        using var browser = Host.CreateClient();
        await PageAsync(browser.PostAsync($"answer/{token}", Form(("option", "0"))), HttpStatusCode.OK);

        var again = await PageAsync(browser.PostAsync($"answer/{token}", Form(("option", "1"))), HttpStatusCode.Conflict);
        Assert.Contains("already answered by <strong>first@example.org</strong> via email", again, StringComparison.Ordinal);
        var shown = await PageAsync(browser.GetAsync($"answer/{token}"), HttpStatusCode.OK);
        Assert.Contains("Already answered", shown, StringComparison.Ordinal);
        Assert.DoesNotContain("<form", shown, StringComparison.Ordinal);
        Assert.Equal("yes", (await ClarificationAsync(question)).Str("answer"));
    }

    [Fact]
    public async Task AnswerLink_AfterAnAnswerThroughAnotherChannel_ShowsTheWinner_AndChangesNothing()
    {
        var (_, question) = await AskAsync("Merge now?", ["merge", "wait"]);
        var token = await MailTokenAsync(question, "late@example.org");
        using var owner = Host.CreateClient(Org.OwnerToken);
        await owner.PostAsJsonAsync(Org.Api($"clarifications/{question.Str("id")}/answer"), new { answer = "wait" }).ExpectAsync(HttpStatusCode.OK);
        using var browser = Host.CreateClient();

        var page = await PageAsync(browser.PostAsync($"answer/{token}", Form(("option", "0"))), HttpStatusCode.Conflict);

        Assert.Contains($"already answered by <strong>{Org.OwnerEmail}</strong> via api at ", page, StringComparison.Ordinal);
        Assert.Contains("<strong>wait</strong>", page, StringComparison.Ordinal);
        var stored = await ClarificationAsync(question);
        Assert.Equal(("wait", "api"), (stored.Str("answer"), stored.Str("answeredVia")));
    }

    [Fact]
    public async Task AnswerLink_OfAnExpiredQuestion_SaysItExpired_AndChangesNothing()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var (lease, question) = await AskAsync("Quick one?", ["a", "b"], expiresInSeconds: 1);
        // The mail was rendered while the question was open (its view says so); the question expires afterwards.
        var view = await ViewAsync(question) with { };
        view = view with { Question = view.Question! with { ExpiresAt = DateTimeOffset.UtcNow.AddHours(1) } };
        var token = await MailTokenAsync(view, "slow@example.org");
        await agent.WaitForStatusAsync(Org, lease.TaskId, "failed");
        using var browser = Host.CreateClient();

        var shown = await PageAsync(browser.GetAsync($"answer/{token}"), HttpStatusCode.OK);
        Assert.Contains("Question expired", shown, StringComparison.Ordinal);
        var posted = await PageAsync(browser.PostAsync($"answer/{token}", Form(("option", "0"))), HttpStatusCode.Conflict);
        Assert.Contains("expired", posted, StringComparison.Ordinal);
        var stored = await ClarificationAsync(question);
        Assert.Equal("expired", stored.Str("status"));
        Assert.True(stored.IsNull("answer"));
    }

    [Fact]
    public async Task AnswerLink_OfAnotherQuestion_CannotAnswerThisOne()
    {
        var (_, mine) = await AskAsync("Mine?", ["x", "y"]);
        var (_, other) = await AskAsync("Other?", ["x", "y"]);
        var token = await MailTokenAsync(mine, "someone@example.org");
        using var browser = Host.CreateClient();

        // Whatever the form names, the link answers only its own question.
        await PageAsync(browser.PostAsync($"answer/{token}", Form(("option", "1"), ("clarificationId", other.Str("id")), ("id", other.Str("id")))), HttpStatusCode.OK);

        Assert.Equal("y", (await ClarificationAsync(mine)).Str("answer"));
        Assert.Equal("pending", (await ClarificationAsync(other)).Str("status"));
    }

    [Fact]
    public async Task AnswerLink_ANewerMailForTheSameQuestion_LeavesTheOlderLinkWorking_AndTheFirstAnswerWins()
    {
        var (_, question) = await AskAsync("Keep both?", ["a", "b"]);
        var first = await MailTokenAsync(question, "twice@example.org");
        var reminder = await MailTokenAsync(question, "twice@example.org");
        Assert.NotEqual(first, reminder);
        using var browser = Host.CreateClient();
        Assert.Contains("<form", await PageAsync(browser.GetAsync($"answer/{reminder}"), HttpStatusCode.OK), StringComparison.Ordinal);

        // The first mail's link still answers after the reminder went out; the reminder's link then shows the winner.
        await PageAsync(browser.PostAsync($"answer/{first}", Form(("option", "1"))), HttpStatusCode.OK);
        var late = await PageAsync(browser.PostAsync($"answer/{reminder}", Form(("option", "0"))), HttpStatusCode.Conflict);
        Assert.Contains("already answered by <strong>twice@example.org</strong> via email", late, StringComparison.Ordinal);
        Assert.Equal("b", (await ClarificationAsync(question)).Str("answer"));
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%2B")]
    public async Task AnswerLink_MalformedOrUnknown_IsTheNotFoundPage(string token)
    {
        using var browser = Host.CreateClient();
        var shown = await PageAsync(browser.GetAsync($"answer/{token}"), HttpStatusCode.NotFound);
        Assert.Contains("Link not valid", shown, StringComparison.Ordinal);
        var posted = await PageAsync(browser.PostAsync($"answer/{token}", Form(("option", "0"))), HttpStatusCode.NotFound);
        Assert.Contains("Link not valid", posted, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnswerLink_TooLong_IsNeverA500()
    {
        using var browser = Host.CreateClient();
        using var response = await browser.GetAsync("answer/" + new string('A', 4000));
        Assert.True((int)response.StatusCode is 404 or 414, $"{(int)response.StatusCode}");
    }

    // --- helpers ---

    [GeneratedRegex(@"https://clarity\.example\.test/answer/[A-Za-z0-9_-]{43}")]
    private static partial Regex AnswerLink();

    private async Task<(Lease Lease, JsonElement Question)> AskAsync(string text, string[]? options, int expiresInSeconds = 3600)
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var lease = await agent.StartTaskAsync(Org);
        var body = new Dictionary<string, object?> { ["leaseToken"] = lease.Token, ["question"] = text, ["expiresInSeconds"] = expiresInSeconds };
        if (options is not null)
        {
            body["options"] = options;
        }

        var question = await agent.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/clarifications"), body).ExpectAsync(HttpStatusCode.Created);
        return (lease, question);
    }

    private async Task<JsonElement> ClarificationAsync(JsonElement question)
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        return await owner.GetAsync(Org.Api($"clarifications/{question.Str("id")}")).ExpectAsync(HttpStatusCode.OK);
    }

    private async Task<Guid> OrgIdAsync() =>
        (await Host.Services.GetRequiredService<IdentityStore>().FindOrgBySlugAsync(Org.Org, CancellationToken.None))!.Id;

    private async Task<NotificationDelivery> DeliveryAsync(string recipient) =>
        new(Guid.CreateVersion7(), await OrgIdAsync(), NotificationChannels.Email, recipient, null, 1, "corr-" + Guid.NewGuid().ToString("N")[..12]);

    private NotificationView BaseView(string type, string summary) => new()
    {
        EventType = type,
        EventSeq = 1,
        OrgId = Guid.Empty,
        OrgSlug = Org.Org,
        OccurredAt = DateTimeOffset.UtcNow,
        Summary = summary,
        Url = EmailFixture.PublicUrl + "/o/acme/tasks",
        TaskTitle = "Fix the login bug",
        AgentName = "build-bot",
    };

    private async Task<NotificationView> ViewAsync(JsonElement question)
    {
        var options = question.TryGetProperty("options", out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray().Select(o => o.GetString()!).ToList()
            : null;
        return BaseView(NotificationEvents.ClarificationAsked, "Question from agent build-bot: " + question.Str("question")) with
        {
            OrgId = await OrgIdAsync(),
            TaskId = Guid.Parse(question.Str("taskId")),
            Question = new NotificationQuestion(Guid.Parse(question.Str("id")), question.Str("question"), options,
                question.GetProperty("expiresAt").GetDateTimeOffset(), question.Str("onExpiry"), question.TryGetProperty("defaultAnswer", out var d) ? d.GetString() : null),
            LogUrl = EmailFixture.PublicUrl + "/o/acme/tasks/" + question.Str("taskId"),
        };
    }

    private async Task<string> MailTokenAsync(JsonElement question, string recipient) => await MailTokenAsync(await ViewAsync(question), recipient);

    /// <summary>Sends the question's mail through the channel and returns the answer link's token from the received mail.</summary>
    private async Task<string> MailTokenAsync(NotificationView view, string recipient)
    {
        var outcome = await fixture.Channel.SendAsync(await DeliveryAsync(recipient), view, CancellationToken.None);
        Assert.True(outcome.Sent, outcome.Detail);
        var text = fixture.Sink.Find(outcome.ExternalId!).Message.TextBody ?? "";
        var link = AnswerLink().Match(text);
        Assert.True(link.Success, text);
        return link.Value[(EmailFixture.PublicUrl + "/answer/").Length..];
    }

    private static FormUrlEncodedContent Form(params (string Name, string Value)[] fields) =>
        new(fields.Select(f => new KeyValuePair<string, string>(f.Name, f.Value)));

    /// <summary>The answer page's HTML, after checking its status and that it is a page (never a 500).</summary>
    private static async Task<string> PageAsync(Task<HttpResponseMessage> pending, HttpStatusCode status)
    {
        using var response = await pending;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode} (expected {(int)status}): {body}");
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        return body;
    }

    /// <summary>A channel of its own (its own kept connections) sending through the fixture's SMTP server.</summary>
    private EmailChannel NewChannel(TimeProvider clock)
    {
        var options = new ClarityOptions { PublicUrl = EmailFixture.PublicUrl, Smtp = Host.Server.Options.Smtp };
        return new EmailChannel(
            Host.Services.GetRequiredService<NotificationTemplates>(), Host.Services.GetRequiredService<EmailAnswerLinkStore>(),
            Options.Create(options), clock, NullLogger<EmailChannel>.Instance);
    }

    /// <summary>The client port of the connection the SMTP server received this mail on.</summary>
    private int ClientPort(DeliveryOutcome sent) => fixture.Sink.Find(sent.ExternalId!).Envelope.GetProperty("clientPort").GetInt32();

    private static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}

public sealed class SqliteEmailChannelTests(SqliteEmailFixture fixture) : EmailChannelTests(fixture), IClassFixture<SqliteEmailFixture>;

public sealed class PostgresEmailChannelTests(PostgresEmailFixture fixture) : EmailChannelTests(fixture), IClassFixture<PostgresEmailFixture>;
