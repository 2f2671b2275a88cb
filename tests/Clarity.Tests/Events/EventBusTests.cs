using Clarity.Events;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Clarity.Tests.Events;

/// <summary>The node's bus: own events reach every handler at commit, and the feed delivers each other event exactly once.</summary>
public sealed class EventBusTests
{
    private static AgentSeen Event(string name = "a1") => new(Guid.NewGuid(), Guid.NewGuid(), name);

    /// <summary>What the feed does with a row it read: asks first, and only then reads and delivers the event.</summary>
    private static void FeedDelivers(EventBus bus, long rowId, ClarityEvent evt)
    {
        if (bus.ShouldDeliverFromFeed(rowId))
        {
            bus.DeliverFromFeed(evt);
        }
    }

    [Fact]
    public void CommittedEvents_ReachLocalAndAllHandlers_AndTheFeedSkipsThem()
    {
        var bus = new EventBus(NullLogger<EventBus>.Instance);
        var all = new List<ClarityEvent>();
        var local = new List<ClarityEvent>();
        using var a = bus.Subscribe(all.Add);
        using var l = bus.SubscribeLocal(local.Add);
        var own = Event();

        bus.ExpectCommit([7]);
        // The feed may read the committed row before the committing request runs its after-commit step.
        FeedDelivers(bus, 7, own);
        bus.DeliverCommitted([own]);

        Assert.Same(own, Assert.Single(all));
        Assert.Same(own, Assert.Single(local));
    }

    [Fact]
    public void OtherNodesEvents_ReachAllHandlersOnce_ButNotLocalOnes()
    {
        var bus = new EventBus(NullLogger<EventBus>.Instance);
        var all = new List<ClarityEvent>();
        var local = new List<ClarityEvent>();
        using var a = bus.Subscribe(all.Add);
        using var l = bus.SubscribeLocal(local.Add);

        FeedDelivers(bus, 8, Event());

        Assert.Single(all);
        Assert.Empty(local);
    }

    [Fact]
    public void ARolledBackChange_IsForgotten_SoAReusedRowIdIsDeliveredByTheFeed()
    {
        var bus = new EventBus(NullLogger<EventBus>.Instance);
        var all = new List<ClarityEvent>();
        using var a = bus.Subscribe(all.Add);

        bus.ExpectCommit([9]);
        bus.ForgetCommit([9]);
        FeedDelivers(bus, 9, Event());

        Assert.Single(all);
    }

    [Fact]
    public void Unsubscribe_StopsDelivery()
    {
        var bus = new EventBus(NullLogger<EventBus>.Instance);
        var local = new List<ClarityEvent>();
        var subscription = bus.SubscribeLocal(local.Add);
        subscription.Dispose();

        bus.DeliverCommitted([Event()]);

        Assert.Empty(local);
    }
}
