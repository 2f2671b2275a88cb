using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Events;
using Clarity.Features.Notifications;
using Clarity.Hosting;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Notifications.Core;

/// <summary>
/// A host whose email, Slack and web push channels are recording test channels (the webhook channel is the real one),
/// that retries quickly, groups a burst after 3 deliveries in a 3-second window, and polls often.
/// </summary>
public abstract class NotificationFixture(Backend backend) : HostFixture(backend, Settings), IAsyncLifetime
{
    public static readonly Dictionary<string, string?> Settings = new()
    {
        ["Clarity:Notifications:RetrySchedule"] = "300ms,300ms",
        ["Clarity:Notifications:DigestThreshold"] = "3",
        ["Clarity:Notifications:DigestWindowSeconds"] = "3",
        ["Clarity:Notifications:PollMilliseconds"] = "100",
        ["Clarity:Webhooks:AllowPrivateNetworks"] = "true",
        ["Clarity:PublicUrl"] = "https://clarity.example.com",
    };

    public RecordingChannel Email { get; } = new(NotificationChannels.Email);

    public RecordingChannel Slack { get; } = new(NotificationChannels.Slack);

    public RecordingChannel WebPush { get; } = new(NotificationChannels.WebPush);

    public new async Task InitializeAsync()
    {
        await base.InitializeAsync();
        var registry = Host.Services.GetRequiredService<NotificationChannelRegistry>();
        registry.Use(Email);
        registry.Use(Slack);
        registry.Use(WebPush);
    }
}

public sealed class SqliteNotificationFixture() : NotificationFixture(Backend.Sqlite);

public sealed class PostgresNotificationFixture() : NotificationFixture(Backend.Postgres);

