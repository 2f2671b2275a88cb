using Clarity.Features.Workflows.Runs;
using Xunit;

namespace Clarity.Tests.Features.Workflows;

/// <summary>The in-process gate a node's changes of one run queue on before the run row's lock (PostgreSQL).</summary>
public sealed class RunGatesTests
{
    [Fact]
    public async Task ASecondChangeOfTheSameRun_WaitsUntilTheFirstReleases_ThenEntersInTurn()
    {
        var gates = new RunGates(TimeSpan.FromMinutes(5));
        var run = Guid.NewGuid();
        var first = await gates.EnterAsync(run);
        Assert.NotNull(first);

        var second = gates.EnterAsync(run);
        var third = gates.EnterAsync(run);
        await Task.Delay(50);
        Assert.False(second.IsCompleted);
        Assert.False(third.IsCompleted);

        first.Dispose();
        var secondHeld = await second;
        Assert.NotNull(secondHeld);
        Assert.False(third.IsCompleted);

        secondHeld.Dispose();
        (await third)!.Dispose();
        Assert.Equal(0, gates.InUse);
    }

    [Fact]
    public async Task GatesOfDifferentRuns_DoNotWaitForEachOther()
    {
        var gates = new RunGates(TimeSpan.FromMinutes(5));
        using var a = await gates.EnterAsync(Guid.NewGuid());
        using var b = await gates.EnterAsync(Guid.NewGuid());
        Assert.NotNull(a);
        Assert.NotNull(b);
        Assert.Equal(2, gates.InUse);
    }

    [Fact]
    public async Task AWaitThatOutlastsThePatience_GoesOnWithoutTheGate_AndLeavesNothingBehind()
    {
        // A change holding one run and reaching for another must meet the other side in PostgreSQL, which detects a deadlock.
        var gates = new RunGates(TimeSpan.FromMilliseconds(20));
        var run = Guid.NewGuid();
        var held = await gates.EnterAsync(run);
        Assert.NotNull(held);

        Assert.Null(await gates.EnterAsync(run));
        Assert.Equal(1, gates.InUse);

        held.Dispose();
        held.Dispose();
        Assert.Equal(0, gates.InUse);
        using var again = await gates.EnterAsync(run);
        Assert.NotNull(again);
    }
}
