using Clarity.Events;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Clarity.Events.Stream;
using Clarity.Hosting;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Stream;

/// <summary>The real-time stream (WebSocket and SSE) against a real host, on both backends.</summary>
public abstract class StreamTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task Subscribe_Tasks_ReceivesTheCreatedTask_WithItsIdAndTheRequestsCorrelationId()
    {
        await using var socket = await ConnectAsync();
        Assert.Equal("hello", socket.Hello.Str("type"));
        Assert.True(socket.Hello.GetProperty("retentionSeconds").GetInt64() >= 600);
        await socket.SubscribeAsync(["tasks"]);

        using var client = Host.CreateClient(Org.MemberKey);
        var correlationId = Work.Unique("corr");
        using var request = new HttpRequestMessage(HttpMethod.Post, Org.Api("tasks")) { Content = JsonContent.Create(new { queue = Work.Unique("stream"), title = "watched" }) };
        request.Headers.Add("X-Correlation-Id", correlationId);
        var task = await client.SendAsync(request).ExpectAsync(HttpStatusCode.Created);

        var evt = await socket.NextAsync(m => m.IsTaskEvent(task.Str("id")), "the task event");
        Assert.Equal("tasks", evt.Str("topic"));
        Assert.True(evt.Id() > socket.Hello.GetProperty("lastEventId").GetInt64());
        Assert.Equal(correlationId, evt.Str("correlationId"));
        Assert.Equal(task.Str("queue"), evt.GetProperty("data").Str("queue"));
        Assert.Equal("queued", evt.GetProperty("data").Str("status"));
        Assert.True(DateTimeOffset.Parse(evt.Str("at"), System.Globalization.CultureInfo.InvariantCulture) > DateTimeOffset.UtcNow.AddMinutes(-5));
    }

    [Fact]
    public async Task Logs_ArriveOnTheTasksLogTopic_WithTheLines_AndOtherTopicsAndOrgsNeverArrive()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        using var otherClient = Host.CreateClient(fixture.OtherOrg.MemberKey);
        var watched = await NewTaskAsync(client, Org);
        var unwatched = await NewTaskAsync(client, Org);
        var foreign = await NewTaskAsync(otherClient, fixture.OtherOrg);

        await using var socket = await ConnectAsync();
        await socket.SubscribeAsync([$"task:{watched}:logs"]);

        // Events that must not arrive, raised first: ids are delivered in order, so had any leaked it would come first.
        await AppendAsync(client, Org, unwatched, "not watched");
        await AppendAsync(otherClient, fixture.OtherOrg, foreign, "another org");
        await NewTaskAsync(client, Org);
        await AppendAsync(client, Org, watched, "one", "two");
        await AppendAsync(client, Org, watched, "three");

        var first = await socket.ReceiveEventAsync();
        Assert.Equal(("logs", $"task:{watched}:logs"), (first.Str("event"), first.Str("topic")));
        var data = first.GetProperty("data");
        Assert.Equal((watched, 1L, 2L, false), (data.Str("taskId"), data.GetProperty("firstSeq").GetInt64(), data.GetProperty("lastSeq").GetInt64(), data.GetProperty("truncated").GetBoolean()));
        Assert.Equal(["one", "two"], data.GetProperty("lines").EnumerateArray().Select(l => l.Str("text")));
        Assert.Equal([1, 2], data.GetProperty("lines").EnumerateArray().Select(l => l.Int("seq")));
        var second = await socket.ReceiveEventAsync();
        Assert.Equal(["three"], second.GetProperty("data").GetProperty("lines").EnumerateArray().Select(l => l.Str("text")));
        Assert.True(second.Id() > first.Id());
    }

    [Fact]
    public async Task Reconnect_WithLastEventId_ReplaysExactlyTheMissedEventsInOrder_ThenLiveOnes()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        long seenThrough;
        await using (var socket = await ConnectAsync())
        {
            await socket.SubscribeAsync(["tasks"]);
            var seen = await NewTaskAsync(client, Org);
            seenThrough = (await socket.NextAsync(m => m.IsTaskEvent(seen), "the first task")).Id();
        }

        var missed = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            missed.Add(await NewTaskAsync(client, Org));
        }

        await using var again = await ConnectAsync();
        await again.SendAsync(new { type = "subscribe", topics = new[] { "tasks" }, lastEventId = seenThrough });
        var received = await again.ReadUntilAsync(m => m.Str("type") == "subscribed", "subscribed");

        // A live event raised once subscribed must come after the whole replay.
        var live = await NewTaskAsync(client, Org);
        received.AddRange(await again.ReadUntilAsync(m => m.IsTaskEvent(live), "the live task after the replay"));

        var events = received.Where(m => m.Str("type") == "event").ToList();
        var ids = events.Select(m => m.Id()).ToList();
        Assert.Equal(ids.Order(), ids);
        Assert.Equal(ids.Distinct().Count(), ids.Count);
        Assert.True(ids[0] > seenThrough);

        // Exactly what the journal holds on that topic between the two, nothing else and nothing less.
        var store = Host.Services.GetRequiredService<EventLog>();
        var orgId = (await store.ReadBySeqAsync([ids[0]], CancellationToken.None)).Single().OrgId;
        var journal = await store.ReadAfterAsync(seenThrough, orgId, ["tasks"], 1000, CancellationToken.None);
        Assert.Equal(journal.Where(r => r.Id <= ids[^1]).Select(r => r.Id), ids);
        var taskIds = events.Select(m => m.GetProperty("data").Str("taskId")).ToList();
        Assert.Equal([.. missed, live], taskIds.Where(t => missed.Contains(t) || t == live));
    }

    [Fact]
    public async Task LastEventId_NewerThanAnyEvent_GetsResync_ThenLiveEvents()
    {
        await using var socket = await ConnectAsync();
        var future = socket.Hello.GetProperty("lastEventId").GetInt64() + 1_000_000;
        await socket.SendAsync(new { type = "subscribe", topics = new[] { "tasks" }, lastEventId = future });
        var resync = await socket.NextAsync(m => m.Str("type") == "resync", "resync");
        Assert.Equal("unknown-event-id", resync.Str("reason"));
        Assert.True(resync.GetProperty("lastEventId").GetInt64() < future);

        using var client = Host.CreateClient(Org.MemberKey);
        var task = await NewTaskAsync(client, Org);
        await socket.NextAsync(m => m.IsTaskEvent(task), "the live task after the resync");
    }

    [Fact]
    public async Task Upgrade_Anonymous401_OtherOrg404_Cookie101_CrossSiteCookie403_PlainGet400()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, await StreamSocket.UpgradeStatusAsync(Host.BaseAddress, Org.Org, bearer: null));
        Assert.Equal(HttpStatusCode.Unauthorized, await StreamSocket.UpgradeStatusAsync(Host.BaseAddress, Org.Org, bearer: "clk_not_a_real_key"));
        Assert.Equal(HttpStatusCode.NotFound, await StreamSocket.UpgradeStatusAsync(Host.BaseAddress, fixture.OtherOrg.Org, Org.MemberKey));
        Assert.Equal(HttpStatusCode.NotFound, await StreamSocket.UpgradeStatusAsync(Host.BaseAddress, "no-such-org", Org.MemberKey));

        var self = Host.BaseAddress.GetLeftPart(UriPartial.Authority);
        await using (var cookie = await StreamSocket.ConnectAsync(Host.BaseAddress, Org.Org, bearer: null, cookie: Org.OwnerToken, origin: self))
        {
            await cookie.SubscribeAsync(["tasks"]);
        }

        await using (var noOrigin = await StreamSocket.ConnectAsync(Host.BaseAddress, Org.Org, bearer: null, cookie: Org.OwnerToken))
        {
            Assert.Equal("hello", noOrigin.Hello.Str("type"));
        }

        Assert.Equal(HttpStatusCode.Forbidden, await StreamSocket.UpgradeStatusAsync(Host.BaseAddress, Org.Org, bearer: null, cookie: Org.OwnerToken, origin: "https://evil.example"));
        Assert.Equal(HttpStatusCode.Forbidden, await StreamSocket.UpgradeStatusAsync(Host.BaseAddress, Org.Org, bearer: null, cookie: Org.OwnerToken, origin: "null"));
        // A bearer token is not sent by browsers on their own, so any Origin is fine with it.
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await StreamSocket.UpgradeStatusAsync(Host.BaseAddress, Org.Org, Org.MemberKey, origin: "https://tool.example"));

        using var client = Host.CreateClient(Org.MemberKey);
        await client.GetAsync(Org.Api("stream")).ExpectProblemAsync(HttpStatusCode.BadRequest, "websocket-required");
    }

    [Fact]
    public async Task MalformedFrames_GetAnErrorNamingTheProblem_AndTheConnectionStaysUsable()
    {
        await using var socket = await ConnectAsync();

        async Task ExpectErrorAsync(string error, string mention)
        {
            var message = await socket.NextAsync(m => m.Str("type") == "error", error);
            Assert.Equal(error, message.Str("error"));
            Assert.Contains(mention, message.Str("detail"), StringComparison.Ordinal);
        }

        await socket.SendTextAsync("{not json");
        await ExpectErrorAsync("malformed-json", "JSON");
        await socket.SendTextAsync("[1,2]");
        await ExpectErrorAsync("malformed-json", "object");
        await socket.SendTextAsync("""{"type": "subscribe", "topics": ["\ud800"]}""");
        await ExpectErrorAsync("malformed-json", "topics[0]");
        await socket.SendAsync(new { type = "dance" });
        await ExpectErrorAsync("unknown-type", "dance");
        await socket.SendAsync(new { topics = new[] { "tasks" } });
        await ExpectErrorAsync("unknown-type", "type");
        await socket.SendAsync(new { type = "subscribe", topics = new[] { "tasks", "weather" } });
        await ExpectErrorAsync("invalid-topic", "'weather'");
        await socket.SendAsync(new { type = "subscribe", topics = new[] { "task:not-a-guid:logs" } });
        await ExpectErrorAsync("invalid-topic", "task:not-a-guid:logs");
        await socket.SendAsync(new { type = "subscribe", topics = Array.Empty<string>() });
        await ExpectErrorAsync("missing-topics", "topic");
        await socket.SendAsync(new { type = "subscribe" });
        await ExpectErrorAsync("missing-topics", "topics");
        await socket.SendAsync(new { type = "subscribe", topics = Enumerable.Range(0, 101).Select(_ => "tasks").ToArray() });
        await ExpectErrorAsync("too-many-topics", "100");
        await socket.SendAsync(new { type = "subscribe", topics = new[] { "tasks" }, lastEventId = "yesterday" });
        await ExpectErrorAsync("invalid-last-event-id", "lastEventId");
        await socket.SendBinaryAsync([1, 2, 3]);
        await ExpectErrorAsync("binary-frame", "binary");
        await socket.SendTextAsync("{\"type\":\"ping\",\"pad\":\"" + new string('x', 70_000) + "\"}");
        await ExpectErrorAsync("too-large", "65536");

        await socket.SendAsync(new { type = "ping" });
        await socket.NextAsync(m => m.Str("type") == "pong", "pong");
        await socket.SubscribeAsync(["tasks"]);
        using var client = Host.CreateClient(Org.MemberKey);
        var task = await NewTaskAsync(client, Org);
        await socket.NextAsync(m => m.IsTaskEvent(task), "a task event after the errors");
    }

    [Fact]
    public async Task Unsubscribe_StopsThatTopic()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        var task = await NewTaskAsync(client, Org);
        await using var socket = await ConnectAsync();
        await socket.SubscribeAsync(["tasks", $"task:{task}:logs"]);
        await socket.SendAsync(new { type = "unsubscribe", topics = new[] { "tasks" } });
        await socket.NextAsync(m => m.Str("type") == "unsubscribed", "unsubscribed");
        await NewTaskAsync(client, Org);
        await AppendAsync(client, Org, task, "after");
        var next = await socket.ReceiveEventAsync();
        Assert.Equal("logs", next.Str("event"));
    }

    [Fact]
    public async Task ServerSentEvents_CarryTheSameEvents_ReplayFromLastEventId_AndRefuseABadTopic()
    {
        using var client = Host.CreateClient(Org.MemberKey);
        await client.GetAsync(Org.Api("events?topics=tasks,weather")).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation")
            .ContinueWith(t => Assert.Contains("weather", t.Result.Str("detail"), StringComparison.Ordinal), TaskScheduler.Default);
        await client.GetAsync(Org.Api("events")).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        await client.GetAsync(Org.Api("events?topics=tasks&lastEventId=soon")).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");

        long firstId;
        string firstTask;
        await using (var sse = await SseReader.OpenAsync(Host.CreateClient(Org.MemberKey), Org.Api("events?topics=tasks")))
        {
            firstTask = await NewTaskAsync(client, Org);
            var evt = await sse.NextAsync(e => e.Event == "task" && e.Data.GetProperty("data").Str("taskId") == firstTask);
            firstId = evt.Id!.Value;
            Assert.Equal(firstId, evt.Data.Id());
            Assert.Equal("tasks", evt.Data.Str("topic"));
            Assert.Equal("event", evt.Data.Str("type"));
        }

        var missed = await NewTaskAsync(client, Org);
        using var resume = Host.CreateClient(Org.MemberKey);
        resume.DefaultRequestHeaders.Add("Last-Event-ID", firstId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await using var again = await SseReader.OpenAsync(resume, Org.Api("events?topics=tasks"));
        var replayed = await again.NextAsync(e => e.Event == "task");
        Assert.True(replayed.Id > firstId);
        var all = new List<SseEvent> { replayed };
        if (replayed.Data.GetProperty("data").Str("taskId") != missed)
        {
            all.Add(await again.NextAsync(e => e.Event == "task" && e.Data.GetProperty("data").Str("taskId") == missed));
        }

        var live = await NewTaskAsync(client, Org);
        all.Add(await again.NextAsync(e => e.Event == "task" && e.Data.GetProperty("data").Str("taskId") == live));
        Assert.DoesNotContain(all, e => e.Data.GetProperty("data").Str("taskId") == firstTask);
        Assert.Equal(all.Select(e => e.Id).Order(), all.Select(e => e.Id));
    }

    [Fact]
    public async Task ServerSentEvents_LastEventIdFromTheFuture_GetsResyncWithAnIdToFollowFrom_AndAReconnectFromItGoesLive()
    {
        SseEvent resync;
        await using (var sse = await SseReader.OpenAsync(Host.CreateClient(Org.MemberKey), Org.Api("events?topics=tasks&lastEventId=999999999999")))
        {
            resync = await sse.NextAsync(e => e.Event == "resync");
            Assert.Equal("unknown-event-id", resync.Data.Str("reason"));
            Assert.Null(await sse.ReadAsync());
        }

        // The resync's SSE id is the id to follow from, so a browser's automatic reconnect (which sends it as
        // Last-Event-ID) resumes live instead of being told to resync again.
        Assert.Equal(resync.Data.GetProperty("lastEventId").GetInt64(), resync.Id);
        using var reconnecting = Host.CreateClient(Org.MemberKey);
        reconnecting.DefaultRequestHeaders.Add("Last-Event-ID", resync.Id!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await using var again = await SseReader.OpenAsync(reconnecting, Org.Api("events?topics=tasks"));
        using var agent = Host.CreateClient(Org.MemberKey);
        var task = await NewTaskAsync(agent, Org);
        var next = await again.NextAsync(e => e.Event != "task" || e.Data.GetProperty("data").Str("taskId") == task);
        Assert.Equal("task", next.Event);
    }

    [Fact]
    public async Task Sdk_StreamAsync_ReplaysFromLastEventId_ThenYieldsLiveEvents()
    {
        using var http = Host.CreateClient(Org.MemberKey);
        var before = (await Host.Services.GetRequiredService<EventLog>().PositionAsync(CancellationToken.None)).NewestId;
        var missed = await NewTaskAsync(http, Org);

        using var sdk = new Clarity.Client.ClarityClient(Host.BaseAddress, Org.MemberKey, Org.Org);
        using var cts = new CancellationTokenSource(StreamSocket.Timeout);
        var seen = new List<Clarity.Client.StreamEvent>();
        string? live = null;
        await foreach (var evt in sdk.StreamAsync(["tasks"], before, cts.Token))
        {
            seen.Add(evt);
            var taskId = evt.Data?.GetProperty("taskId").GetString();
            if (taskId == missed && live is null)
            {
                live = await NewTaskAsync(http, Org);
            }
            else if (taskId == live)
            {
                break;
            }
        }

        Assert.All(seen, e => Assert.Equal(("event", "tasks", "task"), (e.Type, e.Topic, e.Event)));
        Assert.Equal(seen.Select(e => e.Id).Order(), seen.Select(e => e.Id));
        Assert.True(seen[0].Id > before);
        Assert.Equal([missed, live], seen.Select(e => e.Data!.Value.GetProperty("taskId").GetString()).Where(t => t == missed || t == live));
    }

    [Fact]
    public async Task Connections_AreCountedByTransport_OnTheHostsClarityMeter()
    {
        // A host of its own: on the shared one, the previous tests' connections may still be closing.
        await using var host = await ClarityHost.StartAsync(fixture.Backend);
        var org = await host.SetupAsync("acme");
        var factory = host.Services.GetRequiredService<IMeterFactory>();
        long Read(string transport)
        {
            long value = -1;
            using var listener = new MeterListener
            {
                InstrumentPublished = (instrument, l) =>
                {
                    if (instrument.Meter.Scope == factory && instrument.Meter.Name == "Clarity" && instrument.Name == "clarity.stream.connections")
                    {
                        l.EnableMeasurementEvents(instrument);
                    }
                },
            };
            listener.SetMeasurementEventCallback<long>((_, v, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == "transport" && (string?)tag.Value == transport)
                    {
                        value = v;
                    }
                }
            });
            listener.Start();
            listener.RecordObservableInstruments();
            return value;
        }

        async Task WaitForAsync(string transport, long expected)
        {
            var deadline = DateTime.UtcNow + StreamSocket.Timeout;
            while (Read(transport) != expected)
            {
                Assert.True(DateTime.UtcNow < deadline, $"{transport} connections stayed at {Read(transport)}, expected {expected}");
                await Task.Delay(20);
            }
        }

        Assert.Equal(0, Read("websocket"));
        Assert.Equal(0, Read("sse"));
        await using (var socket = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, org.MemberKey))
        {
            await WaitForAsync("websocket", 1);
            await using (await SseReader.OpenAsync(host.CreateClient(org.MemberKey), org.Api("events?topics=tasks")))
            {
                await WaitForAsync("sse", 1);
            }

            await WaitForAsync("sse", 0);
        }

        await WaitForAsync("websocket", 0);
    }

    [Fact]
    public async Task RevokingTheApiKey_EndsItsOpenStreams()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var key = await owner.PostAsJsonAsync(Org.Api("api-keys"), new { name = Work.Unique("stream-key"), role = "viewer" }).ExpectAsync(HttpStatusCode.Created);
        await using var socket = await StreamSocket.ConnectAsync(Host.BaseAddress, Org.Org, key.Str("secret"));
        await socket.SubscribeAsync(["tasks"]);
        using var sse = Host.CreateClient(key.Str("secret"));
        await using var events = await SseReader.OpenAsync(sse, Org.Api("events?topics=tasks"));

        (await owner.DeleteAsync(Org.Api($"api-keys/{key.Str("id")}"))).EnsureSuccessStatusCode();

        while (await socket.ReceiveAsync() is not null)
        {
        }

        Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.PolicyViolation, socket.CloseStatus);
        Assert.Null(await events.ReadAsync());
    }

    private Task<StreamSocket> ConnectAsync() => StreamSocket.ConnectAsync(Host.BaseAddress, Org.Org, Org.MemberKey);

    internal static async Task<string> NewTaskAsync(HttpClient client, OrgSession org) =>
        (await client.CreateTaskAsync(org, new { queue = Work.Unique("stream"), title = "streamed" })).Str("id");

    internal static Task<JsonElement> AppendAsync(HttpClient client, OrgSession org, string taskId, params string[] lines) =>
        client.PostAsJsonAsync(org.Api($"tasks/{taskId}/logs"), lines.Select(text => new { text }).ToArray()).ExpectAsync(HttpStatusCode.OK);
}

