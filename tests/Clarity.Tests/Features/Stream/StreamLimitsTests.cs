using Clarity.Events;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text.Json;
using Clarity.Events.Stream;
using Clarity.Hosting;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;

namespace Clarity.Tests.Features.Stream;

/// <summary>Retention and slow consumers, each on a host of its own (they prune the journal or shrink the buffers).</summary>
public abstract class StreamLimitsTests(Backend backend)
{
    [Fact]
    public async Task LastEventId_OlderThanRetention_GetsResync_WhileOneStillRetainedReplays()
    {
        await using var host = await ClarityHost.StartAsync(backend);
        var org = await host.SetupAsync("acme");
        using var client = host.CreateClient(org.MemberKey);
        long firstId;
        await using (var socket = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, org.MemberKey))
        {
            await socket.SubscribeAsync(["tasks"]);
            var first = await StreamTests.NewTaskAsync(client, org);
            firstId = (await socket.NextAsync(m => m.IsTaskEvent(first), "the first task")).Id();
        }

        // Retention runs as if two retention windows had passed: everything so far is pruned, once the durable outbox
        // consumers (webhook and notification fan-out, the Slack updater) have read past it; pruning never outruns them,
        // so sweep again until they have (each runs at least once a second).
        var retention = host.Services.GetRequiredService<IOptions<ClarityOptions>>().Value.Stream.Retention;
        var sweep = new StreamSweep(host.Services.GetRequiredService<EventLog>(), host.Services.GetRequiredService<IOptions<ClarityOptions>>());
        var log = host.Services.GetRequiredService<EventLog>();
        var position = await log.PositionAsync(CancellationToken.None);
        for (var attempt = 0; attempt < 600 && position.PrunedThrough < firstId; attempt++)
        {
            await sweep.SweepAsync(DateTimeOffset.UtcNow + retention + retention, CancellationToken.None);
            position = await log.PositionAsync(CancellationToken.None);
            if (position.PrunedThrough < firstId)
            {
                await Task.Delay(100);
            }
        }

        Assert.True(position.PrunedThrough >= firstId, $"pruned through {position.PrunedThrough}, the first task's event is {firstId}");

