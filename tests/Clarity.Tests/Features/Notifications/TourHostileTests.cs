using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Clarity.Features.Notifications.Slack;
using Clarity.Tests.Features.Notifications.Slack;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Notifications;

/// <summary>
/// Hostile requests at the public endpoints the tour crosses (the Slack interactivity callback and the email answer
/// page), against the tour's server: each is refused with the right status (a problem+json for the callback, the page for
/// the answer link) and leaves globex's pending question exactly as it was. Complements SlackChannelTests (bad, missing
/// and stale signatures, a tampered body, the same callback twice, unmapped users, viewers) and EmailChannelTests
/// (malformed, unknown and over-long tokens, another question's id in the form).
/// </summary>
public abstract class TourHostileTests<TFixture>(TFixture fixture)
    where TFixture : TourFixture
{
    private SlackStandIn Slack => fixture.Slack;

    [Fact]
    public async Task SlackCallback_OverTheSizeLimit_Is413_WithOrWithoutContentLength_AndChangesNothing()
    {
        var question = await fixture.GlobexQuestionAsync();
        var padding = new string('a', SlackInteractivity.MaxBodyBytes);
        foreach (var chunked in new[] { false, true })
        {
            using var request = Signed(Encoding.UTF8.GetBytes("payload=%7B%7D&pad=" + padding));
            if (chunked)
            {
                request.Content = new StreamContent(new MemoryStream(await request.Content!.ReadAsByteArrayAsync()));
                request.Content.Headers.ContentType = new("application/x-www-form-urlencoded");
                request.Headers.TransferEncodingChunked = true;
            }

            await SendAsync(request).ExpectProblemAsync(HttpStatusCode.RequestEntityTooLarge, "too-large");
        }

        await AssertUnchangedAsync(question);
    }

    [Theory]
    [InlineData("payload=%7Bnot%20json")]
    [InlineData("payload=%5B1%2C2%5D")]
    [InlineData("payload=")]
    [InlineData("nothing=here")]
    [InlineData("payload=%7B%7D&payload=%7B%7D")]
    [InlineData("payload=%7B%22type%22%3A%22block_actions%22%2C%22actions%22%3A%5B%7B%22action_id%22%3A%22clarity_answer_0%22%2C%22value%22%3A%22c1%3Anot-an-id%3A0%22%7D%5D%7D")]
    public async Task SlackCallback_SignedButMalformed_Is400_AndChangesNothing(string body)
    {
        var question = await fixture.GlobexQuestionAsync();
        using var request = Signed(Encoding.UTF8.GetBytes(body));
        await SendAsync(request).ExpectProblemAsync(HttpStatusCode.BadRequest, "slack-payload");
        await AssertUnchangedAsync(question);
    }

    [Fact]
    public async Task SlackCallback_SignedButNotUtf8_Is400_AndChangesNothing()
    {
        var question = await fixture.GlobexQuestionAsync();
        using var request = Signed([.. "payload="u8.ToArray(), 0xC3, 0x28, .. "%7B%7D"u8.ToArray()]);
        await SendAsync(request).ExpectProblemAsync(HttpStatusCode.BadRequest, "slack-payload");
        await AssertUnchangedAsync(question);
    }

    [Fact]
    public async Task SlackCallback_FromTheFuture_OrReplayedWithAFreshTimestamp_Is401_AndChangesNothing()
    {
        var question = await fixture.GlobexQuestionAsync();
        var member = await GlobexMemberAsync();

        // Signed correctly, but six minutes ahead of the server's clock.
        var future = DateTimeOffset.UtcNow.AddMinutes(6).ToUnixTimeSeconds();
        var (ahead, _) = await Slack.ClickAsync(fixture.BaseAddress, question.Message, "approve", member, timestamp: future);
        await Task.FromResult(ahead).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");

        // A captured callback (signed ten minutes ago) sent again with the timestamp header moved to now: the signature
        // covers the timestamp, so it no longer matches.
        var old = DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeSeconds();
        var (replayed, responseUrl) = await Slack.ClickAsync(fixture.BaseAddress, question.Message, "approve", member, timestamp: old, tamper: r =>
        {
            r.Headers.Remove(SlackSignature.TimestampHeader);
            r.Headers.Add(SlackSignature.TimestampHeader, DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
        });
        await Task.FromResult(replayed).ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Empty(Slack.RepliesTo(responseUrl));
        await AssertUnchangedAsync(question);
    }

    [Fact]
    public async Task SlackCallback_ForAnotherOrgsQuestion_ByAMemberOfAcmeOnly_RecordsNothing()
    {
        var question = await fixture.GlobexQuestionAsync();
        var acmeMember = await fixture.AddPersonAsync("acme", "owner");
        var slackUser = Slack.AddUser(acmeMember.Email);

        var (response, responseUrl) = await Slack.ClickAsync(fixture.BaseAddress, question.Message, "reject", slackUser);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reply = (string?)Assert.Single(await Slack.RepliesToAsync(responseUrl))["text"];
        Assert.Contains("not linked to a member of *globex*", reply, StringComparison.Ordinal);
        Assert.Contains("nothing was recorded", reply, StringComparison.Ordinal);
        await AssertUnchangedAsync(question);
    }

    [Fact]
    public async Task SlackCallback_NamingTheQuestionUnderAnotherOrg_SaysItDoesNotExist_AndRecordsNothing()
    {
        var question = await fixture.GlobexQuestionAsync();
        var member = await GlobexMemberAsync();
        var forged = (JsonObject)question.Message.Message.DeepClone();
        foreach (var button in forged["blocks"]!.AsArray().OfType<JsonObject>().Where(b => (string?)b["type"] == "actions")
            .SelectMany(b => b["elements"]!.AsArray().OfType<JsonObject>()).Where(b => b["value"] is not null))
        {
            var parts = ((string)button["value"]!).Split(':');
            button["value"] = $"{parts[0]}:{Guid.NewGuid():N}:{parts[2]}:{parts[3]}";
        }

        var message = new SlackPosted(question.Message.ChannelId, question.Message.Ts, forged);
        var (response, responseUrl) = await Slack.ClickAsync(fixture.BaseAddress, message, "approve", member);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("no longer exists", (string?)Assert.Single(await Slack.RepliesToAsync(responseUrl))["text"], StringComparison.Ordinal);
        await AssertUnchangedAsync(question);
    }

    [Fact]
    public async Task AnswerPage_PostedFromAnotherSite_Is403_AndChangesNothing()
    {
        var question = await fixture.GlobexQuestionAsync();
        using var browser = ClarityHost.ClientFor(fixture.BaseAddress, null);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"answer/{question.Token}") { Content = new FormUrlEncodedContent([new("option", "0")]) };
        request.Headers.Add("Origin", "https://evil.example");
        using var response = await browser.SendAsync(request);
        var page = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("another site", page, StringComparison.Ordinal);
        await AssertUnchangedAsync(question);

        // The link still works from the page itself (a GET shows the form).
        using var shown = await browser.GetAsync($"answer/{question.Token}");
        Assert.Equal(HttpStatusCode.OK, shown.StatusCode);
        Assert.Contains("<form", await shown.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnswerPage_OversizeOrMalformedForm_IsA400Page_AndChangesNothing()
    {
        var question = await fixture.GlobexQuestionAsync();
        using var browser = ClarityHost.ClientFor(fixture.BaseAddress, null);
        foreach (var content in new HttpContent[]
        {
            new FormUrlEncodedContent([new("option", "7")]),
            new FormUrlEncodedContent([new("option", "-1")]),
            new FormUrlEncodedContent([new("option", "zero")]),
            new StringContent("{\"option\":0}", Encoding.UTF8, "application/json"),
            new StringContent("option=0&" + new string('x', 2 * 1024 * 1024), Encoding.UTF8, "application/x-www-form-urlencoded"),
        })
        {
            using (content)
            using (var response = await browser.PostAsync($"answer/{question.Token}", content))
            {
                var body = await response.Content.ReadAsStringAsync();
                Assert.True((int)response.StatusCode is 400 or 413, $"{(int)response.StatusCode}: {body}");
            }
        }

        await AssertUnchangedAsync(question);
    }

    /// <summary>A member of globex whose Slack account carries their email: their clicks would count, if the request were genuine.</summary>
    private async Task<string> GlobexMemberAsync() => Slack.AddUser((await fixture.AddPersonAsync("globex", "member")).Email);

    /// <summary>A callback to the interactivity URL, signed now with the app's secret, with <paramref name="body"/> as the form.</summary>
    private HttpRequestMessage Signed(byte[] body)
    {
        var ts = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(fixture.BaseAddress, SlackEndpoints.InteractivityPath.TrimStart('/'))) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new("application/x-www-form-urlencoded");
        request.Headers.Add(SlackSignature.TimestampHeader, ts);
        request.Headers.Add(SlackSignature.SignatureHeader, SlackSignature.Compute(Slack.SigningSecret, ts, body));
        return request;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request)
    {
        using var client = new HttpClient();
        return await client.SendAsync(request);
    }

    /// <summary>The question is still pending, unanswered, with no answer audited, and its Slack message still has its buttons.</summary>
    private async Task AssertUnchangedAsync(PostedQuestion question)
    {
        using var owner = fixture.Owner();
        var stored = await owner.GetAsync($"api/v1/orgs/globex/clarifications/{question.Id}").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("pending", stored.Str("status"));
        Assert.True(stored.IsNull("answer"));
        var audit = await owner.GetAsync($"api/v1/orgs/globex/audit?target=clarification:{question.Id}&action=clarification.answered").ExpectAsync(HttpStatusCode.OK);
        Assert.Empty(audit.GetProperty("items").EnumerateArray());
        Assert.Equal(["approve", "reject"], question.Message.Buttons.Take(2).Select(b => (string?)b["text"]!["text"]));
    }
}

[Collection(SqliteTourCollection.Name)]
public sealed class SqliteTourHostileTests(SqliteTourFixture fixture) : TourHostileTests<SqliteTourFixture>(fixture);

[Collection(PostgresTourCollection.Name)]
public sealed class PostgresTourHostileTests(PostgresTourFixture fixture) : TourHostileTests<PostgresTourFixture>(fixture);
