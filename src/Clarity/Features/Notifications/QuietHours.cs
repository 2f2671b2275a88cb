namespace Clarity.Features.Notifications;

/// <summary>
/// A person's quiet hours: from <see cref="Start"/> to <see cref="End"/>, local wall-clock time in <see cref="Zone"/>;
/// an end earlier than the start spans midnight (22:00–07:00). A delivery due inside them is held until they end.
/// </summary>
public sealed record QuietHours(TimeOnly Start, TimeOnly End, TimeZoneInfo Zone)
{
    /// <summary>When the quiet hours that hold at <paramref name="at"/> end; null when <paramref name="at"/> is outside them.</summary>
    public DateTimeOffset? EndsAfter(DateTimeOffset at)
    {
        var local = TimeZoneInfo.ConvertTime(at, Zone);
        var time = TimeOnly.FromTimeSpan(local.TimeOfDay);
        var date = DateOnly.FromDateTime(local.DateTime);
        bool inside;
        DateOnly endDate;
        if (Start < End)
        {
            inside = time >= Start && time < End;
            endDate = date;
        }
        else
        {
            inside = time >= Start || time < End;
            endDate = time >= Start ? date.AddDays(1) : date;
        }

        return inside ? ToUtc(endDate.ToDateTime(End)) : null;
    }

    private DateTimeOffset ToUtc(DateTime local)
    {
        // A wall-clock time skipped by a daylight-saving change does not exist: the quiet hours end when the clock jumps.
        while (Zone.IsInvalidTime(local))
        {
            local = local.AddMinutes(15);
        }

        return new DateTimeOffset(TimeZoneInfo.ConvertTimeToUtc(DateTime.SpecifyKind(local, DateTimeKind.Unspecified), Zone), TimeSpan.Zero);
    }

    public QuietHoursModel ToModel() => new(Start.ToString("HH:mm", System.Globalization.CultureInfo.InvariantCulture), End.ToString("HH:mm", System.Globalization.CultureInfo.InvariantCulture), Zone.Id);
}
