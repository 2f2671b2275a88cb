using Clarity.Features.Logs;
using Xunit;

namespace Clarity.Tests.Features.Logs;

public sealed class SnippetHtmlTests
{
    [Theory]
    [InlineData("plain text", "plain text")]
    [InlineData("", "")]
    [InlineData("\uE000", "\uE000")]
    [InlineData("\uE000\uE001\uE002\uE003\uE004\uE005\uE006\uE007\uE008", "\uE000\uE001\uE002\uE003\uE004\uE005\uE006\uE007\uE008")]
    [InlineData("a\uE003\uE004b\uE003", "a\uE003\uE004b\uE003")]
    [InlineData("<mark>x</mark> & \"q\" \uE002 < >", "&lt;mark&gt;x&lt;/mark&gt; &amp; &quot;q&quot; \uE002 &lt; &gt;")]
    public void Render_OfEscapedText_GivesTheTextHtmlEscaped_WithNoMarkup(string text, string html)
    {
        Assert.Equal(html, SnippetHtml.Render(SnippetHtml.Escape(text)));
    }

    [Fact]
    public void Escape_LeavesNoMarkerCharacter_AndChangesTextWithoutThemNot()
    {
        var escaped = SnippetHtml.Escape("x\uE000y\uE001z\uE002w\uE003v");

        Assert.Equal("x\uE003\uE004y\uE003\uE005z\uE003\uE006w\uE003\uE007v", escaped);
        Assert.Same("ordinary <text> ✓", SnippetHtml.Escape("ordinary <text> ✓"));
    }

    [Fact]
    public void Render_TurnsTheDatabaseMarkersIntoMarkup_AndDropsAnEscapeMarkCutFromItsCharacter()
    {
        var snippet = $"…\uE002b> {SnippetHtml.MarkStart}wo{SnippetHtml.Escape("\uE000")}rd{SnippetHtml.MarkEnd} &\uE003";

        Assert.Equal("…&lt;b&gt; <mark>wo\uE000rd</mark> &amp;", SnippetHtml.Render(snippet));
    }
}
