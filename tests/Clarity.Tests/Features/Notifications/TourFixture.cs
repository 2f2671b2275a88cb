using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Tests.Features.Notifications.Email;
using Clarity.Tests.Features.Notifications.Slack;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Notifications;

/// <summary>
/// The README's "Questions that reach people" set-up, run for real: the built server (<c>dotnet clarity.dll serve</c>) as
/// a child process configured by the README's own <c>CLARITY_*</c> environment variables, sending mail to a real SMTP
/// server (aiosmtpd, <see cref="SmtpSink"/>) and talking to Slack's stand-in (<see cref="SlackStandIn"/>); the org
/// <c>acme</c> set up over HTTP as the API tour does (owner, an agent key with the member role), and the one org rule the
/// README shows (email to oncall@example.com and Slack #agents on clarification.asked). A second org, <c>globex</c>,
/// has no rule: the hostile tests ask their questions there so that the tour's mail and Slack traffic stay its own.
/// </summary>
public abstract class TourFixture(Backend backend) : IAsyncLifetime
{
    /// <summary>The README's PublicUrl: the links in mails and Slack messages point there; tests open their path on the server.</summary>
    public const string PublicUrl = "https://clarity.example.com";

    public const string OnCallAddress = "oncall@example.com";

    public const string SlackChannel = "#agents";

    /// <summary>The README's rule, byte for byte.</summary>
    public const string ReadmeRule =
        """{"events":["clarification.asked"],"channels":[{"type":"email","to":["oncall@example.com"]},{"type":"slack","channel":"#agents"}]}""";

    private string _dataDirectory = "";

    public Backend Backend => backend;

    public SmtpSink Smtp { get; private set; } = null!;

    public SlackStandIn Slack { get; private set; } = null!;

    public ServerProcess Server { get; private set; } = null!;

    public Uri BaseAddress => Server.BaseAddress;

    /// <summary>The owner's sign-in token ($TOKEN in the README).</summary>
    public string OwnerToken { get; private set; } = "";

    /// <summary>The agent's key, role member ($KEY in the README).</summary>
    public string AgentKey { get; private set; } = "";

    /// <summary>A member API key of globex.</summary>
    public string OtherOrgKey { get; private set; } = "";

    public async Task InitializeAsync()
    {
        Smtp = await SmtpSink.StartAsync();
        Slack = await SlackStandIn.StartAsync();
        Slack.AddChannel(SlackChannel);
        _dataDirectory = TestDatabases.NewTempDirectory();
        var database = backend == Backend.Postgres ? await TestDatabases.CreatePostgresAsync() : null;
        Server = await ServerProcess.StartAsync(_dataDirectory, database, new Dictionary<string, string>
        {
            // As the README starts it …
            ["CLARITY_PUBLICURL"] = PublicUrl,
            ["CLARITY_SMTP__HOST"] = "127.0.0.1",
            ["CLARITY_SMTP__FROM"] = "clarity@example.com",
            ["CLARITY_SMTP__USER"] = SmtpSink.User,
            ["CLARITY_SMTP__PASSWORD"] = SmtpSink.Password,
            ["CLARITY_SLACK__BOTTOKEN"] = Slack.BotToken,
            ["CLARITY_SLACK__SIGNINGSECRET"] = Slack.SigningSecret,
            // … and what only a test on loopback needs: the SMTP server's port and self-signed certificate, Slack's address.
            ["CLARITY_SMTP__PORT"] = Smtp.Port.ToString(CultureInfo.InvariantCulture),
            ["CLARITY_SMTP__ACCEPTANYCERTIFICATE"] = "true",
            ["CLARITY_SLACK__APIBASEURL"] = Slack.ApiBaseUrl,
        });

        (OwnerToken, AgentKey) = await ServerProcess.SetupOrgAsync(BaseAddress, "laptop-agent");
        using var owner = ClarityHost.ClientFor(BaseAddress, OwnerToken);
        using var rule = new StringContent(ReadmeRule, System.Text.Encoding.UTF8, "application/json");
        var created = await owner.PostAsync("api/v1/orgs/acme/notification-rules", rule).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal(["clarification.asked"], created.GetProperty("events").EnumerateArray().Select(e => e.GetString()));

        await owner.PostAsJsonAsync("api/v1/orgs", new { slug = "globex", name = "Globex" }).ExpectAsync(HttpStatusCode.Created);
        OtherOrgKey = (await owner.PostAsJsonAsync("api/v1/orgs/globex/api-keys", new { name = "globex-agent", role = "member" })
            .ExpectAsync(HttpStatusCode.Created)).Str("secret");
        Slack.AddChannel(OtherOrgSlackChannel);
        await owner.PostAsJsonAsync("api/v1/orgs/globex/notification-rules", new
        {
            events = new[] { "clarification.asked" },
            channels = new object[] { new { type = "email", to = new[] { OtherOrgAddress } }, new { type = "slack", channel = OtherOrgSlackChannel } },
        }).ExpectAsync(HttpStatusCode.Created);
        _globexQuestion = new Lazy<Task<PostedQuestion>>(AskInGlobexAsync);
    }

    public const string OtherOrgAddress = "hostile@example.com";

    public const string OtherOrgSlackChannel = "#globex";

    private Lazy<Task<PostedQuestion>> _globexQuestion = null!;

