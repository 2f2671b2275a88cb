using Clarity.Features.Notifications.OnCall;
using CsCheck;
using Xunit;

namespace Clarity.Tests.Features.Notifications.OnCall;

public sealed class RotationTests
{
    private static readonly Guid Ann = Guid.Parse("00000000-0000-0000-0000-00000000000a");
    private static readonly Guid Bob = Guid.Parse("00000000-0000-0000-0000-00000000000b");
    private static readonly Guid Cat = Guid.Parse("00000000-0000-0000-0000-00000000000c");
    private static readonly Guid Dee = Guid.Parse("00000000-0000-0000-0000-00000000000d");

    private static readonly TimeZoneInfo NewYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
    private static readonly TimeZoneInfo Berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");

    private static Rotation Daily(TimeZoneInfo zone, string at = "09:00", string start = "2026-03-01", IReadOnlyList<RosterOverride>? overrides = null) =>
        new([Ann, Bob, Cat], HandoffKind.Daily, TimeOnly.Parse(at), zone, DateOnly.Parse(start), overrides);

    private static DateTimeOffset Utc(string text) => DateTimeOffset.Parse(text, null, System.Globalization.DateTimeStyles.AssumeUniversal);

    [Fact]
    public void OnCallAt_BeforeTheFirstHandoff_IsNobody()
    {
        var rotation = Daily(TimeZoneInfo.Utc);
        Assert.Null(rotation.OnCallAt(Utc("2026-03-01T08:59:59Z")));
        Assert.Null(rotation.OnCallAt(Utc("2025-12-31T12:00:00Z")));
    }

    [Fact]
    public void OnCallAt_Daily_HandsOffAtTheLocalTimeInOrderAndWrapsAround()
    {
        var rotation = Daily(TimeZoneInfo.Utc);
        Assert.Equal(Ann, rotation.OnCallAt(Utc("2026-03-01T09:00:00Z")));
        Assert.Equal(Ann, rotation.OnCallAt(Utc("2026-03-02T08:59:59Z")));
        Assert.Equal(Bob, rotation.OnCallAt(Utc("2026-03-02T09:00:00Z")));
        Assert.Equal(Cat, rotation.OnCallAt(Utc("2026-03-03T12:00:00Z")));
        Assert.Equal(Ann, rotation.OnCallAt(Utc("2026-03-04T09:00:00Z")));
    }

    [Fact]
    public void OnCallAt_Weekly_HandsOffOnTheStartDatesWeekday()
    {
        // 2026-03-02 is a Monday.
        var rotation = new Rotation([Ann, Bob], HandoffKind.Weekly, new TimeOnly(10, 0), TimeZoneInfo.Utc, new DateOnly(2026, 3, 2));
        Assert.Equal(Ann, rotation.OnCallAt(Utc("2026-03-08T23:00:00Z")));
        Assert.Equal(Ann, rotation.OnCallAt(Utc("2026-03-09T09:59:59Z")));
        Assert.Equal(Bob, rotation.OnCallAt(Utc("2026-03-09T10:00:00Z")));
        Assert.Equal(Ann, rotation.OnCallAt(Utc("2026-03-16T10:00:00Z")));
    }

    [Fact]
    public void OnCallAt_HandoffTimeIsLocal_NotUtc()
    {
        // 09:00 in Berlin in winter is 08:00Z.
        var rotation = Daily(Berlin, start: "2026-01-05");
        Assert.Null(rotation.OnCallAt(Utc("2026-01-05T07:59:00Z")));
        Assert.Equal(Ann, rotation.OnCallAt(Utc("2026-01-05T08:00:00Z")));
        Assert.Equal(Bob, rotation.OnCallAt(Utc("2026-01-06T08:00:00Z")));
    }

    [Fact]
    public void OnCallAt_SpringForwardDay_A0230HandoffHappensWhenTheClocksResume()
    {
        // New York springs forward on 2026-03-08: 02:00 EST becomes 03:00 EDT, so 02:30 does not exist that day.
        var rotation = Daily(NewYork, at: "02:30", start: "2026-03-07");
        Assert.Equal(Utc("2026-03-07T07:30:00Z"), rotation.ShiftStart(0)); // 02:30 EST
        Assert.Equal(Utc("2026-03-08T07:30:00Z"), rotation.ShiftStart(1)); // 03:30 EDT, just after the gap
        Assert.Equal(Utc("2026-03-09T06:30:00Z"), rotation.ShiftStart(2)); // 02:30 EDT
        Assert.Equal(Ann, rotation.OnCallAt(Utc("2026-03-08T06:59:59Z"))); // 01:59:59 EST
        Assert.Equal(Ann, rotation.OnCallAt(Utc("2026-03-08T07:29:59Z"))); // 03:29:59 EDT
        Assert.Equal(Bob, rotation.OnCallAt(Utc("2026-03-08T07:30:00Z")));
        Assert.Equal(Bob, rotation.OnCallAt(Utc("2026-03-09T06:29:59Z")));
        Assert.Equal(Cat, rotation.OnCallAt(Utc("2026-03-09T06:30:00Z")));
    }