        await using var behind = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, org.MemberKey);
        Assert.Equal(position.NewestId, behind.Hello.GetProperty("lastEventId").GetInt64());
        await behind.SendAsync(new { type = "subscribe", topics = new[] { "tasks" }, lastEventId = firstId - 1 });
        var resync = await behind.NextAsync(m => m.Str("type") == "resync", "resync");
        Assert.Equal("behind-retention", resync.Str("reason"));
        Assert.Equal(position.NewestId, resync.GetProperty("lastEventId").GetInt64());

        // From the resync's lastEventId on, replay is exact again.
        var next = await StreamTests.NewTaskAsync(client, org);
        await behind.NextAsync(m => m.IsTaskEvent(next), "the live task after the resync");
        await using var current = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, org.MemberKey);
        await current.SendAsync(new { type = "subscribe", topics = new[] { "tasks" }, lastEventId = position.NewestId });
        var replayed = await current.ReceiveEventAsync();
        Assert.Equal(next, replayed.GetProperty("data").Str("taskId"));
    }

    [Fact]
    public void Retention_UnderTenMinutes_IsRefusedAtStartUp()
    {
        var error = Assert.Throws<OptionsValidationException>(() => ClarityServer.Create(new Dictionary<string, string?>
        {
            ["Clarity:Urls"] = "http://127.0.0.1:0",
            ["Clarity:DataDirectory"] = Path.GetTempPath(),
            ["Clarity:Stream:Retention"] = "00:09:59",
        }));
        Assert.Contains("Clarity:Stream:Retention", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SlowConsumer_IsToldToResyncAndClosed_WhileAnotherClientReceivesEveryEvent()
    {
        const int Batches = 40;
        const int LinesPerBatch = 500;
        await using var host = await ClarityHost.StartAsync(backend, new Dictionary<string, string?>
        {
            ["Clarity:Stream:BufferSize"] = "4",
            ["Clarity:Limits:MaxRequestBodyBytes"] = (8 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        var org = await host.SetupAsync("acme");
        using var client = host.CreateClient(org.MemberKey);
        var task = await StreamTests.NewTaskAsync(client, org);
        string[] topics = [$"task:{task}:logs"];

        await using var fast = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, org.MemberKey);
        await fast.SubscribeAsync(topics);
        await using var slow = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, org.MemberKey, receiveBuffer: 4096);
        await slow.SubscribeAsync(topics);

        // About 1 MB per event: the slow client stops reading, so its socket and then its 4-event buffer fill up.
        var line = new string('x', 2000);
        var received = new List<JsonElement>();
        for (var i = 0; i < Batches; i++)
        {
            var appended = await StreamTests.AppendAsync(client, org, task, [.. Enumerable.Repeat(line, LinesPerBatch)]);
            var lastSeq = appended.GetProperty("lastSeq").GetInt64();

            // The fast client keeps up (it reads each event before the next is raised) and is never affected by the slow one.
            received.Add(await fast.NextAsync(m => m.IsEvent("logs") && m.GetProperty("data").GetProperty("lastSeq").GetInt64() == lastSeq, $"batch {i}"));
        }

        Assert.Equal(Batches, received.Count);
        Assert.All(received, m => Assert.Equal(LinesPerBatch, m.GetProperty("data").GetProperty("lines").GetArrayLength()));
        Assert.Equal(received.Select(m => m.Id()).Order(), received.Select(m => m.Id()));

        // The slow client now reads: some events, then resync (buffer-overflow), then the server closes.
        var slowEvents = 0;
        JsonElement? resync = null;
        while (await slow.ReceiveAsync() is { } m)
        {
            if (m.Str("type") == "event")
            {
                Assert.Null(resync);
                slowEvents++;
            }
            else if (m.Str("type") == "resync")
            {
                resync = m;
            }
        }

        Assert.NotNull(resync);
        Assert.Equal("buffer-overflow", resync.Value.Str("reason"));
        Assert.True(slowEvents < Batches, $"the slow client got all {slowEvents} events");
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, slow.CloseStatus);
    }

    [Fact]
    public async Task NeverReadingWebSocket_OfLargeLogEvents_OverflowsItsByteBound_LongBeforeItsFrameBound()
    {
        await using var host = await ClarityHost.StartAsync(backend, ByteBoundSettings);
        var org = await host.SetupAsync("acme");
        using var client = host.CreateClient(org.MemberKey);
        var task = await StreamTests.NewTaskAsync(client, org);
        string[] topics = [$"task:{task}:logs"];
        await using var fast = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, org.MemberKey);
        await fast.SubscribeAsync(topics);
        await using var idle = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, org.MemberKey, receiveBuffer: 4096);
        await idle.SubscribeAsync(topics);

        await AppendLargeEventsAsync(client, org, task, fast);

        // The idle client now reads: a few events (what the network and its buffer held), then resync, then the close.
        var events = 0;
        JsonElement? resync = null;
        while (await idle.ReceiveAsync() is { } m)
        {
            if (m.Str("type") == "event")
            {
                Assert.Null(resync);
                events++;
            }
            else if (m.Str("type") == "resync")
            {
                resync = m;
            }
        }

        Assert.NotNull(resync);
        Assert.Equal("buffer-overflow", resync.Value.Str("reason"));
        Assert.True(events < LargeEvents, $"the idle client got all {events} events");
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, idle.CloseStatus);
    }

    [Fact]
    public async Task NeverReadingEventSource_OfLargeLogEvents_OverflowsItsByteBound_AndGetsResyncLast()
    {
        await using var host = await ClarityHost.StartAsync(backend, ByteBoundSettings);
        var org = await host.SetupAsync("acme");
        using var client = host.CreateClient(org.MemberKey);
        var task = await StreamTests.NewTaskAsync(client, org);
        await using var fast = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, org.MemberKey);
        await fast.SubscribeAsync([$"task:{task}:logs"]);
        await using var idle = await SseReader.OpenAsync(SmallBufferClient(host, org.MemberKey), org.Api($"events?topics=task:{task}:logs"));

        // One small event read first: the subscription is in place. From now on the client reads nothing.
        await StreamTests.AppendAsync(client, org, task, "first");
        await idle.NextAsync(e => e.Event == "logs");
        await AppendLargeEventsAsync(client, org, task, fast);

        var events = 0;
        SseEvent? resync = null;
        while (await idle.ReadAsync() is { } e)
        {
            if (e.Event == "logs")
            {
                Assert.Null(resync);
                events++;
            }
            else if (e.Event == "resync")
            {
                resync = e;
            }
        }

        Assert.NotNull(resync);
        Assert.Equal("buffer-overflow", resync.Data.Str("reason"));
        Assert.True(events < LargeEvents, $"the idle client got all {events} events");
    }

    [Fact]
    public async Task Subscribe_PastTheTopicCapOfTheConnection_AnswersTooManyTopics_AndKeepsTheConnectionAndItsSubscriptions()
    {
        await using var host = await ClarityHost.StartAsync(backend, new Dictionary<string, string?> { ["Clarity:Stream:MaxTopicsPerConnection"] = "100" });
        var org = await host.SetupAsync("acme");
        using var client = host.CreateClient(org.MemberKey);
        await using var socket = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, org.MemberKey);
        await socket.SubscribeAsync(["tasks", .. Enumerable.Range(0, 49).Select(_ => StreamTopics.Logs(Guid.NewGuid()))]);
        await socket.SubscribeAsync([.. Enumerable.Range(0, 50).Select(_ => StreamTopics.Logs(Guid.NewGuid()))]);

        await socket.SendAsync(new { type = "subscribe", topics = new[] { "agents" } });
        var error = await socket.NextAsync(m => m.Str("type") is "error" or "subscribed", "the answer to the 101st topic");
        Assert.Equal("error", error.Str("type"));
        Assert.Equal("too-many-topics", error.Str("error"));

        // Still open, still following what it followed; a topic it already follows is no new one.
        await socket.SendAsync(new { type = "ping" });
        await socket.NextAsync(m => m.Str("type") == "pong", "pong");
        var task = await StreamTests.NewTaskAsync(client, org);
        await socket.NextAsync(m => m.IsTaskEvent(task), "the task event");
        await socket.SubscribeAsync(["tasks"]);
    }

    private const int LargeEvents = 16;

    private static readonly Dictionary<string, string?> ByteBoundSettings = new()
    {
        ["Clarity:Stream:BufferBytes"] = (256 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Clarity:Limits:MaxRequestBodyBytes"] = (4 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// Appends <see cref="LargeEvents"/> batches of 16 lines just under 64 KiB (about 1 MiB of text each: far fewer events
    /// than the 1,024-frame buffer holds, far more bytes than its 256 KiB), and waits until <paramref name="fast"/> has each
    /// event: then the hub has offered it to every subscriber. Each event carries at most 1 MiB of its lines.
    /// </summary>
    private static async Task AppendLargeEventsAsync(HttpClient client, OrgSession org, string task, StreamSocket fast)
    {
        var line = new string('x', 64 * 1024 - 64);
        for (var i = 0; i < LargeEvents; i++)
        {
            var appended = await StreamTests.AppendAsync(client, org, task, [.. Enumerable.Repeat(line, 16)]);
            var lastSeq = appended.GetProperty("lastSeq").GetInt64();
            var received = await fast.NextAsync(m => m.IsEvent("logs") && m.GetProperty("data").GetProperty("lastSeq").GetInt64() == lastSeq, $"large event {i}");
            var data = received.GetProperty("data");
            Assert.True(data.GetProperty("truncated").GetBoolean());
            Assert.InRange(data.GetProperty("lines").GetArrayLength(), 1, 15);
            Assert.InRange(data.GetProperty("lines").GetRawText().Length, 1, StreamHub.MaxLineBytesPerEvent);
        }
    }

    /// <summary>An HTTP client whose socket has a small receive buffer, so that a response it stops reading backs up quickly.</summary>
    private static HttpClient SmallBufferClient(ClarityHost host, string bearer)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveBufferSize = 4096 };
                try
                {
                    await socket.ConnectAsync(context.DnsEndPoint, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        var client = new HttpClient(handler) { BaseAddress = host.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        return client;
    }
}

public sealed class SqliteStreamLimitsTests() : StreamLimitsTests(Backend.Sqlite);

public sealed class PostgresStreamLimitsTests() : StreamLimitsTests(Backend.Postgres);
