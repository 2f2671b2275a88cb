namespace Clarity.Features.Notifications.OnCall;

/// <summary>Whom one level pages: rosters (whoever is on call in each at that moment) and named users.</summary>
public sealed record EscalationTargets(IReadOnlyList<Guid> Rosters, IReadOnlyList<Guid> Users)
{
    public bool IsEmpty => Rosters.Count == 0 && Users.Count == 0;
}

/// <summary>One level of a policy: whom it pages, and how many minutes to wait for an acknowledgement before the next.</summary>
public sealed record EscalationLevel(EscalationTargets Targets, int DelayMinutes);

/// <summary>
/// One page of an escalation: the <see cref="Index"/>th step (0 is the first level of the first round),
/// <see cref="Level"/> (1-based; the fallback is the level after the last), the <see cref="Round"/> (0-based, for repeats),
/// and when it is due, counted from the escalation's start.
/// </summary>
public sealed record EscalationStep(int Index, int Level, int Round, bool IsFallback, TimeSpan Offset, EscalationTargets Targets);

/// <summary>What is due now: the steps to page (in order), when the next one is due, and whether the chain has run out.</summary>
public sealed record EscalationDue(IReadOnlyList<EscalationStep> Steps, DateTimeOffset? NextAt, bool Exhausted);

/// <summary>
/// An escalation policy's schedule. Level 1 pages at the start; if nobody acknowledges within its delay, level 2 pages,
/// and so on. After the last level the levels run again <see cref="Repeat"/> more times; then the fallback (if any)
/// pages. The chain is exhausted when the last page's wait (the last level's delay) runs out unacknowledged.
/// Pure: no clock, no I/O.
/// </summary>
public sealed class EscalationPlan
{
    public const int MaxLevels = 10;
    public const int MaxRepeat = 5;
    public const int MaxDelayMinutes = 1440;

    public EscalationPlan(IReadOnlyList<EscalationLevel> levels, int repeat = 0, EscalationTargets? fallback = null)
    {
        ArgumentNullException.ThrowIfNull(levels);
        if (levels.Count is 0 or > MaxLevels)
        {
            throw new ArgumentException($"A plan has 1 to {MaxLevels} levels.", nameof(levels));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(repeat);
        Levels = levels;
        Repeat = repeat;
        Fallback = fallback is { IsEmpty: false } ? fallback : null;
        Steps = BuildSteps();
        EndsAfter = Steps[^1].Offset + TimeSpan.FromMinutes(levels[^1].DelayMinutes);
    }

    public IReadOnlyList<EscalationLevel> Levels { get; }

    public int Repeat { get; }

    public EscalationTargets? Fallback { get; }

    /// <summary>Every page of the chain, in order.</summary>
    public IReadOnlyList<EscalationStep> Steps { get; }

    /// <summary>How long after the start the chain is exhausted when nobody acknowledges.</summary>
    public TimeSpan EndsAfter { get; }

    private List<EscalationStep> BuildSteps()
    {
        var steps = new List<EscalationStep>();
        var offset = TimeSpan.Zero;
        for (var round = 0; round <= Repeat; round++)
        {
            for (var i = 0; i < Levels.Count; i++)
            {
                steps.Add(new EscalationStep(steps.Count, i + 1, round, false, offset, Levels[i].Targets));
                offset += TimeSpan.FromMinutes(Levels[i].DelayMinutes);
            }
        }

        if (Fallback is not null)
        {
            steps.Add(new EscalationStep(steps.Count, Levels.Count + 1, Repeat, true, offset, Fallback));
        }

        return steps;
    }

    /// <summary>
    /// Given an escalation that started at <paramref name="startedAt"/> and has paged its first <paramref name="paged"/>
    /// steps: the steps due at <paramref name="now"/> (each at most once, oldest first), when the next is due, and whether
    /// the chain is exhausted. Nothing is due once it is acknowledged.
    /// </summary>
    public EscalationDue Due(DateTimeOffset startedAt, int paged, bool acknowledged, DateTimeOffset now)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(paged);
        if (acknowledged)
        {
            return new EscalationDue([], null, false);
        }

        var due = new List<EscalationStep>();
        for (var i = paged; i < Steps.Count && startedAt + Steps[i].Offset <= now; i++)
        {
            due.Add(Steps[i]);
        }

        var reached = paged + due.Count;
        if (reached < Steps.Count)
        {
            return new EscalationDue(due, startedAt + Steps[reached].Offset, false);
        }

        var end = startedAt + EndsAfter;
        return end <= now ? new EscalationDue(due, null, true) : new EscalationDue(due, end, false);
    }
}
