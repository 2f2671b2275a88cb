using System.Text;
using Clarity.Features.Notifications.Slack;
using Xunit;

namespace Clarity.Tests.Features.Notifications.Slack;

/// <summary>The pure parts of the Slack channel: request signing (against Slack's documented example), channel names, button values.</summary>
public sealed class SlackUnitTests
{
    // Slack's worked example (api.slack.com/authentication/verifying-requests-from-slack).
    private const string DocumentedSecret = "8f742231b10e8888abcd99yyyzzz85a5";
    private const string DocumentedTimestamp = "1531420618";
    private const string DocumentedBody =
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA" +
        "&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554" +
        "%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    private const string DocumentedSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    private static readonly DateTimeOffset s_documentedMoment = DateTimeOffset.FromUnixTimeSeconds(1531420618);

    [Theory]
    [InlineData("https://hooks.slack.com/actions/T1/123/abc", "https://slack.com/api/", true)]
    [InlineData("https://HOOKS.slack.com/actions/T1/123/abc", "https://slack.com/api/", true)]
    [InlineData("http://127.0.0.1:5123/respond/abc", "http://127.0.0.1:5123/api/", true)]
    [InlineData("http://hooks.slack.com/actions/T1/123/abc", "https://slack.com/api/", false)]
    [InlineData("https://hooks.slack.com:8443/actions/T1/123/abc", "https://slack.com/api/", false)]
    [InlineData("https://hooks.slack.com.evil.example/actions", "https://slack.com/api/", false)]
    [InlineData("https://user:pw@hooks.slack.com/actions", "https://slack.com/api/", false)]
    [InlineData("https://169.254.169.254/latest/meta-data", "https://slack.com/api/", false)]
    [InlineData("http://127.0.0.1:5124/respond/abc", "http://127.0.0.1:5123/api/", false)]
    [InlineData("http://10.0.0.1:5123/respond/abc", "http://127.0.0.1:5123/api/", false)]
    [InlineData("/respond/abc", "https://slack.com/api/", false)]
    [InlineData(null, "https://slack.com/api/", false)]
    public void ResponseUrl_IsCalledOnlyOnSlacksHooksHost_OrTheConfiguredStandIn(string? url, string apiBaseUrl, bool allowed) =>
        Assert.Equal(allowed, SlackInteractivity.IsResponseUrl(url, apiBaseUrl));

    [Fact]
    public void Signature_OfSlacksDocumentedExample_IsTheDocumentedOne()
    {
        Assert.Equal(DocumentedSignature, SlackSignature.Compute(DocumentedSecret, DocumentedTimestamp, Encoding.UTF8.GetBytes(DocumentedBody)));
        Assert.Null(SlackSignature.Verify(DocumentedSecret, DocumentedTimestamp, DocumentedSignature, Encoding.UTF8.GetBytes(DocumentedBody), s_documentedMoment.AddSeconds(299), TimeSpan.FromMinutes(5)));
    }

    [Theory]
    [InlineData(DocumentedTimestamp, "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b504", 0)]
    [InlineData(DocumentedTimestamp, "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", 0)]
    [InlineData(DocumentedTimestamp, "", 0)]
    [InlineData("", DocumentedSignature, 0)]
    [InlineData("1531420618.5", DocumentedSignature, 0)]
    [InlineData("-1531420618", DocumentedSignature, 0)]
    [InlineData(DocumentedTimestamp, DocumentedSignature, 301)]
    [InlineData(DocumentedTimestamp, DocumentedSignature, -301)]
    public void Verify_RefusesAWrongSignature_AMissingOrMalformedHeader_AndATimestampOutsideTheTolerance(string timestamp, string signature, int secondsLater)
    {
        var refusal = SlackSignature.Verify(DocumentedSecret, timestamp, signature, Encoding.UTF8.GetBytes(DocumentedBody), s_documentedMoment.AddSeconds(secondsLater), TimeSpan.FromMinutes(5));
        Assert.NotNull(refusal);
    }

    [Fact]
    public void Verify_RefusesABodyChangedAfterSigning()
    {
        var body = Encoding.UTF8.GetBytes(DocumentedBody.Replace("roadrunner", "wile-e", StringComparison.Ordinal));
        Assert.NotNull(SlackSignature.Verify(DocumentedSecret, DocumentedTimestamp, DocumentedSignature, body, s_documentedMoment, TimeSpan.FromMinutes(5)));
    }

    [Theory]
    [InlineData("#ops", true)]
    [InlineData("#release-notes_2", true)]
    [InlineData("#général", true)]
    [InlineData("C0123ABCD", true)]
    [InlineData("G8PSS9T3V", true)]
    [InlineData("ops", false)]
    [InlineData("#", false)]
    [InlineData("#Ops", false)]
    [InlineData("#two words", false)]
    [InlineData("#a.b", false)]
    [InlineData("#<!channel>", false)]
    [InlineData("U2CERLKJA", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void IsValidChannel_AcceptsNamesAndChannelIds_Only(string? channel, bool valid) =>
        Assert.Equal(valid, SlackChannel.IsValidChannel(channel));

    [Fact]
    public void IsValidChannel_RefusesNamesOverEightyCharacters()
    {
        Assert.True(SlackChannel.IsValidChannel("#" + new string('a', 80)));
        Assert.False(SlackChannel.IsValidChannel("#" + new string('a', 81)));
    }

    [Fact]
    public void AnswerAction_RoundTripsThroughItsButtonValue_AndRejectsOtherValues()
    {
        var action = new SlackAnswerAction(Guid.CreateVersion7(), Guid.CreateVersion7(), 19);
        Assert.Equal(action, SlackAnswerAction.TryParse(action.Value));
        Assert.True(action.Value.Length < 2000);
        Assert.Null(SlackAnswerAction.TryParse(null));
        Assert.Null(SlackAnswerAction.TryParse("c1:nope"));
        Assert.Null(SlackAnswerAction.TryParse($"c2:{action.OrgId:N}:{action.ClarificationId:N}:1"));
        Assert.Null(SlackAnswerAction.TryParse($"c1:{action.OrgId:N}:{action.ClarificationId:N}:-1"));
    }

    [Fact]
    public void Mrkdwn_EscapesSlacksControlCharacters()
    {
        Assert.Equal("a &amp;lt; &lt;!here&gt; &amp; b", SlackMessages.Mrkdwn("a &lt; <!here> & b"));
        Assert.Equal(150, SlackMessages.Truncate(new string('x', 400), 150).Length);
    }
}
