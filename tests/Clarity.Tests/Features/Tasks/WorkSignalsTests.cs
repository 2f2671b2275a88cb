using Clarity.Client;
using Clarity.Events;
using Clarity.Features.Tasks;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Clarity.Tests.Features.Tasks;

/// <summary>
/// Who a newly claimable task wakes among the agents long-polling on this node, through the real event bus: a task without
/// labels wakes one waiter, alone (it then claims without looking first); a task with labels wakes every matching waiter,
/// shared (each looks before it writes, so a thousand waiting agents cost reads, not a thousand claims on the writer). An
/// agent waiting for one particular task is woken by that task alone and never takes another task's wake-up.
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

        var task = Guid.NewGuid();
        bus.DeliverCommitted([new TaskChanged(Org, task, "build", TaskStatuses.Queued, HasLabels: false)]);

        Assert.Equal(new WorkSignals.Wake("build", task, Alone: true), await first.Signal.Task);
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

        var task = Guid.NewGuid();
        bus.DeliverCommitted([new TaskChanged(Org, task, "build", TaskStatuses.Queued, HasLabels: true)]);

        Assert.Equal(new WorkSignals.Wake("build", task, Alone: false), await first.Signal.Task);
        Assert.Equal(new WorkSignals.Wake("build", task, Alone: false), await second.Signal.Task);
        Assert.False(otherOrg.Signal.Task.IsCompleted);
    }

    [Fact]
    public async Task AnAgentWaitingForOneTask_IsNotWokenByAnother_AndLeavesTheWakeUpToTheAgentsWaitingForAnyTask()
    {
        var bus = new EventBus(NullLogger<EventBus>.Instance);
        using var signals = new WorkSignals(bus);
        var wantsOne = signals.Register(Org, ["build"], taskId: Guid.NewGuid());
        var wantsAny = signals.Register(Org, ["build"]);

        var task = Guid.NewGuid();
        bus.DeliverCommitted([new TaskChanged(Org, task, "build", TaskStatuses.Queued, HasLabels: false)]);

        Assert.Equal(new WorkSignals.Wake("build", task, Alone: true), await wantsAny.Signal.Task);
        Assert.False(wantsOne.Signal.Task.IsCompleted);
    }

    [Fact]
    public async Task TheTaskAnAgentWaitsFor_WakesItBesideOneAgentWaitingForAnyTask()
    {
        var bus = new EventBus(NullLogger<EventBus>.Instance);
        using var signals = new WorkSignals(bus);
        var task = Guid.NewGuid();
        var wantsIt = signals.Register(Org, null, taskId: task);
        var wantsAny = signals.Register(Org, ["build"]);
        var alsoWantsAny = signals.Register(Org, null);

        bus.DeliverCommitted([new TaskChanged(Org, task, "build", TaskStatuses.Queued, HasLabels: false)]);

        Assert.Equal(new WorkSignals.Wake("build", task, Alone: false), await wantsIt.Signal.Task);
        Assert.Equal(new WorkSignals.Wake("build", task, Alone: true), await wantsAny.Signal.Task);
        Assert.False(alsoWantsAny.Signal.Task.IsCompleted);
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
