using YamlDotNet.Core;

namespace Clarity.Features.Workflows.Definitions;

/// <summary>
/// Maps each character of a scalar's value back to its index in the source text, so an expression error at an offset
/// of the value can be shown at a line and column. Built per scalar style:
/// <list type="bullet">
/// <item>plain and quoted scalars: the value runs along the source; escapes (<c>\"</c>, <c>\u00e9</c>, <c>''</c>) take
/// several source characters for one value character; a folded line break (the break and the next line's indentation)
/// maps to where the break was;</item>
/// <item>literal (<c>|</c>) and folded (<c>&gt;</c>) block scalars: each content line, less the block's indentation,
/// is found in the value in order; separators between lines map to the start of the next line.</item>
/// </list>
/// When the value and the source disagree (which should not happen), the rest maps to the last place found.
/// </summary>
internal static class ScalarSourceMap
{
    public static int[] Build(string text, int start, int end, string value, ScalarStyle style)
    {
        start = Math.Clamp(start, 0, text.Length);
        end = Math.Clamp(end, start, text.Length);
        var map = new int[value.Length + 1];
        var filled = style is ScalarStyle.Literal or ScalarStyle.Folded
            ? Block(text, start, end, value, map)
            : Flow(text, start, end, value, style, map);
        var last = filled > 0 ? map[filled - 1] + 1 : start;
        for (var v = filled; v <= value.Length; v++)
        {
            map[v] = Math.Min(last, text.Length);
        }

        return map;
    }

    private static int Flow(string text, int start, int end, string value, ScalarStyle style, int[] map)
    {
        var i = start;
        var stop = end;
        var single = style == ScalarStyle.SingleQuoted;
        var dbl = style == ScalarStyle.DoubleQuoted;
        if ((single || dbl) && i < stop)
        {
            i++; // the opening quote
            if (stop > i && text[stop - 1] == (single ? '\'' : '"'))
            {
                stop--; // the closing quote
            }
        }

        var v = 0;
        while (i < stop && v < value.Length)
        {
            var c = text[i];
            if (dbl && c == '\\' && i + 1 < stop)
            {
                var e = text[i + 1];
                if (e is '\n' or '\r')
                {
                    // An escaped line break joins the lines without a space.
                    i = SkipBlank(text, i + 1, stop);
                    continue;
                }

                var raw = e switch { 'x' => 4, 'u' => 6, 'U' => 10, _ => 2 };
                var produced = e == 'U' && v + 1 < value.Length && char.IsHighSurrogate(value[v]) ? 2 : 1;
                for (var k = 0; k < produced; k++)
                {
                    map[v++] = i;
                }

                i += raw;
                continue;
            }

            if (single && c == '\'' && i + 1 < stop && text[i + 1] == '\'')
            {
                map[v++] = i;
                i += 2;
                continue;
            }

            if (c is ' ' or '\t' or '\r' or '\n')
            {
                var j = i;
                var breaks = 0;
                while (j < stop && text[j] is ' ' or '\t' or '\r' or '\n')
                {
                    if (text[j] == '\n' || (text[j] == '\r' && (j + 1 >= stop || text[j + 1] != '\n')))
                    {
                        breaks++;
                    }

                    j++;
                }

                if (breaks == 0)
                {
                    for (; i < j && v < value.Length; i++)
                    {
                        map[v++] = i;
                    }

                    continue;
                }

                // Folding: one break becomes a space, n breaks become n-1 newlines; trailing and leading blanks go.
                var produce = breaks == 1 ? 1 : breaks - 1;
                var at = text.IndexOfAny(['\r', '\n'], i, j - i);
                for (var k = 0; k < produce && v < value.Length; k++)
                {
                    map[v++] = at < 0 ? i : at;
                }

                i = j;
                continue;
            }

            map[v++] = i++;
        }

        return v;
    }

    private static int SkipBlank(string text, int i, int stop)
    {
        while (i < stop && text[i] is ' ' or '\t' or '\r' or '\n')
        {
            i++;
        }

        return i;
    }

    private static int Block(string text, int start, int end, string value, int[] map)
    {
        // The header (| or > with its indicators) ends its line; the content lines follow.
        var lineStart = text.IndexOf('\n', start, end - start);
        if (lineStart < 0)
        {
            return 0;
        }

        lineStart++;
        var lines = new List<(int Start, int Length)>();
        while (lineStart < end)
        {
            var nl = text.IndexOf('\n', lineStart, end - lineStart);
            var lineEnd = nl < 0 ? end : nl;
            var length = lineEnd - lineStart;
            if (length > 0 && text[lineStart + length - 1] == '\r')
            {
                length--;
            }

            lines.Add((lineStart, length));
            lineStart = lineEnd + 1;
        }

        // The block's indentation: the first non-blank line's leading spaces, less those the value keeps.
        var indent = 0;
        foreach (var (s, length) in lines)
        {
            var lead = 0;
            while (lead < length && text[s + lead] == ' ')
            {
                lead++;
            }

            if (lead < length)
            {
                var firstValueLine = value.TrimStart('\n');
                var kept = 0;
                while (kept < firstValueLine.Length && firstValueLine[kept] == ' ')
                {
                    kept++;
                }

                indent = Math.Max(0, lead - kept);
                break;
            }
        }

        var v = 0;
        foreach (var (s, length) in lines)
        {
            if (length <= indent)
            {
                continue; // a blank line: it became a separator
            }

            var content = text.AsSpan(s + indent, length - indent);
            while (v < value.Length && !value.AsSpan(v).StartsWith(content, StringComparison.Ordinal) && value[v] is '\n' or ' ')
            {
                map[v++] = s;
            }

            if (!value.AsSpan(v).StartsWith(content, StringComparison.Ordinal))
            {
                break;
            }

            for (var k = 0; k < content.Length; k++)
            {
                map[v++] = s + indent + k;
            }
        }

        return v;
    }
}
