using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Events.Audit;
using Clarity.Features.Identity;
using Clarity.Features.Notifications;
using Clarity.Features.Notifications.WebPush;
using Clarity.Tests.Features.Audit;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Notifications.WebPush;

/// <summary>
/// Web push end to end against <see cref="LoopbackPushService"/>: people subscribe their devices through the API, and the
/// channel's messages arrive VAPID-signed and decryptable, naming the question and where to answer it; the push
/// service's answers (410, 503) keep the subscriptions honest. Until the notification core lands, the tests hand the
/// channel a view they build, as the core will.
/// </summary>
public abstract class WebPushTests(HostFixture fixture)
{
    public const string Subject = "mailto:ops@example.com";

    private ClarityHost Host => fixture.Host;

    private INotificationChannel Channel => Host.Services.GetServices<INotificationChannel>().Single(c => c.Type == NotificationChannels.WebPush);

    public static Dictionary<string, string?> Settings => new()
    {
        ["Clarity:WebPush:AllowLoopbackEndpoints"] = "true",
        ["Clarity:WebPush:Subject"] = Subject,
        ["Clarity:WebPush:MaxSubscriptionsPerUser"] = "3",
    };

    [Fact]
    public async Task VapidPublicKey_IsServedWithoutSignIn_AsAnUncompressedP256Point_AndStaysTheSame()
    {
        using var anonymous = Host.CreateClient();
        var first = (await anonymous.GetAsync("api/v1/push/vapid-public-key").ExpectAsync(HttpStatusCode.OK)).Str("publicKey");
        var again = (await anonymous.GetAsync("api/v1/push/vapid-public-key").ExpectAsync(HttpStatusCode.OK)).Str("publicKey");
        Assert.Equal(first, again);
        var bytes = System.Buffers.Text.Base64Url.DecodeFromChars(first);
        Assert.Equal((65, (byte)4), (bytes.Length, bytes[0]));
    }

