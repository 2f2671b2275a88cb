using Clarity.Features.Notifications.OnCall;
using CsCheck;
using Xunit;

namespace Clarity.Tests.Features.Notifications.OnCall;

public sealed class EscalationPlanTests
{
    private static readonly DateTimeOffset Start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private static EscalationTargets User(int n) => new([], [new Guid(n, 0, 0, new byte[8])]);

    private static EscalationPlan ThreeLevels(int repeat = 0, bool fallback = true) =>
        new([new EscalationLevel(User(1), 5), new EscalationLevel(User(2), 10), new EscalationLevel(User(3), 15)], repeat, fallback ? User(9) : null);

    [Fact]
    public void Due_AtTheStart_PagesLevelOneOnly()
    {
        var due = ThreeLevels().Due(Start, 0, false, Start);
        Assert.Equal([1], due.Steps.Select(s => s.Level));
        Assert.Equal(Start.AddMinutes(5), due.NextAt);
        Assert.False(due.Exhausted);
    }

    [Fact]
    public void Due_BeforeTheDelayRunsOut_PagesNothingMore()
    {
        var due = ThreeLevels().Due(Start, 1, false, Start.AddMinutes(4).AddSeconds(59));
        Assert.Empty(due.Steps);
        Assert.Equal(Start.AddMinutes(5), due.NextAt);
    }

    [Fact]
    public void Due_WhenLevelOnesDelayRunsOut_PagesLevelTwo()
    {
        var due = ThreeLevels().Due(Start, 1, false, Start.AddMinutes(5));
        Assert.Equal([2], due.Steps.Select(s => s.Level));
        Assert.Equal(Start.AddMinutes(15), due.NextAt);
    }

    [Fact]
    public void Due_AfterTheLastLevel_PagesTheFallbackThenExhausts()
    {
        var plan = ThreeLevels();
        var fallback = plan.Due(Start, 3, false, Start.AddMinutes(30));
        Assert.True(Assert.Single(fallback.Steps).IsFallback);
        Assert.Equal(4, fallback.Steps[0].Level);
        Assert.Equal(Start.AddMinutes(45), fallback.NextAt);
        var end = plan.Due(Start, 4, false, Start.AddMinutes(45));
        Assert.Empty(end.Steps);
        Assert.True(end.Exhausted);
        Assert.Null(end.NextAt);
    }

    [Fact]
    public void Due_WithRepeats_RunsTheLevelsAgainBeforeTheFallback()
    {
        var plan = ThreeLevels(repeat: 1);
        Assert.Equal(7, plan.Steps.Count);
        Assert.Equal([(1, 0), (2, 0), (3, 0), (1, 1), (2, 1), (3, 1), (4, 1)], plan.Steps.Select(s => (s.Level, s.Round)));
        var second = plan.Due(Start, 3, false, Start.AddMinutes(30));
        Assert.Equal((1, 1), (second.Steps.Single().Level, second.Steps.Single().Round));
    }

    [Fact]
    public void Due_WithoutAFallback_ExhaustsAfterTheLastLevelsDelay()
    {
        var plan = ThreeLevels(fallback: false);
        var waiting = plan.Due(Start, 3, false, Start.AddMinutes(29));
        Assert.False(waiting.Exhausted);
        Assert.Equal(Start.AddMinutes(30), waiting.NextAt);
        Assert.True(plan.Due(Start, 3, false, Start.AddMinutes(30)).Exhausted);
    }

    [Fact]
    public void Due_WhenTheSweepWasLate_PagesEveryMissedLevelInOrder()
    {
        var due = ThreeLevels().Due(Start, 0, false, Start.AddMinutes(20));
        Assert.Equal([1, 2, 3], due.Steps.Select(s => s.Level));
    }

    [Fact]
    public void Due_WhenAcknowledged_PagesNothing()
    {
        var due = ThreeLevels().Due(Start, 1, true, Start.AddHours(5));
        Assert.Empty(due.Steps);
        Assert.Null(due.NextAt);
        Assert.False(due.Exhausted);
    }

    [Fact]
    public void Constructor_WithoutLevels_Throws() =>
        Assert.Throws<ArgumentException>(() => new EscalationPlan([]));

    [Fact]
    public void Due_SweptAtAnySequenceOfMoments_PagesEveryStepExactlyOnceInOrder()
    {
        var gen = Gen.Select(Gen.Int[0, 60].Array[1, 5], Gen.Int[0, 2], Gen.Bool, Gen.Int[0, 40].Array[1, 30]);
        gen.Sample((delays, repeat, fallback, sweeps) =>
        {
            var plan = new EscalationPlan([.. delays.Select((d, i) => new EscalationLevel(User(i + 1), d))], repeat, fallback ? User(99) : null);
            var paged = new List<EscalationStep>();
            var now = Start;
            var exhausted = false;
            foreach (var minutes in sweeps.Append(100_000))
            {
                now = now.AddMinutes(minutes);
                var due = plan.Due(Start, paged.Count, false, now);
                Assert.All(due.Steps, s => Assert.True(Start + s.Offset <= now));
                paged.AddRange(due.Steps);
                if (due.NextAt is { } next)
                {
                    Assert.True(next > now);
                }

                exhausted = due.Exhausted;
            }

            Assert.True(exhausted);
            Assert.Equal(plan.Steps, paged);
        }, iter: 500);
    }
}