    [Fact]
    public void OnCallAt_FallBackDay_AnAmbiguousHandoffHappensAtItsFirstOccurrence()
    {
        // New York falls back on 2026-11-01: 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
        var rotation = Daily(NewYork, at: "01:30", start: "2026-10-31");
        Assert.Equal(Utc("2026-11-01T05:30:00Z"), rotation.ShiftStart(1));
        Assert.Equal(Ann, rotation.OnCallAt(Utc("2026-11-01T05:29:59Z")));
        Assert.Equal(Bob, rotation.OnCallAt(Utc("2026-11-01T06:45:00Z")));
        Assert.Equal(Utc("2026-11-02T06:30:00Z"), rotation.ShiftStart(2));
    }

    [Fact]
    public void OnCallAt_DailyShiftsAcrossADstChange_KeepTheWallClockTime()
    {
        var rotation = Daily(Berlin, at: "09:00", start: "2026-03-27");
        // Berlin moves to summer time on 2026-03-29: 09:00 is 08:00Z before and 07:00Z after.
        Assert.Equal(Utc("2026-03-28T08:00:00Z"), rotation.ShiftStart(1));
        Assert.Equal(Utc("2026-03-29T07:00:00Z"), rotation.ShiftStart(2));
        Assert.Equal(Utc("2026-03-30T07:00:00Z"), rotation.ShiftStart(3));
    }

    [Fact]
    public void OnCallAt_AnOverrideWinsInsideItsWindowOnly()
    {
        var rotation = Daily(TimeZoneInfo.Utc, overrides: [new RosterOverride(Dee, Utc("2026-03-02T12:00:00Z"), Utc("2026-03-02T18:00:00Z"))]);
        Assert.Equal(Bob, rotation.OnCallAt(Utc("2026-03-02T11:59:59Z")));
        Assert.Equal(Dee, rotation.OnCallAt(Utc("2026-03-02T12:00:00Z")));
        Assert.Equal(Dee, rotation.OnCallAt(Utc("2026-03-02T17:59:59Z")));
        Assert.Equal(Bob, rotation.OnCallAt(Utc("2026-03-02T18:00:00Z")));
    }

    [Fact]
    public void OnCallAt_OverlappingOverrides_TheLaterOneWins()
    {
        var rotation = Daily(TimeZoneInfo.Utc, overrides:
        [
            new RosterOverride(Dee, Utc("2026-03-02T00:00:00Z"), Utc("2026-03-03T00:00:00Z")),
            new RosterOverride(Cat, Utc("2026-03-02T10:00:00Z"), Utc("2026-03-02T11:00:00Z")),
        ]);
        Assert.Equal(Dee, rotation.OnCallAt(Utc("2026-03-02T09:59:00Z")));
        Assert.Equal(Cat, rotation.OnCallAt(Utc("2026-03-02T10:30:00Z")));
        Assert.Equal(Dee, rotation.OnCallAt(Utc("2026-03-02T11:00:00Z")));
    }

    [Fact]
    public void OnCallAt_AnOverrideBeforeTheRotationStarts_StillCounts()
    {
        var rotation = Daily(TimeZoneInfo.Utc, overrides: [new RosterOverride(Dee, Utc("2026-02-01T00:00:00Z"), Utc("2026-02-02T00:00:00Z"))]);
        Assert.Equal(Dee, rotation.OnCallAt(Utc("2026-02-01T05:00:00Z")));
    }

    [Theory]
    [InlineData("America/New_York")]
    [InlineData("Europe/Berlin")]
    [InlineData("Australia/Lord_Howe")]
    [InlineData("Asia/Kolkata")]
    [InlineData("Pacific/Chatham")]
    public void ShiftAt_AnyInstant_LiesInsideItsShiftAndShiftsNeverGoBackwards(string zoneId)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(zoneId);
        var gen = Gen.Select(Gen.Int[0, 23], Gen.Int[0, 59], Gen.Bool, Gen.Long[0, 3L * 365 * 86_400], Gen.Long[0, 86_400 * 30]);
        gen.Sample((hour, minute, weekly, offsetSeconds, stepSeconds) =>
        {
            var rotation = new Rotation([Ann, Bob, Cat], weekly ? HandoffKind.Weekly : HandoffKind.Daily, new TimeOnly(hour, minute), zone, new DateOnly(2025, 1, 1));
            var instant = rotation.ShiftStart(0) + TimeSpan.FromSeconds(offsetSeconds);
            var shift = rotation.ShiftAt(instant);
            Assert.NotNull(shift);
            Assert.True(rotation.ShiftStart(shift.Value) <= instant);
            Assert.True(instant < rotation.ShiftStart(shift.Value + 1));
            Assert.True(rotation.ShiftAt(instant + TimeSpan.FromSeconds(stepSeconds)) >= shift);
        }, iter: 500);
    }
}
