using Clarity.Events;
using Xunit;

namespace Clarity.Tests.Events;

/// <summary>The feed's tail serves exactly the window it holds, and sends every other cursor to the table.</summary>
public sealed class FeedTailTests
{
    private static EventRow Row(long seq, int payloadChars = 10) => new() { Seq = seq, RowId = seq, Kind = "task", Topic = "tasks", Payload = new string('x', payloadChars) };

    private static List<EventRow> Rows(long first, long last, int payloadChars = 10) =>
        [.. Enumerable.Range(0, (int)(last - first + 1)).Select(i => Row(first + i, payloadChars))];

    [Fact]
    public void BeforeTheFeedStarts_EveryCursorReadsTheTable()
    {
        var tail = new FeedTail();
        tail.Append(Rows(1, 5));
        Assert.False(tail.TryRead(0, 100, out _));
    }

    [Fact]
    public void ACursorInsideTheWindow_ReadsTheRowsAfterIt_UpToTheLimit()
    {
        var tail = new FeedTail();
        tail.Start(100);
        tail.Append(Rows(101, 110));

        Assert.True(tail.TryRead(100, 100, out var all));
        Assert.Equal(Enumerable.Range(101, 10).Select(i => (long)i), all.Select(r => r.Seq));
        Assert.True(tail.TryRead(104, 3, out var some));
        Assert.Equal([105L, 106L, 107L], some.Select(r => r.Seq));
        Assert.True(tail.TryRead(110, 100, out var none));
        Assert.Empty(none);
    }

    [Fact]
    public void ACursorBehindTheWindow_OrAheadOfTheFeed_ReadsTheTable()
    {
        var tail = new FeedTail();
        tail.Start(100);
        tail.Append(Rows(101, 110));

        Assert.False(tail.TryRead(99, 100, out _));
        Assert.False(tail.TryRead(111, 100, out _));
    }

    [Fact]
    public void RowsThatDoNotContinueTheWindow_AreIgnored()
    {
        var tail = new FeedTail();
        tail.Start(100);
        tail.Append(Rows(101, 105));
        tail.Append(Rows(103, 107));

        Assert.True(tail.TryRead(100, 100, out var rows));
        Assert.Equal([101L, 102L, 103L, 104L, 105L], rows.Select(r => r.Seq));
    }

    [Fact]
    public void PastItsRowBound_TheOldestRowsLeave_AndTheirCursorsReadTheTable()
    {
        var tail = new FeedTail();
        tail.Start(0);
        var through = 0L;
        while (through < FeedTail.MaxRows * 2)
        {
            tail.Append(Rows(through + 1, through + 100));
            through += 100;
        }

        Assert.False(tail.TryRead(0, 10, out _));
        Assert.True(tail.TryRead(through - FeedTail.MaxRows / 2, FeedTail.MaxRows, out var recent));
        Assert.Equal(FeedTail.MaxRows / 2, recent.Count);
        Assert.Equal(through, recent[^1].Seq);
    }

    [Fact]
    public void PastItsPayloadBound_TheOldestRowsLeave()
    {
        var tail = new FeedTail();
        tail.Start(0);
        var big = (int)(FeedTail.MaxPayloadChars / 10);
        tail.Append(Rows(1, 20, big));

        Assert.False(tail.TryRead(0, 100, out _));
        Assert.True(tail.TryRead(19, 100, out var last));
        Assert.Equal([20L], last.Select(r => r.Seq));
        Assert.True(tail.TryRead(20, 100, out var none));
        Assert.Empty(none);
    }

    [Fact]
    public void Listeners_HearEachAppendedRun_UntilTheyUnsubscribe()
    {
        var tail = new FeedTail();
        tail.Start(0);
        var heard = new List<long>();
        var subscription = tail.Subscribe(rows => heard.AddRange(rows.Select(r => r.Seq)));
        tail.Append(Rows(1, 2));
        tail.Append(Rows(2, 3));
        subscription.Dispose();
        tail.Append(Rows(3, 4));

        Assert.Equal([1L, 2L], heard);
    }
}
