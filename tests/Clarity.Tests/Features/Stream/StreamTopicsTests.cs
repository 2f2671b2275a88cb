using Clarity.Events.Stream;
using Xunit;

namespace Clarity.Tests.Features.Stream;

public sealed class StreamTopicsTests
{
    [Theory]
    [InlineData("tasks", "tasks")]
    [InlineData("clarifications", "clarifications")]
    [InlineData("agents", "agents")]
    [InlineData("runs", "runs")]
    [InlineData("task:0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b:logs", "task:0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b:logs")]
    [InlineData("task:0193A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B:logs", "task:0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b:logs")]
    public void TryParse_AcceptsEveryTopic_InItsCanonicalSpelling(string topic, string canonical)
    {
        Assert.True(StreamTopics.TryParse(topic, out var parsed));
        Assert.Equal(canonical, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Tasks")]
    [InlineData(" tasks")]
    [InlineData("task")]
    [InlineData("task::logs")]
    [InlineData("task:not-a-guid:logs")]
    [InlineData("task:0193a1b20c3d47e5f8a9b0c1d2e3f4a5b:logs")]
    [InlineData("task:0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b:log")]
    [InlineData("task:0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b:logs:x")]
    [InlineData("task:{0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b}:logs")]
    [InlineData("logs")]
    public void TryParse_RefusesAnythingElse(string topic) => Assert.False(StreamTopics.TryParse(topic, out _));

    [Fact]
    public void TryValidate_DeduplicatesAndKeepsOrder()
    {
        Assert.True(StreamTopics.TryValidate(["tasks", "agents", "tasks"], out var topics, out _, out _));
        Assert.Equal(["tasks", "agents"], topics);
    }

    [Fact]
    public void TryValidate_NamesTheProblem()
    {
        Assert.False(StreamTopics.TryValidate([], out _, out var error, out _));
        Assert.Equal("missing-topics", error);
        Assert.False(StreamTopics.TryValidate(null, out _, out error, out _));
        Assert.Equal("missing-topics", error);
        Assert.False(StreamTopics.TryValidate(["tasks", "weather"], out _, out error, out var detail));
        Assert.Equal("invalid-topic", error);
        Assert.Contains("'weather'", detail, StringComparison.Ordinal);
        Assert.False(StreamTopics.TryValidate(["tasks", null], out _, out error, out detail));
        Assert.Equal("invalid-topic", error);
        Assert.Contains("null", detail, StringComparison.Ordinal);
        Assert.False(StreamTopics.TryValidate([.. Enumerable.Repeat("tasks", StreamTopics.MaxTopics + 1)], out _, out error, out _));
        Assert.Equal("too-many-topics", error);
        Assert.True(StreamTopics.TryValidate([.. Enumerable.Repeat("tasks", StreamTopics.MaxTopics)], out _, out _, out _));
    }
}
