using Clarity.Features.Notifications;
using Xunit;

namespace Clarity.Tests.Features.Notifications.Core;

/// <summary>The pure parts: address rules, quiet hours and filters, without a host.</summary>
public sealed class NotificationRulesTests
{
    [Theory]
    [InlineData("ann@example.com", true)]
    [InlineData("ann.b+ops@mail.example.co.uk", true)]
    [InlineData("not an address", false)]
    [InlineData("Ann <ann@example.com>", false)]
    [InlineData("ann@localhost", false)]
    [InlineData("ann@example.com,bob@example.com", false)]
    [InlineData("@example.com", false)]
    [InlineData("ann@", false)]
    public void IsAddress_AcceptsOnlyPlainAddresses(string address, bool expected) =>
        Assert.Equal(expected, NotificationRules.IsAddress(address));

    [Fact]
    public void QuietHours_OverMidnight_HoldUntilTheMorningInTheirZone()
    {
        var paris = TimeZoneInfo.FindSystemTimeZoneById("Europe/Paris");
        var quiet = new QuietHours(new TimeOnly(22, 0), new TimeOnly(7, 0), paris);

        // 23:30 in Paris (winter, UTC+1): held until 07:00 the next morning, 06:00 UTC.
        Assert.Equal(new DateTimeOffset(2026, 1, 16, 6, 0, 0, TimeSpan.Zero), quiet.EndsAfter(new DateTimeOffset(2026, 1, 15, 22, 30, 0, TimeSpan.Zero)));
        // 03:00 in Paris: the same morning.
        Assert.Equal(new DateTimeOffset(2026, 1, 16, 6, 0, 0, TimeSpan.Zero), quiet.EndsAfter(new DateTimeOffset(2026, 1, 16, 2, 0, 0, TimeSpan.Zero)));
        // Noon: not quiet.
        Assert.Null(quiet.EndsAfter(new DateTimeOffset(2026, 1, 16, 11, 0, 0, TimeSpan.Zero)));
        // 07:00 sharp is already awake.
        Assert.Null(quiet.EndsAfter(new DateTimeOffset(2026, 1, 16, 6, 0, 0, TimeSpan.Zero)));
    }

    [Fact]
    public void QuietHours_WithinADay_EndTheSameDay()
    {
        var quiet = new QuietHours(new TimeOnly(12, 0), new TimeOnly(14, 0), TimeZoneInfo.Utc);
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 14, 0, 0, TimeSpan.Zero), quiet.EndsAfter(new DateTimeOffset(2026, 3, 1, 13, 0, 0, TimeSpan.Zero)));
        Assert.Null(quiet.EndsAfter(new DateTimeOffset(2026, 3, 1, 14, 0, 0, TimeSpan.Zero)));
        Assert.Null(quiet.EndsAfter(new DateTimeOffset(2026, 3, 1, 11, 59, 0, TimeSpan.Zero)));
    }

    [Fact]
    public void Filters_ThatAreSet_NeedTheEventToHaveWhatTheyFilter()
    {
        var deploy = new RuleFilters(["deploy"], null, null);
        Assert.True(NotificationDispatcher.Passes(deploy, new EventFacets("deploy", [], null)));
        Assert.False(NotificationDispatcher.Passes(deploy, new EventFacets("build", [], null)));
        Assert.False(NotificationDispatcher.Passes(deploy, new EventFacets(null, [], "release")));
        Assert.True(NotificationDispatcher.Passes(RuleFilters.None, new EventFacets(null, [], null)));

        var gpu = new RuleFilters(null, ["gpu"], ["release"]);
        Assert.True(NotificationDispatcher.Passes(gpu, new EventFacets("any", ["cpu", "gpu"], "release")));
        Assert.False(NotificationDispatcher.Passes(gpu, new EventFacets("any", ["cpu"], "release")));
        Assert.False(NotificationDispatcher.Passes(gpu, new EventFacets("any", ["gpu"], null)));
    }
}
