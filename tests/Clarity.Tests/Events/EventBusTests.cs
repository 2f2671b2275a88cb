using Clarity.Events;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Clarity.Tests.Events;

public sealed class EventBusTests
{
    [Fact]
    public void Publish_StampsTheAmbientCorrelationId_AndReachesLocalAndAllHandlers()
    {
        var bus = new InProcessEventBus(NullLogger<InProcessEventBus>.Instance);
        var all = new List<ClarityEvent>();
        var local = new List<ClarityEvent>();
        using var a = bus.Subscribe(all.Add);
        using var l = bus.SubscribeLocal(local.Add);

        CorrelationContext.Current = "req-42";
        try
        {
            bus.Publish(new AgentSeen(Guid.NewGuid(), Guid.NewGuid(), "a1"));
        }
        finally
        {
            CorrelationContext.Current = null;
        }

        Assert.Equal("req-42", Assert.Single(all).CorrelationId);
        Assert.Equal("req-42", Assert.Single(local).CorrelationId);
    }

    [Fact]
    public void Unsubscribe_StopsDelivery_ForLocalHandlers()
    {
        var bus = new InProcessEventBus(NullLogger<InProcessEventBus>.Instance);
        var local = new List<ClarityEvent>();
        var subscription = bus.SubscribeLocal(local.Add);
        subscription.Dispose();

        bus.Publish(new AgentSeen(Guid.NewGuid(), Guid.NewGuid(), "a1"));

        Assert.Empty(local);
    }
}
