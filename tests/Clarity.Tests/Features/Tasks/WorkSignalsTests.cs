using Clarity.Client;
using Clarity.Events;
using Clarity.Features.Tasks;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Clarity.Tests.Features.Tasks;

/// <summary>
/// Who a newly claimable task wakes among the agents long-polling on this node, through the real event bus: a task without
/// labels wakes one waiter, alone (it then claims without looking first); a task with labels wakes every matching waiter,
/// shared (each looks before it writes, so a thousand waiting agents cost reads, not a thousand claims on the writer).
/// </summary>
public sealed class WorkSignalsTests
{
    private static readonly Guid Org = Guid.NewGuid();

    [Fact]
    public async Task ATaskWithoutLabels_WakesTheLongestWaitingMatchingAgentAlone_AndNoOther()
    {
        var bus = new EventBus(NullLogger<EventBus>.Instance);
        using var signals = new WorkSignals(bus);
        var otherQueue = signals.Register(Org, ["other"]);
        var first = signals.Register(Org, ["build"]);
        var second = signals.Register(Org, null);

        bus.DeliverCommitted([new TaskChanged(Org, Guid.NewGuid(), "build", TaskStatuses.Queued, HasLabels: false)]);

        Assert.Equal(new WorkSignals.Wake("build", Alone: true), await first.Signal.Task);
        Assert.False(second.Signal.Task.IsCompleted);
        Assert.False(otherQueue.Signal.Task.IsCompleted);
    }

    [Fact]
    public async Task ATaskWithLabels_WakesEveryMatchingAgent_NoneOfThemAlone()
    {
        var bus = new EventBus(NullLogger<EventBus>.Instance);
        using var signals = new WorkSignals(bus);
        var first = signals.Register(Org, ["build"]);
        var second = signals.Register(Org, null);
        var otherOrg = signals.Register(Guid.NewGuid(), null);

        bus.DeliverCommitted([new TaskChanged(Org, Guid.NewGuid(), "build", TaskStatuses.Queued, HasLabels: true)]);

        Assert.Equal(new WorkSignals.Wake("build", Alone: false), await first.Signal.Task);
        Assert.Equal(new WorkSignals.Wake("build", Alone: false), await second.Signal.Task);
        Assert.False(otherOrg.Signal.Task.IsCompleted);
    }

    [Fact]
    public void ATaskThatIsNotClaimable_WakesNobody()
    {
        var bus = new EventBus(NullLogger<EventBus>.Instance);
        using var signals = new WorkSignals(bus);
        var waiter = signals.Register(Org, null);

        bus.DeliverCommitted([new TaskChanged(Org, Guid.NewGuid(), "build", TaskStatuses.Running, HasLabels: false)]);

        Assert.False(waiter.Signal.Task.IsCompleted);
    }
}