/// <summary>
/// Notification rules, preferences and deliveries end to end: the API, the fan-out from the outbox, the sender and the
/// delivery log. Each test works in its own queue (its rules filter by it) and with its own recipients, so the tests of
/// a class share the host without seeing each other's deliveries.
/// </summary>
public abstract class NotificationTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : NotificationFixture
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    // ---- rules: validation and permissions

    public static TheoryData<string, string> BadRules => new()
    {
        { """{"events":[],"channels":[{"type":"slack","channel":"#ops"}]}""", "events" },
        { """{"events":["task.exploded"],"channels":[{"type":"slack","channel":"#ops"}]}""", "events[0]" },
        { """{"events":["task.failed","nope"],"channels":[{"type":"slack","channel":"#ops"}]}""", "events[1]" },
        { """{"events":["task.failed"]}""", "channels" },
        { """{"events":["task.failed"],"channels":[{"type":"pigeon"}]}""", "channels[0].type" },
        { """{"events":["task.failed"],"channels":[{"type":"email","to":["ok@example.com","not an address"]}]}""", "channels[0].to[1]" },
        { """{"events":["task.failed"],"channels":[{"type":"email","to":["Ann <ann@example.com>"]}]}""", "channels[0].to[0]" },
        { """{"events":["task.failed"],"channels":[{"type":"email"}]}""", "channels[0].to" },
        { """{"events":["task.failed"],"channels":[{"type":"slack","channel":"general"}]}""", "channels[0].channel" },
        { """{"events":["task.failed"],"channels":[{"type":"slack","channel":"https://hooks.evil.example/services/x"}]}""", "channels[0].channel" },
        { """{"events":["task.failed"],"channels":[{"type":"slack","channel":"#ops"},{"type":"webpush","users":["not-a-guid"]}]}""", "channels[1].users[0]" },
        { """{"events":["task.failed"],"channels":[{"type":"webpush","users":["0196f2a0-0000-7000-8000-000000000001"]}]}""", "channels[0].users[0]" },
        { """{"events":["task.failed"],"channels":[{"type":"webhook","endpoint":"nope"}]}""", "channels[0].endpoint" },
        { """{"events":["task.failed"],"channels":[{"type":"webhook","endpoint":"0196f2a0-0000-7000-8000-000000000001"}]}""", "channels[0].endpoint" },
        { """{"events":["task.failed"],"channels":[{"type":"slack","channel":"#ops"}],"filters":{"queues":["bad queue"]}}""", "filters.queues[0]" },
        { """{"events":["task.failed"],"channels":[{"type":"slack","channel":"#ops"}],"filters":{"workflows":["/etc"]}}""", "filters.workflows[0]" },
    };

    [Theory]
    [MemberData(nameof(BadRules))]
    public async Task CreateRule_WithABadField_Is400NamingIt(string body, string field)
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var problem = await owner.PostAsync(Org.Api("notification-rules"), new StringContent(body, System.Text.Encoding.UTF8, "application/json"))
            .ExpectProblemAsync(HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"expected the problem to name {field}: {problem}");
    }

    [Fact]
    public async Task CreateRule_WithAnotherOrgsWebhookEndpoint_Is400LikeAMissingOne()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var theirs = await owner.PostAsJsonAsync(fixture.OtherOrg.Api("webhooks"), new { url = "http://127.0.0.1:9/hook", events = new[] { "*" } })
            .ExpectAsync(HttpStatusCode.Created);
        var problem = await owner.PostAsJsonAsync(Org.Api("notification-rules"), new
        {
            events = new[] { "task.failed" },
            channels = new object[] { new { type = "webhook", endpoint = theirs.Str("id") } },
        }).ExpectProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal("channels[0].endpoint: is not a webhook endpoint of this org.", problem.Str("detail"));
    }

    [Fact]
    public async Task OrgRules_CreateListGetPatchDelete_AndAnotherOrgSeesNone()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var created = await owner.PostAsJsonAsync(Org.Api("notification-rules"), new
        {
            name = "ops",
            events = new[] { "task.succeeded", "task.failed" },
            channels = new object[] { new { type = "email", to = new[] { "Ops@Example.com" } }, new { type = "slack", channel = "#ops" } },
            filters = new { queues = new[] { "deploy" } },
        }).ExpectAsync(HttpStatusCode.Created);
        var id = created.Str("id");
        Assert.Equal(["task.failed", "task.succeeded"], created.GetProperty("events").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("ops@example.com", created.GetProperty("channels")[0].GetProperty("to")[0].GetString());
        Assert.False(created.GetProperty("personal").GetBoolean());

        var list = await owner.GetAsync(Org.Api("notification-rules")).ExpectAsync(HttpStatusCode.OK);
        Assert.Contains(list.GetProperty("items").EnumerateArray(), r => r.Str("id") == id);
        var patched = await owner.PatchAsJsonAsync(Org.Api($"notification-rules/{id}"), new { enabled = false }).ExpectAsync(HttpStatusCode.OK);
        Assert.False(patched.GetProperty("enabled").GetBoolean());
        Assert.Equal("ops", patched.Str("name"));

        await owner.GetAsync(fixture.OtherOrg.Api($"notification-rules/{id}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await owner.DeleteAsync(fixture.OtherOrg.Api($"notification-rules/{id}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await owner.DeleteAsync(Org.Api($"notification-rules/{id}")).ExpectAsync(HttpStatusCode.NoContent);
        await owner.GetAsync(Org.Api($"notification-rules/{id}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Viewer_CannotMakeOrgRules_ButMakesPersonalOnesThatNameOnlyThemselves()
    {
        var viewer = await Host.AddPersonAsync(Org, BuiltInRoles.Viewer);
        using var client = Host.CreateClient(viewer.Token);
        var rule = new { events = new[] { "clarification.asked" }, channels = new object[] { new { type = "email" } }, filters = new { queues = new[] { Work.Unique("q") } } };
        await client.PostAsJsonAsync(Org.Api("notification-rules"), rule).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await client.GetAsync(Org.Api("notification-deliveries")).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");

        var mine = await client.PostAsJsonAsync(Org.Api("me/notification-rules"), rule).ExpectAsync(HttpStatusCode.Created);
        Assert.True(mine.GetProperty("personal").GetBoolean());
        Assert.Equal(viewer.Email.ToLowerInvariant(), mine.GetProperty("channels")[0].GetProperty("to")[0].GetString());

        var someoneElse = await client.PostAsJsonAsync(Org.Api("me/notification-rules"), new
        {
            events = new[] { "clarification.asked" },
            channels = new object[] { new { type = "email", to = new[] { viewer.Email, "boss@example.com" } } },
        }).ExpectProblemAsync(HttpStatusCode.BadRequest);
        Assert.True(someoneElse.GetProperty("errors").TryGetProperty("channels[0].to[1]", out _), someoneElse.ToString());
        var slack = await client.PostAsJsonAsync(Org.Api("me/notification-rules"), new
        {
            events = new[] { "clarification.asked" },
            channels = new object[] { new { type = "slack", channel = "#ops" } },
        }).ExpectProblemAsync(HttpStatusCode.BadRequest);
        Assert.True(slack.GetProperty("errors").TryGetProperty("channels[0].type", out _), slack.ToString());

        // Personal rules are the caller's own: the owner neither lists nor reads the viewer's.
        using var owner = Host.CreateClient(Org.OwnerToken);
        var ownersOwn = await owner.GetAsync(Org.Api("me/notification-rules")).ExpectAsync(HttpStatusCode.OK);
        Assert.DoesNotContain(ownersOwn.GetProperty("items").EnumerateArray(), r => r.Str("id") == mine.Str("id"));
        await owner.GetAsync(Org.Api($"me/notification-rules/{mine.Str("id")}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await owner.GetAsync(Org.Api($"notification-rules/{mine.Str("id")}")).ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Preferences_PutAndGet_AndBadValuesAre400NamingTheField()
    {
        var member = await Host.AddPersonAsync(Org, BuiltInRoles.Member);
        using var client = Host.CreateClient(member.Token);
        var empty = await client.GetAsync(Org.Api("notification-preferences")).ExpectAsync(HttpStatusCode.OK);
        Assert.True(empty.IsNull("quietHours"));

        var put = await client.PutAsJsonAsync(Org.Api("notification-preferences"), new
        {
            quietHours = new { start = "22:00", end = "07:00", timeZone = "Europe/Paris" },
            mutedChannels = new[] { "slack", "email" },
        }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(["email", "slack"], put.GetProperty("mutedChannels").EnumerateArray().Select(c => c.GetString()));
        var read = await client.GetAsync(Org.Api("notification-preferences")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("22:00", "07:00", "Europe/Paris"), (read.GetProperty("quietHours").Str("start"), read.GetProperty("quietHours").Str("end"), read.GetProperty("quietHours").Str("timeZone")));

        foreach (var (body, field) in new (object, string)[]
        {
            (new { quietHours = new { start = "25:00", end = "07:00", timeZone = "UTC" } }, "quietHours.start"),
            (new { quietHours = new { start = "22:00", end = "07:00", timeZone = "Mars/Olympus" } }, "quietHours.timeZone"),
            (new { mutedChannels = new[] { "email", "fax" } }, "mutedChannels[1]"),
        })
        {
            var problem = await client.PutAsJsonAsync(Org.Api("notification-preferences"), body).ExpectProblemAsync(HttpStatusCode.BadRequest);
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
        }

        using var key = Host.CreateClient(Org.MemberKey);
        await key.GetAsync(Org.Api("notification-preferences")).ExpectProblemAsync(HttpStatusCode.BadRequest, "user-required");
    }

    // ---- fan-out and sending

    [Fact]
    public async Task QuestionAsked_GivesOneDeliveryPerRecipientAndChannel_EvenWhenTheFanOutRunsTwice()
    {
        var queue = Work.Unique("q");
        var (a, b, slack) = (Work.Unique("a") + "@example.com", Work.Unique("b") + "@example.com", "#" + Work.Unique("ask"));
        await CreateRuleAsync(new[] { "clarification.asked" }, queue, new { type = "email", to = new[] { a, b } }, new { type = "slack", channel = slack });
        // A second rule naming an address again adds no second message for it.
        await CreateRuleAsync(new[] { "clarification.asked" }, queue, new { type = "email", to = new[] { a } });

        var (lease, question) = await AskAsync(queue, "Deploy to production?", logLines: ["building", "tests green"]);
        var deliveries = await WaitForDeliveriesAsync(d => d.Str("eventType") == "clarification.asked" && (d.Str("recipient") == a || d.Str("recipient") == b || d.Str("recipient") == slack), 3, "sent");
        Assert.Equal(3, deliveries.Count);
        var seq = deliveries[0].GetProperty("eventSeq").GetInt64();
        Assert.All(deliveries, d => Assert.Equal(seq, d.GetProperty("eventSeq").GetInt64()));

        var (_, view) = Assert.Single(fixture.Email.SentTo(a));
        Assert.Equal("Deploy to production?", view.Question!.Text);
        Assert.Equal(question, view.Question.Id.ToString());
        Assert.Equal(lease.TaskId, view.TaskId.ToString());
        Assert.Equal(["building", "tests green"], view.RecentLogLines);
        Assert.StartsWith($"https://clarity.example.com/o/{Org.Org}/tasks/", view.Url, StringComparison.Ordinal);
        Assert.Contains("Deploy to production?", view.Summary, StringComparison.Ordinal);

        // The fan-out runs again over the same events (as after a crash before its cursor moved): nothing new.
        await RewindFanOutAsync(seq - 1);
        var dispatcher = Host.Services.GetRequiredService<NotificationDispatcher>();
        await dispatcher.PassAsync(CancellationToken.None);
        await RewindFanOutAsync(seq - 1);
        await dispatcher.PassAsync(CancellationToken.None);
        await Host.Services.GetRequiredService<NotificationSender>().PassAsync(CancellationToken.None);
        Assert.Equal(3, (await DeliveriesOfEventAsync(seq)).Count);
        Assert.Single(fixture.Email.SentTo(a));
        Assert.Single(fixture.Email.SentTo(b));
        Assert.Single(fixture.Slack.SentTo(slack));
    }

    [Fact]
    public async Task TwoFanOutPassesAtOnce_OverTheSameEvents_StillGiveOneDeliveryEach()
    {
        var queue = Work.Unique("q");
        var to = Work.Unique("race") + "@example.com";
        await CreateRuleAsync(new[] { "clarification.asked" }, queue, new { type = "email", to = new[] { to } }, new { type = "slack", channel = "#" + Work.Unique("race") });
        await AskAsync(queue, "Race?");
        var first = await WaitForDeliveriesAsync(d => d.Str("recipient") == to, 1, null);
        var seq = first[0].GetProperty("eventSeq").GetInt64();
        var dispatcher = Host.Services.GetRequiredService<NotificationDispatcher>();
        for (var round = 0; round < 3; round++)
        {
            await RewindFanOutAsync(seq - 1);
            await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => dispatcher.PassAsync(CancellationToken.None))));
        }

        // Only this test's rule matches the event (the others filter by their own queues): its two recipients, once each.
        var all = await DeliveriesOfEventAsync(seq);
        Assert.Equal(2, all.Count);
        Assert.Equal(2, all.Select(d => (d.Str("channel"), d.Str("recipient"))).Distinct().Count());
    }

    [Fact]
    public async Task ChannelAnswersRetry_TheDeliveryIsRetriedWithBackoff_ThenSent()
    {
        var queue = Work.Unique("q");
        var slack = "#" + Work.Unique("retry");
        fixture.Slack.Script(slack, DeliveryOutcome.Retry("slack is busy"));
        await CreateRuleAsync(new[] { "task.failed" }, queue, new { type = "slack", channel = slack });
        await FailTaskAsync(queue);

        var sent = Assert.Single(await WaitForDeliveriesAsync(d => d.Str("recipient") == slack, 1, "sent"));
        Assert.Equal(2, sent.Int("attempts"));
        Assert.Equal("slack is busy", sent.Str("lastError"));
        Assert.Equal("task.failed", sent.Str("eventType"));
        Assert.Equal([1, 2], fixture.Slack.SentTo(slack).Select(s => s.Delivery.Attempt));
    }

    [Fact]
    public async Task ChannelAnswersFail_TheDeliveryFailsWithoutAnotherAttempt()
    {
        var queue = Work.Unique("q");
        var slack = "#" + Work.Unique("fail");
        fixture.Slack.Script(slack, DeliveryOutcome.Fail("channel_not_found"));
        await CreateRuleAsync(new[] { "task.failed" }, queue, new { type = "slack", channel = slack });
        await FailTaskAsync(queue);

        var failed = Assert.Single(await WaitForDeliveriesAsync(d => d.Str("recipient") == slack, 1, "failed"));
        Assert.Equal((1, "channel_not_found"), (failed.Int("attempts"), failed.Str("lastError")));
        await Host.Services.GetRequiredService<NotificationSender>().PassAsync(CancellationToken.None);
        Assert.Single(fixture.Slack.SentTo(slack));
    }

    [Fact]
    public async Task PersonalRules_ReachOnlyTheirOwners_AndAMutedChannelIsSuppressed()
    {
        var queue = Work.Unique("q");
        var ann = await Host.AddPersonAsync(Org, BuiltInRoles.Member);
        var bob = await Host.AddPersonAsync(Org, BuiltInRoles.Viewer);
        foreach (var person in new[] { ann, bob })
        {
            using var client = Host.CreateClient(person.Token);
            await client.PostAsJsonAsync(Org.Api("me/notification-rules"), new
            {
                events = new[] { "clarification.asked" },
                channels = new object[] { new { type = "email" }, new { type = "webpush" } },
                filters = new { queues = new[] { queue } },
            }).ExpectAsync(HttpStatusCode.Created);
        }

        using (var client = Host.CreateClient(bob.Token))
        {
            await client.PutAsJsonAsync(Org.Api("notification-preferences"), new { mutedChannels = new[] { "email" } }).ExpectAsync(HttpStatusCode.OK);
        }

        await AskAsync(queue, "Who reads this?");
        var annEmail = ann.Email.ToLowerInvariant();
        var bobEmail = bob.Email.ToLowerInvariant();
        var mine = await WaitForDeliveriesAsync(
            d => d.Str("recipient") == annEmail || d.Str("recipient") == bobEmail || d.Str("recipient") == ann.UserId.ToString() || d.Str("recipient") == bob.UserId.ToString(),
            4, null, d => d.Str("status") is "sent" or "suppressed");
        var seq = mine[0].GetProperty("eventSeq").GetInt64();
        var all = await DeliveriesOfEventAsync(seq);
        Assert.Equal(4, all.Count);
        Assert.Equal("suppressed", all.Single(d => d.Str("recipient") == bobEmail).Str("status"));
        Assert.Contains("muted", all.Single(d => d.Str("recipient") == bobEmail).Str("note"), StringComparison.Ordinal);
        Assert.Equal("sent", all.Single(d => d.Str("recipient") == annEmail).Str("status"));
        Assert.All(all.Where(d => d.Str("channel") == "webpush"), d => Assert.Equal("sent", d.Str("status")));
        Assert.Equal(ann.UserId.ToString(), all.Single(d => d.Str("recipient") == annEmail).Str("recipientUserId"));

        Assert.Single(fixture.Email.SentTo(annEmail));
        Assert.Empty(fixture.Email.SentTo(bobEmail));
        Assert.Single(fixture.WebPush.SentTo(bob.UserId.ToString()));
        var suppressed = await Owner().GetAsync(Org.Api("notification-deliveries?status=suppressed&channel=email&event=clarification.asked&limit=200")).ExpectAsync(HttpStatusCode.OK);
        Assert.Contains(suppressed.GetProperty("items").EnumerateArray(), d => d.Str("recipient") == bobEmail);
    }

    [Fact]
    public async Task QuietHours_HoldTheDeliveryUntilTheyEnd()
    {
        var queue = Work.Unique("q");
        var person = await Host.AddPersonAsync(Org, BuiltInRoles.Member);
        using var client = Host.CreateClient(person.Token);
        var now = DateTimeOffset.UtcNow;
        await client.PutAsJsonAsync(Org.Api("notification-preferences"), new
        {
            quietHours = new { start = now.AddHours(-1).ToString("HH:mm", CultureInfo.InvariantCulture), end = now.AddHours(2).ToString("HH:mm", CultureInfo.InvariantCulture), timeZone = "UTC" },
        }).ExpectAsync(HttpStatusCode.OK);
        await client.PostAsJsonAsync(Org.Api("me/notification-rules"), new
        {
            events = new[] { "clarification.asked" },
            channels = new object[] { new { type = "webpush" } },
            filters = new { queues = new[] { queue } },
        }).ExpectAsync(HttpStatusCode.Created);

        await AskAsync(queue, "Can it wait?");
        var held = Assert.Single(await WaitForDeliveriesAsync(d => d.Str("recipient") == person.UserId.ToString(), 1, "pending"));
        Assert.Contains("quiet hours", held.Str("note"), StringComparison.Ordinal);
        Assert.True(held.GetProperty("nextAttemptAt").GetDateTimeOffset() > now.AddHours(1), held.ToString());
        await Host.Services.GetRequiredService<NotificationSender>().PassAsync(CancellationToken.None);
        Assert.Empty(fixture.WebPush.SentTo(person.UserId.ToString()));
    }

    [Fact]
    public async Task BurstOf200TaskFailures_SendsAFewAndThenOneDigest()
    {
        var queue = Work.Unique("q");
        var slack = "#" + Work.Unique("burst");
        await CreateRuleAsync(new[] { "task.failed" }, queue, new { type = "slack", channel = slack });
        var org = await Host.Services.GetRequiredService<Clarity.Features.Identity.IdentityStore>().FindOrgBySlugAsync(Org.Org, CancellationToken.None);
        // 200 tasks fail in one burst (one unit of work: they happen within the same instant).
        await Host.Services.GetRequiredService<Changes>().RunAsync(Actor.System, change =>
        {
            for (var i = 0; i < 200; i++)
            {
                change.Emit(new TaskChanged(org!.Id, Guid.CreateVersion7(), queue, "failed", false) { Title = $"job {i}", Attempts = 1, MaxAttempts = 1 });
            }

            return Task.CompletedTask;
        });

        var digest = Assert.Single(await WaitForDeliveriesAsync(d => d.Str("recipient") == slack && d.GetProperty("digest").GetBoolean(), 1, "sent"));
        var all = await WaitForDeliveriesAsync(d => d.Str("recipient") == slack, 201, null);
        Assert.Equal(3, all.Count(d => d.Str("status") == "sent" && !d.GetProperty("digest").GetBoolean()));
        Assert.Equal(197, all.Count(d => d.Str("status") == "grouped" && d.Str("digestId") == digest.Str("id")));

        var sent = fixture.Slack.SentTo(slack);
        Assert.Equal(4, sent.Count);
        var digestView = sent.Single(s => s.View.Digest is not null).View;
        Assert.Equal(197, digestView.Digest!.Count);
        Assert.StartsWith("197 × task.failed", digestView.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClarificationExpiring_IsRaisedOncePerQuestionBeforeItExpires()
    {
        var queue = Work.Unique("q");
        var slack = "#" + Work.Unique("expiring");
        await CreateRuleAsync(new[] { "clarification.expiring" }, queue, new { type = "slack", channel = slack });
        // A quarter of a 20-second life is less than the 10-minute lead: raised in the last 5 seconds. The sweep polls
        // every 100 ms, but under the full suite's load it once missed a 2-second window (an 8-second life).
        await AskAsync(queue, "Still there?", expiresInSeconds: 20);

        var expiring = Assert.Single(await WaitForDeliveriesAsync(d => d.Str("recipient") == slack, 1, "sent"));
        Assert.Equal("clarification.expiring", expiring.Str("eventType"));
        await Host.Services.GetRequiredService<NotificationExpirySweep>().PassAsync(CancellationToken.None);
        await Host.Services.GetRequiredService<NotificationDispatcher>().PassAsync(CancellationToken.None);
        var view = Assert.Single(fixture.Slack.SentTo(slack)).View;
        Assert.Equal("Still there?", view.Question!.Text);
        Assert.Single(await AllDeliveriesAsync(), d => d.Str("recipient") == slack);
    }

    [Fact]
    public async Task WebhookChannel_QueuesTheNotificationAsADeliveryOfThatEndpoint()
    {
        var queue = Work.Unique("q");
        using var owner = Owner();
        var endpoint = await owner.PostAsJsonAsync(Org.Api("webhooks"), new { url = "http://127.0.0.1:9/" + Work.Unique("hook"), events = new[] { "webhook.disabled" } })
            .ExpectAsync(HttpStatusCode.Created);
        await CreateRuleAsync(new[] { "task.failed" }, queue, new { type = "webhook", endpoint = endpoint.Str("id") });
        await FailTaskAsync(queue);

        var sent = Assert.Single(await WaitForDeliveriesAsync(d => d.Str("recipient") == endpoint.Str("id"), 1, "sent"));
        Assert.StartsWith("msg_", sent.Str("externalId"), StringComparison.Ordinal);
        var hooks = await owner.GetAsync(Org.Api($"webhooks/{endpoint.Str("id")}/deliveries")).ExpectAsync(HttpStatusCode.OK);
        var queued = Assert.Single(hooks.GetProperty("items").EnumerateArray(), d => d.Str("eventType") == "notification.task.failed");
        Assert.Equal(sent.Str("externalId"), queued.Str("messageId"));
    }

    // ---- helpers

    private HttpClient Owner() => Host.CreateClient(Org.OwnerToken);

    private async Task CreateRuleAsync(string[] events, string queue, params object[] channels)
    {
        using var owner = Owner();
        await owner.PostAsJsonAsync(Org.Api("notification-rules"), new { events, channels, filters = new { queues = new[] { queue } } }).ExpectAsync(HttpStatusCode.Created);
    }

    /// <summary>Creates a task in the queue, checks it out, writes log lines, and has its agent ask a question; returns the lease and the question's id.</summary>
    private async Task<(Lease Lease, string QuestionId)> AskAsync(string queue, string text, string[]? logLines = null, int expiresInSeconds = 3600)
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        await agent.CreateTaskAsync(Org, new { queue, title = "Release 1.2" });
        var lease = await agent.CheckoutTaskAsync(Org, Work.Unique("agent"), queue);
        if (logLines is not null)
        {
            await agent.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/logs"), logLines.Select(l => new { text = l }).ToArray()).ExpectAsync(HttpStatusCode.OK);
        }

        var question = await agent.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/clarifications"), new { leaseToken = lease.Token, question = text, expiresInSeconds })
            .ExpectAsync(HttpStatusCode.Created);
        return (lease, question.Str("id"));
    }

    private async Task FailTaskAsync(string queue)
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        await agent.CreateTaskAsync(Org, new { queue, title = "Nightly build", maxAttempts = 1 });
        var lease = await agent.CheckoutTaskAsync(Org, Work.Unique("agent"), queue);
        await agent.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/fail"), new { leaseToken = lease.Token, error = "broken" }).ExpectAsync(HttpStatusCode.OK);
    }

    /// <summary>Moves the fan-out's cursor back, as if its passes after <paramref name="seq"/> had never committed.</summary>
    private Task RewindFanOutAsync(long seq) =>
        Host.Services.GetRequiredService<Database>().WriteAsync((c, t) =>
            c.ExecuteAsync("UPDATE consumer_cursors SET seq = @seq WHERE name = @name", new { seq, name = NotificationStore.CursorName }, t));

    private async Task<List<JsonElement>> DeliveriesOfEventAsync(long seq) =>
        [.. (await AllDeliveriesAsync()).Where(d => !d.IsNull("eventSeq") && d.GetProperty("eventSeq").GetInt64() == seq)];

    /// <summary>The whole delivery log of the org, page by page (the admin's view).</summary>
    private async Task<List<JsonElement>> AllDeliveriesAsync()
    {
        using var owner = Owner();
        var all = new List<JsonElement>();
        string? cursor = null;
        do
        {
            var page = await owner.GetAsync(Org.Api("notification-deliveries?limit=200" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor)))).ExpectAsync(HttpStatusCode.OK);
            all.AddRange(page.GetProperty("items").EnumerateArray());
            cursor = page.OptStr("nextCursor");
        }
        while (cursor is not null);
        return all;
    }

    /// <summary>
    /// Polls the delivery log until at least <paramref name="count"/> deliveries match and every one of them is settled
    /// (has <paramref name="status"/>, or passes <paramref name="settled"/>), or a generous deadline passes.
    /// </summary>
    private async Task<List<JsonElement>> WaitForDeliveriesAsync(Func<JsonElement, bool> match, int count, string? status, Func<JsonElement, bool>? settled = null)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        while (true)
        {
            var found = (await AllDeliveriesAsync()).Where(match).ToList();
            if (found.Count >= count && found.All(d => (status is null || d.Str("status") == status) && (settled is null || settled(d))))
            {
                return found;
            }

            Assert.True(DateTimeOffset.UtcNow < deadline, $"Gave up waiting for {count} deliveries ({status ?? "any status"}); found: {string.Join(Environment.NewLine, found)}");
            await Task.Delay(100);
        }
    }
}

public sealed class SqliteNotificationTests(SqliteNotificationFixture fixture) : NotificationTests<SqliteNotificationFixture>(fixture);

public sealed class PostgresNotificationTests(PostgresNotificationFixture fixture) : NotificationTests<PostgresNotificationFixture>(fixture);
