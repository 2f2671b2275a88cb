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

    private static WorkSignals.Claimant Claimant(CancellationToken aborted = default) =>
        new(Guid.NewGuid(), new TaskService.ClaimFilter(null, "[]", 60), 1, Actor.ApiKey(Guid.NewGuid()), "corr", aborted);

    [Fact]
    public async Task AWaiterThatStartedWaiting_IsReservedForAHandOff_AndNoWakeUpReachesIt_UntilTheHandOverBringsItsLeases()
    {
        var bus = new EventBus(NullLogger<EventBus>.Instance);
        using var signals = new WorkSignals(bus);
        var first = signals.Register(Org, ["build"], claimant: Claimant());
        var second = signals.Register(Org, ["build"], claimant: Claimant());
        first.StartWaiting();
        second.StartWaiting();
        Assert.Equal(2, signals.ReadyForHandOff(Org));

        var task = Guid.NewGuid();
        var reserved = signals.Reserve(Org, "build", task);
        Assert.Same(first, reserved);
        Assert.Equal(1, signals.ReadyForHandOff(Org));

        // Reserved, it is off the list: another task's wake-up goes to the next waiter, and it cannot leave.
        var other = Guid.NewGuid();
        bus.DeliverCommitted([new TaskChanged(Org, other, "build", TaskStatuses.Queued, HasLabels: false)]);
        Assert.Equal(new WorkSignals.Wake("build", other, Alone: true), await second.Signal.Task);
        Assert.False(first.Signal.Task.IsCompleted);
        Assert.False(first.TryLeave());

        var lease = new Lease(null!, "cll_handed", DateTimeOffset.UtcNow.AddMinutes(1));
        WorkSignals.HandOver(first, "build", task, [lease]);
        var wake = await first.Signal.Task;
        Assert.Equal((task, true), (wake.TaskId, wake.Alone));
        Assert.Equal([lease], wake.Leases!);
    }

    [Fact]
    public void AWaiterStillMakingItsOwnClaim_OrOnAnotherQueue_OrWhoseRequestIsAborted_OrWaitingForOneTask_OrLeaving_IsNeverReserved()
    {
        var bus = new EventBus(NullLogger<EventBus>.Instance);
        using var signals = new WorkSignals(bus);
        using var aborted = new CancellationTokenSource();
        aborted.Cancel();
        var claiming = signals.Register(Org, ["build"], claimant: Claimant());
        var otherQueue = signals.Register(Org, ["deploy"], claimant: Claimant());
        var gone = signals.Register(Org, ["build"], claimant: Claimant(aborted.Token));
        var oneTask = signals.Register(Org, ["build"], taskId: Guid.NewGuid());
        var withoutClaimant = signals.Register(Org, ["build"]);
        var leaving = signals.Register(Org, ["build"], claimant: Claimant());
        foreach (var waiter in new[] { otherQueue, gone, oneTask, withoutClaimant, leaving })
        {
            waiter.StartWaiting();
        }

        Assert.True(leaving.TryLeave());

        Assert.Null(signals.Reserve(Org, "build", Guid.NewGuid()));
        Assert.Null(signals.Reserve(Guid.NewGuid(), "build", Guid.NewGuid()));
        Assert.True(claiming.TryLeave());
    }

    [Fact]
    public async Task ATaskHandedOffInItsCreate_WakesNobodyWithItsQueuedEvent_ButItsRequeueDoes_AndAForgottenHandOffWakesAsBefore()
    {
        var bus = new EventBus(NullLogger<EventBus>.Instance);
        using var signals = new WorkSignals(bus);
        var waiter = signals.Register(Org, null);

        var handed = Guid.NewGuid();
        signals.HandedOff(handed);
        bus.DeliverCommitted([new TaskChanged(Org, handed, "build", TaskStatuses.Queued, HasLabels: false)]);
        Assert.False(waiter.Signal.Task.IsCompleted);

        // The agent's lease expired later: the requeued task wakes a waiter as any requeue does.
        bus.DeliverCommitted([new TaskChanged(Org, handed, "build", TaskStatuses.Queued, HasLabels: false) { Transition = "lease_expired" }]);
        Assert.Equal(handed, (await waiter.Signal.Task).TaskId);

        // A hand-off whose create did not commit is forgotten: a task of that id (a retry of the create) wakes as usual.
        var next = signals.Register(Org, null);
        var retried = Guid.NewGuid();
        signals.HandedOff(retried);
        signals.Forget(retried);
        bus.DeliverCommitted([new TaskChanged(Org, retried, "build", TaskStatuses.Queued, HasLabels: false)]);
        Assert.Equal(retried, (await next.Signal.Task).TaskId);
    }
}
