namespace Clarity.Features.Notifications.OnCall;

/// <summary>How often a rotation hands off to the next member.</summary>
public enum HandoffKind
{
    Daily,
    Weekly,
}

/// <summary>A stretch of time in which <see cref="UserId"/> is on call instead of whoever the rotation names: [From, To).</summary>
public sealed record RosterOverride(Guid UserId, DateTimeOffset From, DateTimeOffset To);

/// <summary>
/// Who is on call: the members take turns in order, handing off every day or week at <see cref="HandoffTime"/> local
/// time in <see cref="TimeZone"/>, the first shift starting on <see cref="StartDate"/> (a weekly rotation hands off on
/// that date's weekday). Overrides win over the rotation; of overlapping overrides the later one in the list wins.
/// </summary>
/// <remarks>
/// Hand-offs follow the wall clock across daylight-saving changes. A hand-off time that does not exist on a
/// spring-forward day (02:30 when clocks jump from 02:00 to 03:00) happens when the clocks resume, after the gap, at the
/// same distance past the jump (03:30); one that happens twice on a fall-back day happens at its first occurrence.
/// Pure: no clock, no I/O.
/// </remarks>
public sealed class Rotation
{
    public Rotation(IReadOnlyList<Guid> members, HandoffKind handoff, TimeOnly handoffTime, TimeZoneInfo timeZone, DateOnly startDate, IReadOnlyList<RosterOverride>? overrides = null)
    {
        ArgumentNullException.ThrowIfNull(members);
        ArgumentNullException.ThrowIfNull(timeZone);
        if (members.Count == 0)
        {
            throw new ArgumentException("A rotation needs at least one member.", nameof(members));
        }

        Members = members;
        Handoff = handoff;
        HandoffTime = handoffTime;
        TimeZone = timeZone;
        StartDate = startDate;
        Overrides = overrides ?? [];
    }

    public IReadOnlyList<Guid> Members { get; }

    public HandoffKind Handoff { get; }

    public TimeOnly HandoffTime { get; }

    public TimeZoneInfo TimeZone { get; }

    public DateOnly StartDate { get; }

    public IReadOnlyList<RosterOverride> Overrides { get; }

    private int PeriodDays => Handoff == HandoffKind.Daily ? 1 : 7;

    /// <summary>The user on call at <paramref name="instant"/>: an override covering it, else the rotation's member; null before the first shift.</summary>
    public Guid? OnCallAt(DateTimeOffset instant)
    {
        for (var i = Overrides.Count - 1; i >= 0; i--)
        {
            var o = Overrides[i];
            if (o.From <= instant && instant < o.To)
            {
                return o.UserId;
            }
        }

        return ShiftAt(instant) is { } shift ? Members[(int)(shift % Members.Count)] : null;
    }

    /// <summary>The number of the shift running at <paramref name="instant"/> (0 is the first), or null before the first starts.</summary>
    public long? ShiftAt(DateTimeOffset instant)
    {
        var local = TimeZoneInfo.ConvertTime(instant, TimeZone);
        var days = DateOnly.FromDateTime(local.DateTime).DayNumber - StartDate.DayNumber;
        var guess = (long)Math.Floor(days / (double)PeriodDays);

        // The local date puts the instant in shift `guess` or, before that day's hand-off, the one before; the one after
        // covers a hand-off pushed across midnight by a gap.
        for (var n = guess + 1; n >= guess - 1; n--)
        {
            if (n >= 0 && ShiftStart(n) <= instant)
            {
                return n;
            }
        }

        return null;
    }

    /// <summary>When shift <paramref name="n"/> starts (as an instant).</summary>
    public DateTimeOffset ShiftStart(long n) => ToInstant(StartDate.AddDays((int)(n * PeriodDays)).ToDateTime(HandoffTime));

    /// <summary>The instant a wall-clock time in <see cref="TimeZone"/> names, resolving gaps forward and overlaps to the first occurrence.</summary>
    public DateTimeOffset ToInstant(DateTime local)
    {
        local = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        if (TimeZone.IsInvalidTime(local))
        {
            // In a spring-forward gap: the offset before the gap, read as if the clock had not jumped, lands the same
            // distance past the jump once converted (02:30 at UTC-5 is 07:30Z, which is 03:30 at UTC-4).
            var before = TimeZone.GetUtcOffset(local.AddHours(-3));
            return new DateTimeOffset(local, before).ToUniversalTime();
        }

        if (TimeZone.IsAmbiguousTime(local))
        {
            // Twice on a fall-back day: the first occurrence has the larger offset.
            var offset = TimeZone.GetAmbiguousTimeOffsets(local).Max();
            return new DateTimeOffset(local, offset).ToUniversalTime();
        }

        return new DateTimeOffset(local, TimeZone.GetUtcOffset(local)).ToUniversalTime();
    }
}
