using Clarity.Events.Stream;
using Xunit;

namespace Clarity.Tests.Features.Stream;

/// <summary>The per-connection ordering rules around replay and the bounded buffer, without a host.</summary>
public sealed class StreamConnectionTests
{
    private static StreamFrame Frame(long id, string topic = "tasks") =>
        StreamFrame.Event(new StreamRow { Id = id, OrgId = Guid.Empty, Topic = topic, Kind = "task", Payload = "{}", CreatedAt = 0 });

    private static List<string> Drain(StreamConnection connection)
    {
        var seen = new List<string>();
        while (connection.Outbound.TryRead(out var frame))
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
        Assert.True(connection.Outbound.Completion.IsCompleted);
    }

    [Fact]
    public void AResync_CarriesTheIdToFollowFrom_AsItsFrameId()
    {
        Assert.Equal(42, StreamFrame.Resync("behind-retention", 42).Id);
    }
}
