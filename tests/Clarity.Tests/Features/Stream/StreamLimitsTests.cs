using System.Net;
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

        // Retention runs as if two retention windows had passed: everything so far is pruned.
        var retention = host.Services.GetRequiredService<IOptions<ClarityOptions>>().Value.Stream.Retention;
        Assert.True(await new StreamSweep(host.Services.GetRequiredService<StreamStore>(), host.Services.GetRequiredService<IOptions<ClarityOptions>>())
            .SweepAsync(DateTimeOffset.UtcNow + retention + retention, CancellationToken.None) > 0);
        var position = await host.Services.GetRequiredService<StreamStore>().PositionAsync(CancellationToken.None);
        Assert.True(position.PrunedThrough >= firstId);

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
}

public sealed class SqliteStreamLimitsTests() : StreamLimitsTests(Backend.Sqlite);

public sealed class PostgresStreamLimitsTests() : StreamLimitsTests(Backend.Postgres);
