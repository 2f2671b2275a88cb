using Clarity.Features.Workflows.Definitions;
using Xunit;

namespace Clarity.Tests.Workflows.Definitions;

/// <summary>An offset in a scalar's value maps to the line and column where that character is written, for every scalar style.</summary>
public sealed class ScalarSourceMapTests
{
    private static YScalar Scalar(string yaml, string key = "v")
    {
        var problems = new List<DefinitionProblem>();
        var root = Assert.IsType<YMapping>(YamlReader.Read(new SourceText(yaml), problems));
        Assert.Empty(problems);
        return Assert.IsType<YScalar>(root.Get(key));
    }

    /// <summary>Where <paramref name="marker"/> (unique in the value) is in the source, found through the map.</summary>
    private static SourcePosition LocateMarker(string yaml, string marker)
    {
        var scalar = Scalar(yaml);
        var offset = scalar.Value.IndexOf(marker, StringComparison.Ordinal);
        Assert.True(offset >= 0, $"'{marker}' is not in the value '{scalar.Value}'");
        return scalar.Locate(offset);
    }

    [Fact]
    public void Locate_PlainScalar_IsColumnPlusOffset()
    {
        Assert.Equal(new SourcePosition(2, 10), LocateMarker("x: 1\nv: Draft ${{ inputs.topic }}\n", "${{"));
    }

    [Fact]
    public void Locate_DoubleQuoted_SkipsTheQuoteAndEscapes()
    {
        // v: "a\"b\u00e9 X"  — the escapes take two and six characters of the line for one of the value.
        var yaml = "v: \"a\\\"b\\u00e9 X\"\n";
        var scalar = Scalar(yaml);
        Assert.Equal("a\"bé X", scalar.Value);

        Assert.Equal(new SourcePosition(1, 5), scalar.Locate(0));
        Assert.Equal(new SourcePosition(1, 8), scalar.Locate(2));
        Assert.Equal(new SourcePosition(1, 16), scalar.Locate(5));
    }

    [Fact]
    public void Locate_SingleQuoted_CountsDoubledQuotesAsOne()
    {
        var scalar = Scalar("v: 'it''s X'\n");
        Assert.Equal("it's X", scalar.Value);

        Assert.Equal(new SourcePosition(1, 11), scalar.Locate(5));
    }

    [Fact]
    public void Locate_PlainScalarOverSeveralLines_FollowsTheFolding()
    {
        var yaml = "v: first line\n  second X\n";
        Assert.Equal("first line second X", Scalar(yaml).Value);

        Assert.Equal(new SourcePosition(2, 10), LocateMarker(yaml, "X"));
        Assert.Equal(new SourcePosition(2, 3), LocateMarker(yaml, "second"));
    }

    [Fact]
    public void Locate_DoubleQuotedOverSeveralLines_FollowsTheFolding()
    {
        var yaml = "v: \"one\n  two X\"\n";
        Assert.Equal("one two X", Scalar(yaml).Value);

        Assert.Equal(new SourcePosition(2, 7), LocateMarker(yaml, "X"));
    }

    [Fact]
    public void Locate_LiteralBlock_MapsEachLine()
    {
        var yaml = "v: |\n  line one\n\n  line ${{ X }}\nw: 1\n";
        Assert.Equal("line one\n\nline ${{ X }}\n", Scalar(yaml).Value);

        Assert.Equal(new SourcePosition(4, 8), LocateMarker(yaml, "${{"));
        Assert.Equal(new SourcePosition(2, 3), LocateMarker(yaml, "line one"));
    }

    [Fact]
    public void Locate_LiteralBlockWithMoreIndentedLines_KeepsTheExtraSpaces()
    {
        var yaml = "v: |2\n    deep\n  X\n";
        Assert.Equal("  deep\nX\n", Scalar(yaml).Value);

        Assert.Equal(new SourcePosition(3, 3), LocateMarker(yaml, "X"));
        Assert.Equal(new SourcePosition(2, 5), LocateMarker(yaml, "deep"));
    }

    [Fact]
    public void Locate_FoldedBlock_MapsEachLine()
    {
        var yaml = "v: >-\n  folded text\n  goes on X\n";
        Assert.Equal("folded text goes on X", Scalar(yaml).Value);

        Assert.Equal(new SourcePosition(3, 11), LocateMarker(yaml, "X"));
    }

    [Fact]
    public void Locate_CrLfLineBreaks_CountLinesOnce()
    {
        var yaml = "a: 1\r\nb: 2\r\nv: text X\r\n";

        Assert.Equal(new SourcePosition(3, 9), LocateMarker(yaml, "X"));
    }

    [Fact]
    public void Locate_OffsetPastTheEnd_IsClampedToTheScalar()
    {
        var scalar = Scalar("v: abc\n");

        Assert.Equal(new SourcePosition(1, 7), scalar.Locate(99));
        Assert.Equal(new SourcePosition(1, 4), scalar.Locate(-3));
    }
}