    /// <summary>
    /// One pending question of globex, asked once per fixture and delivered by mail and to Slack: every hostile request
    /// aims at it and must leave it pending (one question, so that globex's notifications never reach a digest).
    /// </summary>
    public Task<PostedQuestion> GlobexQuestionAsync() => _globexQuestion.Value;

    private async Task<PostedQuestion> AskInGlobexAsync()
    {
        using var agent = ClarityHost.ClientFor(BaseAddress, OtherOrgKey);
        var queue = Work.Unique("q");
        await agent.PostAsJsonAsync("api/v1/orgs/globex/tasks", new { queue, title = "Globex's task" }).ExpectAsync(HttpStatusCode.Created);
        var lease = await agent.PostAsJsonAsync("api/v1/orgs/globex/work/checkout", new { agent = "globex-bot", queues = new[] { queue } }).ExpectAsync(HttpStatusCode.OK);
        var text = "Globex: release? " + Work.UniqueWord("q");
        var question = await agent.PostAsJsonAsync($"api/v1/orgs/globex/tasks/{lease.GetProperty("task").Str("id")}/clarifications",
            new { leaseToken = lease.Str("leaseToken"), question = text, options = new[] { "approve", "reject" } }).ExpectAsync(HttpStatusCode.Created);

        var channelId = Slack.ChannelIdOf(OtherOrgSlackChannel);
        var slack = await WaitForDeliveryAsync("slack", ts => Slack.Message(channelId, ts)?.AllText.Contains(text, StringComparison.Ordinal) == true, "globex's question", "globex");
        var mail = await WaitForDeliveryAsync("email", id => Smtp.TryFind(id)?.Message.Subject?.Contains(text, StringComparison.Ordinal) == true, "globex's question", "globex");
        var body = Smtp.Find(mail.Str("externalId")).Message.TextBody ?? "";
        var token = System.Text.RegularExpressions.Regex.Match(body, "/answer/([A-Za-z0-9_-]{43})").Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(token), body);
        return new PostedQuestion(question.Str("id"), Slack.Message(channelId, slack.Str("externalId"))!, token);
    }

    /// <summary>Invites <paramref name="email"/> to <paramref name="org"/> with the role, and the person accepts (a new account).</summary>
    public async Task<Person> AddPersonAsync(string org, string role, string? email = null)
    {
        email ??= Work.Unique(role) + "@example.com";
        using var owner = ClarityHost.ClientFor(BaseAddress, OwnerToken);
        var invitation = await owner.PostAsJsonAsync($"api/v1/orgs/{org}/invitations", new { email, role }).ExpectAsync(HttpStatusCode.Created);
        using var anonymous = ClarityHost.ClientFor(BaseAddress, null);
        var accepted = await anonymous.PostAsJsonAsync("api/v1/invitations/accept", new { token = ClarityHost.TokenOf(invitation), password = ClarityHost.MemberPassword })
            .ExpectAsync(HttpStatusCode.OK);
        return new Person(Guid.Parse(accepted.GetProperty("user").Str("id")), email, accepted.Str("token"));
    }

    public HttpClient Owner() => ClarityHost.ClientFor(BaseAddress, OwnerToken);

    /// <summary>
    /// The sent delivery of <paramref name="channel"/> in acme's delivery log whose message satisfies <paramref name="match"/>
    /// (given the delivery's external id: the mail's Message-Id, the Slack message's ts); waits up to a minute for it.
    /// </summary>
    public async Task<JsonElement> WaitForDeliveryAsync(string channel, Func<string, bool> match, string what, string org = "acme")
    {
        using var owner = Owner();
        var deadline = DateTimeOffset.UtcNow.AddMinutes(1);
        while (true)
        {
            var page = await owner.GetAsync($"api/v1/orgs/{org}/notification-deliveries?channel={channel}&limit=200").ExpectAsync(HttpStatusCode.OK);
            foreach (var delivery in page.GetProperty("items").EnumerateArray())
            {
                if (delivery.Str("status") == "sent" && delivery.OptStr("externalId") is { } id && match(id))
                {
                    return delivery;
                }
            }

            Assert.True(DateTimeOffset.UtcNow < deadline, $"No {channel} delivery of {what} was sent. The log: {page}\nThe server said:\n{Server.OutputTail}");
            await Task.Delay(200);
        }
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Slack.DisposeAsync();
        await Smtp.DisposeAsync();
        TestDatabases.DeleteDirectory(_dataDirectory);
    }
}

/// <summary>A question of globex as delivered: its id, its Slack message and the answer link's token from its mail.</summary>
public sealed record PostedQuestion(string Id, SlackPosted Message, string Token);

public sealed class SqliteTourFixture() : TourFixture(Backend.Sqlite);

public sealed class PostgresTourFixture() : TourFixture(Backend.Postgres);

/// <summary>The tour and the hostile requests share one server per backend (and run one after the other).</summary>
[CollectionDefinition(Name)]
public sealed class SqliteTourCollection : ICollectionFixture<SqliteTourFixture>
{
    public const string Name = "Tour (SQLite)";
}

[CollectionDefinition(Name)]
public sealed class PostgresTourCollection : ICollectionFixture<PostgresTourFixture>
{
    public const string Name = "Tour (PostgreSQL)";
}