    [Fact]
    public async Task Subscribe_ListsTheDevice_AndSubscribingTheSameEndpointAgainUpdatesIt()
    {
        await using var push = await LoopbackPushService.StartAsync();
        var person = await Host.AddPersonAsync(fixture.Org, "member");
        using var client = Host.CreateClient(person.Token);
        client.DefaultRequestHeaders.UserAgent.ParseAdd("Mozilla/5.0 (Linux; Android 14) Chrome/130.0");
        var device = push.NewSubscription();

        var created = await client.PostAsJsonAsync("api/v1/me/push-subscriptions", device.Json).ExpectAsync(HttpStatusCode.Created);
        Assert.Equal(device.Endpoint, created.Str("endpoint"));
        Assert.Contains("Android", created.Str("userAgent"), StringComparison.Ordinal);
        Assert.False(created.TryGetProperty("keys", out _));
        var id = created.Str("id");

        var again = await client.PostAsJsonAsync("api/v1/me/push-subscriptions", device.Json).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(id, again.Str("id"));
        var list = await client.GetAsync("api/v1/me/push-subscriptions").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(id, Assert.Single(list.GetProperty("items").EnumerateArray()).Str("id"));
        Assert.Equal(device.Endpoint, (await client.GetAsync($"api/v1/me/push-subscriptions/{id}").ExpectAsync(HttpStatusCode.OK)).Str("endpoint"));

        await client.DeleteAsync($"api/v1/me/push-subscriptions/{id}").ExpectAsync(HttpStatusCode.NoContent);
        Assert.Empty((await client.GetAsync("api/v1/me/push-subscriptions").ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray());
        await client.GetAsync($"api/v1/me/push-subscriptions/{id}").ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task SubscribeAndUnsubscribe_AreAuditedOnTheInstanceChain_WithoutTheEndpointPathOrKeys()
    {
        await using var push = await LoopbackPushService.StartAsync();
        var person = await Host.AddPersonAsync(fixture.Org, "member");
        using var client = Host.CreateClient(person.Token);
        var device = push.NewSubscription();
        var id = (await client.PostAsJsonAsync("api/v1/me/push-subscriptions", device.Json).ExpectAsync(HttpStatusCode.Created)).Str("id");

        // Subscribing the same device again refreshes it: not a new subscription, no second entry.
        await client.PostAsJsonAsync("api/v1/me/push-subscriptions", device.Json).ExpectAsync(HttpStatusCode.OK);
        await client.DeleteAsync($"api/v1/me/push-subscriptions/{id}").ExpectAsync(HttpStatusCode.NoContent);

        var added = Assert.Single(await AuditTestSupport.RowsAsync(Host, NotificationAuditActions.PushSubscriptionAdded, id));
        var removed = Assert.Single(await AuditTestSupport.RowsAsync(Host, NotificationAuditActions.PushSubscriptionRemoved, id));
        foreach (var row in new[] { added, removed })
        {
            Assert.Equal((AuditChain.InstanceChain, "user", (Guid?)person.UserId, "push_subscription"), (row.ChainId, row.ActorKind, row.ActorId, row.TargetType));
            Assert.DoesNotContain(new Uri(device.Endpoint).AbsolutePath, row.Entry!, StringComparison.Ordinal);
        }

        Assert.Equal(new Uri(device.Endpoint).Host, JsonDocument.Parse(added.Entry!).RootElement.GetProperty("after").Str("pushService"));
    }

    [Fact]
    public async Task Question_ReachesThePushService_VapidSignedAndDecryptable_NamingTheQuestionAndItsUrl()
    {
        await using var push = await LoopbackPushService.StartAsync();
        var person = await Host.AddPersonAsync(fixture.Org, "member");
        var phone = await SubscribeAsync(person, push);
        var laptop = await SubscribeAsync(person, push);
        var view = QuestionView("Deploy build 42 to production?", ["yes", "no"], TimeSpan.FromMinutes(30));

        var outcome = await Channel.SendAsync(DeliveryTo(person.UserId), view, CancellationToken.None);

        Assert.True(outcome.Sent, outcome.Detail);
        var publicKey = (await Host.CreateClient().GetAsync("api/v1/push/vapid-public-key").ExpectAsync(HttpStatusCode.OK)).Str("publicKey");
        foreach (var device in new[] { phone, laptop })
        {
            var received = Assert.Single(push.For(device));
            Assert.True(received.Status == 201, received.Error);

            // VAPID (RFC 8292): signed by the server's key, for this push service's origin, with the configured subject.
            var (error, claims, k) = LoopbackPushService.VerifyVapid(received.Headers["Authorization"], push.Origin);
            Assert.Null(error);
            Assert.Equal(publicKey, k);
            Assert.Equal(Subject, claims!.Value.Str("sub"));

            // The message: the question, where to answer it, tagged with the question so a later one replaces it.
            var message = JsonDocument.Parse(received.Plaintext!).RootElement;
            Assert.Equal("Question from build-bot", message.Str("title"));
            Assert.Contains("Deploy build 42 to production?", message.Str("body"), StringComparison.Ordinal);
            Assert.Contains("yes · no", message.Str("body"), StringComparison.Ordinal);
            Assert.Equal(view.Url, message.Str("url"));
            Assert.Equal("clarity-question-" + view.Question!.Id, message.Str("tag"));
            Assert.False(message.GetProperty("test").GetBoolean());

            // Kept only until the question expires, urgent, and replaceable by topic.
            var ttl = int.Parse(received.Headers["TTL"], System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(ttl, 1, 30 * 60);
            Assert.Equal("high", received.Headers["Urgency"]);
            Assert.Equal(view.Question.Id.ToString("N"), received.Headers["Topic"]);
            Assert.Equal("aes128gcm", received.Headers["Content-Encoding"]);
        }

        using var client = Host.CreateClient(person.Token);
        var items = (await client.GetAsync("api/v1/me/push-subscriptions").ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray().ToList();
        Assert.All(items, i => Assert.False(i.IsNull("lastSuccessAt")));
    }

    [Fact]
    public async Task Drill_IsMarkedAsATest_AndAnEventWithoutAQuestionUsesItsOwnTemplate()
    {
        await using var push = await LoopbackPushService.StartAsync();
        var person = await Host.AddPersonAsync(fixture.Org, "member");
        var device = await SubscribeAsync(person, push);
        var view = new NotificationView
        {
            EventType = NotificationEvents.TaskFailed,
            EventSeq = 7,
            OrgId = Guid.NewGuid(),
            OrgSlug = fixture.Org.Org,
            OccurredAt = DateTimeOffset.UtcNow,
            Summary = "Task 'nightly import' failed",
            Url = $"https://clarity.example.com/o/{fixture.Org.Org}/tasks/{Guid.NewGuid()}",
            TaskId = Guid.NewGuid(),
            TaskTitle = "nightly import",
            Detail = "exit code 3",
            IsTest = true,
        };

        Assert.True((await Channel.SendAsync(DeliveryTo(person.UserId), view, CancellationToken.None)).Sent);

        var received = Assert.Single(push.For(device));
        var message = JsonDocument.Parse(received.Plaintext!).RootElement;
        Assert.Equal("[TEST] Task failed: nightly import", message.Str("title"));
        Assert.Contains("exit code 3", message.Str("body"), StringComparison.Ordinal);
        Assert.True(message.GetProperty("test").GetBoolean());
        Assert.False(received.Headers.ContainsKey("Urgency"));
        Assert.False(received.Headers.ContainsKey("Topic"));
    }

    [Fact]
    public async Task PushServiceAnswers410_TheSubscriptionIsRemoved_AndWithNoDeviceLeftTheDeliveryFails()
    {
        await using var push = await LoopbackPushService.StartAsync();
        var person = await Host.AddPersonAsync(fixture.Org, "member");
        var gone = await SubscribeAsync(person, push);
        var kept = await SubscribeAsync(person, push);
        gone.AnswerStatus = 410;

        var first = await Channel.SendAsync(DeliveryTo(person.UserId), QuestionView("Which region?", null, TimeSpan.FromHours(1)), CancellationToken.None);
        Assert.True(first.Sent, first.Detail);
        Assert.Contains("1 gone", first.Detail, StringComparison.Ordinal);
        using var client = Host.CreateClient(person.Token);
        var left = (await client.GetAsync("api/v1/me/push-subscriptions").ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(kept.Endpoint, Assert.Single(left).Str("endpoint"));

        kept.AnswerStatus = 404;
        var second = await Channel.SendAsync(DeliveryTo(person.UserId), QuestionView("Which region now?", null, TimeSpan.FromHours(1)), CancellationToken.None);
        Assert.False(second.Sent);
        Assert.False(second.Retryable);
        Assert.Contains("gone", second.Detail, StringComparison.Ordinal);
        Assert.Empty((await client.GetAsync("api/v1/me/push-subscriptions").ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray());

        var third = await Channel.SendAsync(DeliveryTo(person.UserId), QuestionView("Anyone?", null, TimeSpan.FromHours(1)), CancellationToken.None);
        Assert.False(third.Sent || third.Retryable);
        Assert.Contains("no device", third.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(503)]
    [InlineData(429)]
    public async Task PushServiceOverloaded_TheDeliveryIsRetried_AndTheSubscriptionStays(int status)
    {
        await using var push = await LoopbackPushService.StartAsync();
        var person = await Host.AddPersonAsync(fixture.Org, "member");
        var device = await SubscribeAsync(person, push);
        device.AnswerStatus = status;

        var outcome = await Channel.SendAsync(DeliveryTo(person.UserId), QuestionView("Retry me?", null, TimeSpan.FromHours(1)), CancellationToken.None);

        Assert.False(outcome.Sent);
        Assert.True(outcome.Retryable, outcome.Detail);
        Assert.Contains($"HTTP {status}", outcome.Detail, StringComparison.Ordinal);
        using var client = Host.CreateClient(person.Token);
        var item = Assert.Single((await client.GetAsync("api/v1/me/push-subscriptions").ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray());
        Assert.Equal(1, item.Int("failureCount"));
    }

    [Fact]
    public async Task RecipientThatIsNotAUserId_Fails_WithoutTryingAgain()
    {
        var outcome = await Channel.SendAsync(
            new NotificationDelivery(Guid.NewGuid(), Guid.NewGuid(), NotificationChannels.WebPush, "someone@example.com", null, 1, "c"),
            QuestionView("?", null, TimeSpan.FromHours(1)), CancellationToken.None);
        Assert.False(outcome.Sent || outcome.Retryable);
        Assert.Contains("user id", outcome.Detail, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> BadSubscriptions => new()
    {
        { """{"keys": {"p256dh": "P256", "auth": "AUTH"}}""", "endpoint" },
        { """{"endpoint": "not a url", "keys": {"p256dh": "P256", "auth": "AUTH"}}""", "endpoint" },
        { """{"endpoint": "ftp://push.example.com/x", "keys": {"p256dh": "P256", "auth": "AUTH"}}""", "endpoint" },
        { """{"endpoint": "http://203.0.113.10/push/x", "keys": {"p256dh": "P256", "auth": "AUTH"}}""", "endpoint" },
        { """{"endpoint": "https://10.1.2.3/push/x", "keys": {"p256dh": "P256", "auth": "AUTH"}}""", "endpoint" },
        { """{"endpoint": "https://169.254.169.254/latest/meta-data", "keys": {"p256dh": "P256", "auth": "AUTH"}}""", "endpoint" },
        { """{"endpoint": "https://user:pw@push.example.com/x", "keys": {"p256dh": "P256", "auth": "AUTH"}}""", "endpoint" },
        { """{"endpoint": "https://push.example.com/\u00e9t\u00e9", "keys": {"p256dh": "P256", "auth": "AUTH"}}""", "endpoint" },
        { """{"endpoint": "LOOPBACK"}""", "keys" },
        { """{"endpoint": "LOOPBACK", "keys": {"auth": "AUTH"}}""", "keys.p256dh" },
        { """{"endpoint": "LOOPBACK", "keys": {"p256dh": "BAAA", "auth": "AUTH"}}""", "keys.p256dh" },
        { """{"endpoint": "LOOPBACK", "keys": {"p256dh": "OFFCURVE", "auth": "AUTH"}}""", "keys.p256dh" },
        { """{"endpoint": "LOOPBACK", "keys": {"p256dh": "P256!", "auth": "AUTH"}}""", "keys.p256dh" },
        { """{"endpoint": "LOOPBACK", "keys": {"p256dh": "P256"}}""", "keys.auth" },
        { """{"endpoint": "LOOPBACK", "keys": {"p256dh": "P256", "auth": "AAAA"}}""", "keys.auth" },
    };

    [Theory]
    [MemberData(nameof(BadSubscriptions))]
    public async Task BadSubscription_Is400NamingTheField(string body, string field)
    {
        await using var push = await LoopbackPushService.StartAsync();
        var device = push.NewSubscription();
        var offCurve = System.Buffers.Text.Base64Url.EncodeToString([0x04, .. new byte[64]]);
        var json = body.Replace("LOOPBACK", device.Endpoint, StringComparison.Ordinal)
            .Replace("\"P256!\"", "\"" + device.P256dh[..^1] + "*\"", StringComparison.Ordinal)
            .Replace("OFFCURVE", offCurve, StringComparison.Ordinal)
            .Replace("\"P256\"", "\"" + device.P256dh + "\"", StringComparison.Ordinal)
            .Replace("AUTH", device.Auth, StringComparison.Ordinal);
        var person = await Host.AddPersonAsync(fixture.Org, "member");
        using var client = Host.CreateClient(person.Token);

        using var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        var problem = await client.PostAsync("api/v1/me/push-subscriptions", content).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");

        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
        Assert.Empty((await client.GetAsync("api/v1/me/push-subscriptions").ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray());
    }

    [Fact]
    public async Task AnotherUser_CannotReadOrDeleteMySubscription_404()
    {
        await using var push = await LoopbackPushService.StartAsync();
        var me = await Host.AddPersonAsync(fixture.Org, "member");
        var other = await Host.AddPersonAsync(fixture.Org, "admin");
        using var mine = Host.CreateClient(me.Token);
        var id = (await mine.PostAsJsonAsync("api/v1/me/push-subscriptions", push.NewSubscription().Json).ExpectAsync(HttpStatusCode.Created)).Str("id");

        using var theirs = Host.CreateClient(other.Token);
        await theirs.GetAsync($"api/v1/me/push-subscriptions/{id}").ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        await theirs.DeleteAsync($"api/v1/me/push-subscriptions/{id}").ExpectProblemAsync(HttpStatusCode.NotFound, "not-found");
        Assert.Empty((await theirs.GetAsync("api/v1/me/push-subscriptions").ExpectAsync(HttpStatusCode.OK)).GetProperty("items").EnumerateArray());
        await mine.GetAsync($"api/v1/me/push-subscriptions/{id}").ExpectAsync(HttpStatusCode.OK);

        // An API key is not a person: it has no devices.
        using var key = Host.CreateClient(fixture.Org.MemberKey);
        await key.PostAsJsonAsync("api/v1/me/push-subscriptions", push.NewSubscription().Json).ExpectProblemAsync(HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task SubscriptionsPerUser_AreBounded_TheNextIs409()
    {
        await using var push = await LoopbackPushService.StartAsync();
        var person = await Host.AddPersonAsync(fixture.Org, "member");
        using var client = Host.CreateClient(person.Token);
        for (var i = 0; i < 3; i++)
        {
            await client.PostAsJsonAsync("api/v1/me/push-subscriptions", push.NewSubscription().Json).ExpectAsync(HttpStatusCode.Created);
        }

        await client.PostAsJsonAsync("api/v1/me/push-subscriptions", push.NewSubscription().Json)
            .ExpectProblemAsync(HttpStatusCode.Conflict, "too-many-push-subscriptions");
    }

    [Fact]
    public async Task SameDevice_SubscribedByAnotherPerson_NotifiesOnlyThatPerson()
    {
        await using var push = await LoopbackPushService.StartAsync();
        var first = await Host.AddPersonAsync(fixture.Org, "member");
        var second = await Host.AddPersonAsync(fixture.Org, "member");
        var device = await SubscribeAsync(first, push);
        using (var client = Host.CreateClient(second.Token))
        {
            await client.PostAsJsonAsync("api/v1/me/push-subscriptions", device.Json).ExpectAsync(HttpStatusCode.Created);
        }

        var outcome = await Channel.SendAsync(DeliveryTo(first.UserId), QuestionView("Still mine?", null, TimeSpan.FromHours(1)), CancellationToken.None);
        Assert.False(outcome.Sent);
        Assert.Empty(push.For(device));
    }

    private async Task<LoopbackPushService.Device> SubscribeAsync(Person person, LoopbackPushService push)
    {
        var device = push.NewSubscription();
        using var client = Host.CreateClient(person.Token);
        await client.PostAsJsonAsync("api/v1/me/push-subscriptions", device.Json).ExpectAsync(HttpStatusCode.Created);
        return device;
    }

    private static NotificationDelivery DeliveryTo(Guid userId) =>
        new(Guid.NewGuid(), Guid.NewGuid(), NotificationChannels.WebPush, userId.ToString(), userId, 1, Guid.NewGuid().ToString("N"));

    private NotificationView QuestionView(string text, IReadOnlyList<string>? options, TimeSpan expiresIn)
    {
        var questionId = Guid.CreateVersion7();
        return new NotificationView
        {
            EventType = NotificationEvents.ClarificationAsked,
            EventSeq = 42,
            OrgId = Guid.NewGuid(),
            OrgSlug = fixture.Org.Org,
            OccurredAt = DateTimeOffset.UtcNow,
            Summary = $"Question from agent build-bot: {text}",
            Url = $"https://clarity.example.com/o/{fixture.Org.Org}/clarifications/{questionId}",
            TaskId = Guid.NewGuid(),
            TaskTitle = "Release 42",
            AgentName = "build-bot",
            Question = new NotificationQuestion(questionId, text, options, DateTimeOffset.UtcNow + expiresIn, "fail", null),
        };
    }
}

public sealed class SqliteWebPushFixture() : HostFixture(Backend.Sqlite, WebPushTests.Settings);

public sealed class PostgresWebPushFixture() : HostFixture(Backend.Postgres, WebPushTests.Settings);

public sealed class SqliteWebPushTests(SqliteWebPushFixture fixture) : WebPushTests(fixture), IClassFixture<SqliteWebPushFixture>;

public sealed class PostgresWebPushTests(PostgresWebPushFixture fixture) : WebPushTests(fixture), IClassFixture<PostgresWebPushFixture>;