public sealed class SqliteStreamTests(SqliteHostFixture fixture) : StreamTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresStreamTests(PostgresHostFixture fixture) : StreamTests(fixture), IClassFixture<PostgresHostFixture>;

public static class StreamTestExtensions
{
    /// <summary>The next event message, skipping control messages.</summary>
    public static async Task<JsonElement> ReceiveEventAsync(this StreamSocket socket) =>
        await socket.NextAsync(m => m.Str("type") == "event", "an event");
}

public sealed record SseEvent(long? Id, string Event, JsonElement Data);

/// <summary>Reads a text/event-stream response event by event.</summary>
public sealed class SseReader : IAsyncDisposable
{
    private readonly HttpClient _client;
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private SseReader(HttpClient client, HttpResponseMessage response, StreamReader reader)
    {
        _client = client;
        _response = response;
        _reader = reader;
    }

    public static async Task<SseReader> OpenAsync(HttpClient client, string path)
    {
        var response = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync(), Encoding.UTF8);
        return new SseReader(client, response, reader);
    }

    /// <summary>The next event (comments skipped), or null when the server ended the response.</summary>
    public async Task<SseEvent?> ReadAsync()
    {
        using var cts = new CancellationTokenSource(StreamSocket.Timeout);
        long? id = null;
        string? name = null;
        var data = new StringBuilder();
        while (true)
        {
            var line = await _reader.ReadLineAsync(cts.Token);
            if (line is null)
            {
                return null;
            }

            if (line.Length == 0)
            {
                if (data.Length > 0)
                {
                    return new SseEvent(id, name ?? "message", JsonDocument.Parse(data.ToString()).RootElement.Clone());
                }

                continue;
            }

            if (line.StartsWith(':'))
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..].TrimStart(' ');
            switch (field)
            {
                case "id":
                    id = long.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                    break;
                case "event":
                    name = value;
                    break;
                case "data":
                    data.Append(value);
                    break;
            }
        }
    }

    public async Task<SseEvent> NextAsync(Func<SseEvent, bool> match)
    {
        while (true)
        {
            var next = await ReadAsync() ?? throw new InvalidOperationException("The event stream ended.");
            if (match(next))
            {
                return next;
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}
