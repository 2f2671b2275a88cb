using System.Text;

namespace Clarity.Features.Logs;

/// <summary>
/// How a search snippet gets from the database to HTML without any of the log text becoming markup.
/// </summary>
/// <remarks>
/// The database marks each match with private-use characters (<see cref="MarkStart"/>, <see cref="MarkEnd"/>; on
/// PostgreSQL <see cref="LessThan"/> also stands for '&lt;', which ts_headline would otherwise drop as a tag). Log
/// text may hold those very characters, so the text the full-text engine indexes and cuts snippets from has them
/// escaped first: U+E000…U+E003 each become <see cref="EscapeMark"/> followed by U+E004…U+E007. The same mapping is
/// written in SQL (the SQLite view <c>log_search_text</c>, <see cref="PostgresEscape"/>) and in C#
/// (<see cref="Escape"/>, for the words of a query), and <see cref="Render"/> undoes it. The escaped form keeps
/// each character's class for both tokenizers (private use to private use), so words split exactly as before.
/// </remarks>
public static class SnippetHtml
{
    public const char MarkStart = '\uE000';
    public const char MarkEnd = '\uE001';
    public const char LessThan = '\uE002';

    /// <summary>Starts an escaped character; the next character is the escaped one moved up by <see cref="Shift"/>.</summary>
    public const char EscapeMark = '\uE003';

    private const int Shift = 4;

    /// <summary>
    /// <see cref="Escape"/> as a PostgreSQL expression over <paramref name="column"/> (the escape mark itself first,
    /// so that the marks added for the other characters are not escaped again).
    /// </summary>
    public static string PostgresEscape(string column) =>
        $"replace(replace(replace(replace({column}, chr(57347), chr(57347) || chr(57351)), chr(57344), chr(57347) || chr(57348)), " +
        "chr(57345), chr(57347) || chr(57349)), chr(57346), chr(57347) || chr(57350))";

    /// <summary>Whether <paramref name="text"/> holds a character that <see cref="Escape"/> changes.</summary>
    public static bool NeedsEscape(string text) => text.AsSpan().IndexOfAnyInRange(MarkStart, EscapeMark) >= 0;

    /// <summary>Escapes the characters that mean something in a snippet (U+E000…U+E003); other text is returned as it is.</summary>
    public static string Escape(string text)
    {
        if (!NeedsEscape(text))
        {
            return text;
        }

        var sb = new StringBuilder(text.Length + 8);
        foreach (var ch in text)
        {
            if (ch is >= MarkStart and <= EscapeMark)
            {
                sb.Append(EscapeMark).Append((char)(ch + Shift));
            }
            else
            {
                sb.Append(ch);
            }
        }

        return sb.ToString();
    }

    /// <summary>HTML-escapes a snippet, turns the match markers into &lt;mark&gt; elements and escaped characters back into text.</summary>
    public static string Render(string snippet)
    {
        var sb = new StringBuilder(snippet.Length + 32);
        for (var i = 0; i < snippet.Length; i++)
        {
            var ch = snippet[i];
            switch (ch)
            {
                case MarkStart:
                    sb.Append("<mark>");
                    break;
                case MarkEnd:
                    sb.Append("</mark>");
                    break;
                case LessThan or '<':
                    sb.Append("&lt;");
                    break;
                case '>':
                    sb.Append("&gt;");
                    break;
                case '&':
                    sb.Append("&amp;");
                    break;
                case '"':
                    sb.Append("&quot;");
                    break;
                case EscapeMark:
                    // A well-formed snippet always has the escaped character next; a snippet cut just after the mark drops it.
                    if (i + 1 < snippet.Length && snippet[i + 1] is >= (char)(MarkStart + Shift) and <= (char)(EscapeMark + Shift))
                    {
                        sb.Append((char)(snippet[++i] - Shift));
                    }

                    break;
                default:
                    sb.Append(ch);
                    break;
            }
        }

        return sb.ToString();
    }
}
