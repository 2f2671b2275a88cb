using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Clarity.Tests.Features.Mcp;
using Clarity.Tests.Features.Notifications.Email;
using Clarity.Tests.Features.Notifications.Slack;
using Clarity.Tests.Infrastructure;
using MimeKit;
using Xunit;

namespace Clarity.Tests.Features.Notifications;

/// <summary>
/// The README's tour of issue 12, end to end: an agent connected over MCP (the official TypeScript SDK, over Streamable
/// HTTP as <c>claude mcp add --transport http</c> connects, and over stdio through <c>clarity mcp</c> as the README's
/// <c>.mcp.json</c> does) logs two lines and calls <c>ask_human</c> with options, and waits. Meanwhile the README's rule
/// sends the question by mail (to a real SMTP server) and to Slack (the stand-in); a member clicks an option in Slack,
/// Slack sends the signed callback, and the answer reaches the waiting agent. Then the Slack message shows who answered,
/// and the mail's answer link says the question was already answered via Slack and changes nothing.
/// </summary>
public abstract partial class TourTests<TFixture>(TFixture fixture)
    where TFixture : TourFixture
{
    private SlackStandIn Slack => fixture.Slack;

    [Fact]
    public async Task Tour_McpOverHttp_AskHuman_ReachesEmailAndSlack_AndTheSlackClickAnswersTheAgent() =>
        await TourAsync(calls => McpNodeClient.HttpAsync(fixture.BaseAddress, fixture.AgentKey, calls));

    [Fact]
    public async Task Tour_McpOverStdioRelay_AskHuman_ReachesEmailAndSlack_AndTheSlackClickAnswersTheAgent() =>
        await TourAsync(calls => McpNodeClient.StdioAsync(fixture.BaseAddress, fixture.AgentKey, calls));

    private async Task TourAsync(Func<object, Task<McpNodeClient>> connect)
    {
        // A member whose Slack account has the same email as their Clarity account.
        var person = await fixture.AddPersonAsync("acme", "member");
        var slackUser = Slack.AddUser(person.Email);
        var question = "Mention the breaking change? " + Work.UniqueWord("q");

        // The agent: two log lines, then ask_human with options, waiting for the answer (no wait:false).
        await using var agent = await connect(new object[]
        {
            new { tool = "log", arguments = (object)new { text = "collecting merged pull requests" } },
            new { tool = "log", arguments = (object)new { text = "found 42 changes" } },
            new { tool = "ask_human", arguments = (object)new { question, options = new[] { "yes", "no" } } },
        });
        Assert.False((await agent.NextAsync("result", 0)).GetProperty("isError").GetBoolean());
        Assert.False((await agent.NextAsync("result", 1)).GetProperty("isError").GetBoolean());
        await agent.NextAsync("asking", 2);

        // The mail arrives.
        var mailDelivery = await fixture.WaitForDeliveryAsync("email", id => fixture.Smtp.TryFind(id)?.Message.Subject?.Contains(question, StringComparison.Ordinal) == true, "the question's mail");
        Assert.Equal(TourFixture.OnCallAddress, mailDelivery.Str("recipient"));
        var mail = fixture.Smtp.Find(mailDelivery.Str("externalId"));
        var token = AssertQuestionMail(mail, question);

        // The Slack message arrives, with the options as buttons.
        var channelId = Slack.ChannelIdOf(TourFixture.SlackChannel);
        var slackDelivery = await fixture.WaitForDeliveryAsync("slack", ts => Slack.Message(channelId, ts)?.AllText.Contains(question, StringComparison.Ordinal) == true, "the question's Slack message");
        Assert.Equal(TourFixture.SlackChannel, slackDelivery.Str("recipient"));
        var message = Slack.Message(channelId, slackDelivery.Str("externalId"))!;
        AssertQuestionMessage(message, question);
        var post = Assert.Single(Slack.CallsOf("chat.postMessage"), c => c.Body.ToJsonString().Contains(question, StringComparison.Ordinal));
        Assert.Equal((Slack.BotToken, TourFixture.SlackChannel), (post.Token, (string?)post.Body["channel"]));

        // The member clicks "yes" in Slack: Slack signs the callback and posts it to the interactivity URL.
        var (clicked, responseUrl) = await Slack.ClickAsync(fixture.BaseAddress, message, "yes", slackUser);
        Assert.Equal(HttpStatusCode.OK, clicked.StatusCode);
        var reply = Assert.Single(await Slack.RepliesToAsync(responseUrl));
        Assert.Equal("ephemeral", (string?)reply["response_type"]);
        Assert.Contains("You answered *yes*", (string?)reply["text"], StringComparison.Ordinal);

        // The agent's ask_human returns the answer, and who gave it.
        var result = await agent.NextAsync("result", 2);
        Assert.False(result.GetProperty("isError").GetBoolean(), result.ToString());
        var answer = result.GetProperty("structured");
        Assert.Equal(("answered", "yes", question), (answer.Str("status"), answer.Str("answer"), answer.Str("question")));
        Assert.Equal((person.UserId.ToString(), person.Email), (answer.GetProperty("answeredBy").Str("id"), answer.GetProperty("answeredBy").Str("email")));
        Assert.Equal("slack", answer.Str("answeredVia"));
        Assert.False(answer.GetProperty("defaultApplied").GetBoolean());
        var text = JsonDocument.Parse(result.Str("text")).RootElement;
        Assert.Equal(("yes", "slack"), (text.Str("answer"), text.Str("answeredVia")));
        var clarificationId = answer.Str("clarificationId");

        // The question says who answered, through which channel; it was answered once.
        using var owner = fixture.Owner();
        var stored = await owner.GetAsync($"api/v1/orgs/acme/clarifications/{clarificationId}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("answered", "yes", "slack", person.Email, person.UserId.ToString()),
            (stored.Str("status"), stored.Str("answer"), stored.Str("answeredVia"), stored.Str("answeredByName"), stored.Str("answeredBy")));

        // The Slack message is updated in place: no buttons, and who answered, via Slack.
        await Slack.WaitForAsync("chat.update", c => (string?)c.Body["ts"] == message.Ts, "the chat.update of the answered question");
        Assert.Empty(message.Buttons);
        Assert.Contains($"Answered by {person.Email} via slack", message.AllText, StringComparison.Ordinal);
        Assert.Contains("*yes*", message.AllText, StringComparison.Ordinal);

        // The mail's answer link now says who answered, via Slack, and answering through it changes nothing.
        using var browser = ClarityHost.ClientFor(fixture.BaseAddress, null);
        var shown = await PageAsync(browser.GetAsync($"answer/{token}?option=1"), HttpStatusCode.OK);
        Assert.Contains("Already answered", shown, StringComparison.Ordinal);
        Assert.Contains($"already answered by <strong>{person.Email}</strong> via slack at ", shown, StringComparison.Ordinal);
        Assert.DoesNotContain("<form", shown, StringComparison.Ordinal);
        var late = await PageAsync(browser.PostAsync($"answer/{token}", new FormUrlEncodedContent([new("option", "1")])), HttpStatusCode.Conflict);
        Assert.Contains($"already answered by <strong>{person.Email}</strong> via slack", late, StringComparison.Ordinal);
        var after = await owner.GetAsync($"api/v1/orgs/acme/clarifications/{clarificationId}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("yes", "slack"), (after.Str("answer"), after.Str("answeredVia")));
        var audit = await owner.GetAsync($"api/v1/orgs/acme/audit?target=clarification:{clarificationId}&action=clarification.answered").ExpectAsync(HttpStatusCode.OK);
        Assert.Single(audit.GetProperty("items").EnumerateArray());

        // The agent's session ends, and with it the session's task, which held the question.
        await agent.NextAsync("closed");
        await owner.WaitForTaskAsync(new OrgSession("acme", "", fixture.OwnerToken, new Dictionary<string, string>()), stored.Str("taskId"), t => t.Str("status") == "succeeded", "succeeded");
    }

    /// <summary>The question's mail: multipart text + HTML, the question, the task, the last log lines and a link per option; returns the answer link's token.</summary>
    private static string AssertQuestionMail(ReceivedMail mail, string question)
    {
        Assert.True(mail.Envelope.GetProperty("tls").GetBoolean());
        Assert.Equal(SmtpSink.User, mail.Envelope.Str("authenticatedAs"));
        Assert.Equal([TourFixture.OnCallAddress], mail.Envelope.GetProperty("rcptTos").EnumerateArray().Select(r => r.GetString()));
        var message = mail.Message;
        Assert.Equal("clarity@example.com", message.From.Mailboxes.Single().Address);
        Assert.Equal(TourFixture.OnCallAddress, message.To.Mailboxes.Single().Address);
        Assert.Equal($"[Clarity] Question from mcp:clarity-test-agent: {question}", message.Subject);
        Assert.Equal("clarification.asked", message.Headers["X-Clarity-Event"]);

        var alternative = Assert.IsType<MultipartAlternative>(message.Body);
        var parts = alternative.OfType<TextPart>().ToList();
        Assert.Equal(["text/plain", "text/html"], parts.Select(p => p.ContentType.MimeType));
        var text = parts[0].Text;
        var html = WebUtility.HtmlDecode(parts[1].Text);
        foreach (var body in new[] { text, html })
        {
            Assert.Contains(question, body, StringComparison.Ordinal);
            Assert.Contains("MCP session: clarity-test-agent 1.2.3", body, StringComparison.Ordinal);
            Assert.Contains("mcp:clarity-test-agent", body, StringComparison.Ordinal);
            Assert.Contains("collecting merged pull requests", body, StringComparison.Ordinal);
            Assert.Contains("found 42 changes", body, StringComparison.Ordinal);
        }

        Assert.Matches($@"\n  {Regex.Escape(question)}\r?\n\r?\nAnswers \(each link", text);
        var link = AnswerLink().Match(text);
        Assert.True(link.Success, text);
        Assert.Contains($"yes: {link.Value}?option=0", text, StringComparison.Ordinal);
        Assert.Contains($"no: {link.Value}?option=1", text, StringComparison.Ordinal);
        Assert.Contains($"href=\"{link.Value}?option=0\"", html, StringComparison.Ordinal);
        Assert.Contains($"href=\"{link.Value}?option=1\"", html, StringComparison.Ordinal);
        Assert.Contains(">yes</a>", html, StringComparison.Ordinal);
        return link.Groups["token"].Value;
    }

    /// <summary>The question's Slack message: Block Kit with a header, the question, the task and log lines, and a button per option.</summary>
    private static void AssertQuestionMessage(SlackPosted message, string question)
    {
        Assert.Contains(message.Blocks, b => (string?)b!["type"] == "header");
        Assert.Equal(["yes", "no", "Open in Clarity", "View the log"], message.Buttons.Select(b => (string?)b["text"]!["text"]));
        Assert.All(message.Buttons.Take(2), b => Assert.StartsWith("clarity_answer_", (string?)b["action_id"], StringComparison.Ordinal));
        Assert.All(message.Buttons.Skip(2), b => Assert.StartsWith(TourFixture.PublicUrl + "/o/acme/", (string?)b["url"], StringComparison.Ordinal));
        Assert.Contains(question, message.AllText, StringComparison.Ordinal);
        Assert.Contains("MCP session: clarity-test-agent 1.2.3", message.AllText, StringComparison.Ordinal);
        Assert.Contains("found 42 changes", message.AllText, StringComparison.Ordinal);
    }

    /// <summary>The answer page's HTML, after checking its status (never a 500) and that it is a page.</summary>
    private static async Task<string> PageAsync(Task<HttpResponseMessage> pending, HttpStatusCode status)
    {
        using var response = await pending;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode} (expected {(int)status}): {body}");
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        return body;
    }

    [GeneratedRegex(@"https://clarity\.example\.com/answer/(?<token>[A-Za-z0-9_-]{43})")]
    private static partial Regex AnswerLink();
}

[Collection(SqliteTourCollection.Name)]
public sealed class SqliteTourTests(SqliteTourFixture fixture) : TourTests<SqliteTourFixture>(fixture);

[Collection(PostgresTourCollection.Name)]
public sealed class PostgresTourTests(PostgresTourFixture fixture) : TourTests<PostgresTourFixture>(fixture);
