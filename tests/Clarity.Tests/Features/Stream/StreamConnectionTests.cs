using Clarity.Events;
using Clarity.Events.Stream;
using Xunit;

namespace Clarity.Tests.Features.Stream;

/// <summary>The per-connection ordering rules around replay, the buffer bounded in frames and in bytes, and the topic cap, without a host.</summary>
public sealed class StreamConnectionTests
{
    private static StreamFrame Frame(long id, string topic = "tasks") =>
        StreamFrame.Event(new EventRow { Seq = id, OrgId = Guid.Empty, Topic = topic, Kind = "task", Payload = "{}", CreatedAt = 0 });

    /// <summary>An event of about <paramref name="bytes"/> bytes of JSON.</summary>
    private static StreamFrame Big(long id, int bytes) =>
        StreamFrame.Event(new EventRow { Seq = id, OrgId = Guid.Empty, Topic = "tasks", Kind = "task", Payload = $"{{\"pad\":\"{new string('x', bytes)}\"}}", CreatedAt = 0 });

    private static List<string> Drain(StreamConnection connection)
    {
        var seen = new List<string>();
        while (connection.TryRead(out var frame))
        {
            seen.Add(frame.IsEvent ? frame.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) : frame.Type);
        }

        return seen;
    }

    [Fact]
    public async Task Replay_HoldsLiveEventsBack_ThenDropsThoseTheReplayCovered_EvenWhenDispatchedLate()
    {
        var connection = new StreamConnection(Guid.Empty, "websocket", 100);
        connection.Subscribe(["tasks"], replay: true);
        connection.Offer("tasks", Frame(3)); // raised during the replay, also read by it
        connection.Offer("tasks", Frame(5)); // raised during the replay, after what it read
        foreach (var id in new long[] { 1, 2, 3 })
        {
            Assert.True(await connection.ReplayAsync(Frame(id), CancellationToken.None));
        }

        connection.EndReplay(3);
        connection.Offer("tasks", Frame(2)); // committed before the replay read it, dispatched only now
        connection.Offer("tasks", Frame(6));
        Assert.Equal(["subscribed", "1", "2", "3", "5", "6"], Drain(connection));
    }

    [Fact]
    public void Offer_OnlyDeliversSubscribedTopics()
    {
        var connection = new StreamConnection(Guid.Empty, "sse", 10);
        connection.Subscribe(["tasks"], replay: false);
        connection.Offer("agents", Frame(1, "agents"));
        connection.Offer("tasks", Frame(2));
        connection.Unsubscribe(["tasks"]);
        connection.Offer("tasks", Frame(3));
        Assert.Equal(["subscribed", "2", "unsubscribed"], Drain(connection));
    }

    [Fact]
    public void AFullBuffer_OverflowsTheConnection_WithoutWaiting()
    {
        var connection = new StreamConnection(Guid.Empty, "websocket", 3);
        connection.Subscribe(["tasks"], replay: false);
        connection.Offer("tasks", Frame(1));
        connection.Offer("tasks", Frame(2));
        Assert.False(connection.Overflowed);
        connection.Offer("tasks", Frame(3));
        Assert.True(connection.Overflowed);
        Assert.True(connection.OverflowSignal.IsCancellationRequested);
    }

    [Fact]
    public void ABufferFullInBytes_OverflowsTheConnection_LongBeforeItIsFullInFrames_AndDropsWhatItHeld()
    {
        var connection = new StreamConnection(Guid.Empty, "websocket", 1000, capacityBytes: 10_000);
        connection.Subscribe(["tasks"], replay: false);
        for (var id = 1; id <= 3; id++)
        {
            connection.Offer("tasks", Big(id, 3000));
        }

        Assert.False(connection.Overflowed);
        Assert.InRange(connection.BufferedBytes, 9000, 10_000);
        connection.Offer("tasks", Big(4, 3000));

        Assert.True(connection.Overflowed);
        Assert.True(connection.OverflowSignal.IsCancellationRequested);
        Assert.Equal(0, connection.BufferedBytes);
        Assert.False(connection.TryRead(out _));
    }

    [Fact]
    public void AnEventLargerThanTheByteBound_FitsIntoAnEmptyBuffer_AndReadingFreesItsRoom()
    {
        var connection = new StreamConnection(Guid.Empty, "sse", 1000, capacityBytes: 1000);
        connection.Subscribe(["tasks"], replay: false);
        Assert.True(connection.TryRead(out _)); // the acknowledgement

        connection.Offer("tasks", Big(1, 5000));
        Assert.False(connection.Overflowed);
        Assert.True(connection.TryRead(out var frame));
        Assert.Equal(1, frame.Id);
        Assert.Equal(0, connection.BufferedBytes);

        connection.Offer("tasks", Big(2, 5000));
        Assert.False(connection.Overflowed);
        connection.Offer("tasks", Frame(3));
        Assert.True(connection.Overflowed);
    }

    [Fact]
    public async Task Replay_WaitsForRoomInBytes_UntilTheTransportReads()
    {
        var connection = new StreamConnection(Guid.Empty, "websocket", 1000, capacityBytes: 8000);
        connection.Subscribe(["tasks"], replay: true);
        Assert.True(connection.TryRead(out _));
        Assert.True(await connection.ReplayAsync(Big(1, 5000), CancellationToken.None));

        var second = connection.ReplayAsync(Big(2, 5000), CancellationToken.None).AsTask();
        Assert.False(second.IsCompleted);
        Assert.True(connection.TryRead(out var first));
        Assert.Equal(1, first.Id);
        Assert.True(await second);
        Assert.False(connection.Overflowed);

        // Live events held back during the replay are bounded in bytes too.
        connection.Offer("tasks", Big(3, 5000));
        Assert.False(connection.Overflowed);
        connection.Offer("tasks", Big(4, 5000));
        Assert.True(connection.Overflowed);
    }

    [Fact]
    public async Task AReplayWaitingForRoom_StopsWhenTheConnectionCloses()
    {
        var connection = new StreamConnection(Guid.Empty, "websocket", 1000, capacityBytes: 1000);
        connection.Subscribe(["tasks"], replay: true);
        var waiting = connection.ReplayAsync(Big(1, 5000), CancellationToken.None).AsTask();
        Assert.False(waiting.IsCompleted);

        connection.Complete();
        Assert.False(await waiting);
    }

    [Fact]
    public void Subscribe_PastTheTopicCap_IsRefused_AndKeepsTheSubscriptionsAsTheyWere()
    {
        var connection = new StreamConnection(Guid.Empty, "websocket", 1000, maxTopics: 3);
        Assert.True(connection.Subscribe(["tasks", "agents"], replay: false));
        Assert.False(connection.Subscribe(["clarifications", "runs"], replay: false));
        Assert.Equal(["agents", "tasks"], connection.Topics.Order());

        // Topics it already follows do not count again.
        Assert.True(connection.Subscribe(["tasks", "agents", "runs"], replay: false));
        Assert.False(connection.Subscribe(["clarifications"], replay: false));
        connection.Unsubscribe(["runs"]);
        Assert.True(connection.Subscribe(["clarifications"], replay: false));
        Assert.Equal(["subscribed", "subscribed", "unsubscribed", "subscribed"], Drain(connection));
    }

    [Fact]
    public void AConnectionTheServerEnded_DropsLaterFramesQuietly_KeepingItsReasonAndWhatWasQueued()
    {
        var connection = new StreamConnection(Guid.Empty, "websocket", 100);
        connection.Subscribe(["tasks"], replay: false);
        connection.Offer("tasks", Frame(1));
        connection.End("access-revoked");
        connection.Offer("tasks", Frame(2));
        connection.Send(StreamFrame.Subscribed("subscribed", ["agents"]));

        Assert.False(connection.Overflowed);
        Assert.Equal("access-revoked", connection.EndReason);
        Assert.Equal(["subscribed", "1"], Drain(connection));
        Assert.True(connection.Completion.IsCompleted);
    }

    [Fact]
    public void AResync_CarriesTheIdToFollowFrom_AsItsFrameId()
    {
        Assert.Equal(42, StreamFrame.Resync("behind-retention", 42).Id);
    }
}
