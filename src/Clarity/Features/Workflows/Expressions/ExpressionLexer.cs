using System.Globalization;
using System.Text;

namespace Clarity.Features.Workflows.Expressions;

internal enum TokenKind
{
    End,
    Identifier,
    Number,
    String,
    Dot,
    Comma,
    OpenParen,
    CloseParen,
    OpenBracket,
    CloseBracket,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    And,
    Or,
    Not,
    In,
    True,
    False,
    NullLiteral,
}

/// <summary>A token: its kind, where it is in the source, and its value for names, numbers and strings.</summary>
internal readonly record struct Token(TokenKind Kind, int Offset, int Length, string? Text = null, double Number = 0);

/// <summary>
/// Splits the text of one expression into tokens. It reads the whole range, reporting every character that is not part
/// of the language, so a check shows all such problems at once.
/// </summary>
internal static class ExpressionLexer
{
    public static List<Token> Tokenize(string source, int start, int end, List<ExpressionError> errors)
    {
        var tokens = new List<Token>();
        var i = start;
        while (i < end)
        {
            var c = source[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            var at = i;
            switch (c)
            {
                case '.':
                    tokens.Add(new(TokenKind.Dot, at, 1));
                    i++;
                    continue;
                case ',':
                    tokens.Add(new(TokenKind.Comma, at, 1));
                    i++;
                    continue;
                case '(':
                    tokens.Add(new(TokenKind.OpenParen, at, 1));
                    i++;
                    continue;
                case ')':
                    tokens.Add(new(TokenKind.CloseParen, at, 1));
                    i++;
                    continue;
                case '[':
                    tokens.Add(new(TokenKind.OpenBracket, at, 1));
                    i++;
                    continue;
                case ']':
                    tokens.Add(new(TokenKind.CloseBracket, at, 1));
                    i++;
                    continue;
                case '=' when Next(source, i, end) == '=':
                    tokens.Add(new(TokenKind.Equal, at, 2));
                    i += 2;
                    continue;
                case '=':
                    errors.Add(new(at, Next(source, i, end) == '>' ? 2 : 1, Next(source, i, end) == '>'
                        ? "'=>' is not part of the language: there are no lambdas or user-defined functions."
                        : "'=' is not part of the language: there is no assignment. Use '==' to compare."));
                    i += Next(source, i, end) == '>' ? 2 : 1;
                    continue;
                case '!' when Next(source, i, end) == '=':
                    tokens.Add(new(TokenKind.NotEqual, at, 2));
                    i += 2;
                    continue;
                case '!':
                    tokens.Add(new(TokenKind.Not, at, 1));
                    i++;
                    continue;
                case '<' when Next(source, i, end) == '=':
                    tokens.Add(new(TokenKind.LessOrEqual, at, 2));
                    i += 2;
                    continue;
                case '<':
                    tokens.Add(new(TokenKind.Less, at, 1));
                    i++;
                    continue;
                case '>' when Next(source, i, end) == '=':
                    tokens.Add(new(TokenKind.GreaterOrEqual, at, 2));
                    i += 2;
                    continue;
                case '>':
                    tokens.Add(new(TokenKind.Greater, at, 1));
                    i++;
                    continue;
                case '&' when Next(source, i, end) == '&':
                    tokens.Add(new(TokenKind.And, at, 2));
                    i += 2;
                    continue;
                case '|' when Next(source, i, end) == '|':
                    tokens.Add(new(TokenKind.Or, at, 2));
                    i += 2;
                    continue;
                case '\'' or '"':
                    i = ReadString(source, i, end, tokens, errors);
                    continue;
                case '-' when IsDigit(Next(source, i, end)):
                case >= '0' and <= '9':
                    i = ReadNumber(source, i, end, tokens, errors);
                    continue;
                default:
                    if (IsNameStart(c))
                    {
                        i = ReadName(source, i, end, tokens);
                        continue;
                    }

                    errors.Add(new(at, char.IsSurrogatePair(source, i) && i + 1 < end ? 2 : 1, Unexpected(c)));
                    i += char.IsHighSurrogate(c) && i + 1 < end && char.IsLowSurrogate(source[i + 1]) ? 2 : 1;
                    continue;
            }
        }

        tokens.Add(new(TokenKind.End, end, 0));
        return tokens;
    }

    private static string Unexpected(char c) => c switch
    {
        ';' => "';' is not part of the language: an expression is one expression, not statements.",
        '+' or '-' or '*' or '/' or '%' or '^' => $"'{c}' is not part of the language: there is no arithmetic.",
        '&' or '|' => $"'{c}' is not part of the language; use '{c}{c}'.",
        '{' or '}' => $"'{c}' is not part of the language: there are no object literals or blocks.",
        '$' => "'$' is not part of the language; '${{ … }}' may only wrap a whole condition.",
        '?' or ':' => $"'{c}' is not part of the language; use '||' to choose a default.",
        '`' => "'`' is not part of the language; quote strings with ' or \".",
        _ when char.IsControl(c) => $"Unexpected control character U+{(int)c:X4}.",
        _ => $"Unexpected character '{c}'.",
    };

    private static char Next(string source, int i, int end) => i + 1 < end ? source[i + 1] : '\0';

    private static bool IsDigit(char c) => c is >= '0' and <= '9';

    private static bool IsNameStart(char c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or '_';

    /// <summary>Names are ASCII letters, digits, '_' and '-' (so step ids such as <c>build-docs</c> read naturally).</summary>
    internal static bool IsNamePart(char c) => IsNameStart(c) || IsDigit(c) || c == '-';

    /// <summary>Whether a member name can be written after a dot: a name that is not a keyword.</summary>
    internal static bool IsPlainName(string name)
    {
        if (name.Length == 0 || !IsNameStart(name[0]) || name is "and" or "or" or "not" or "in" or "true" or "false" or "null")
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!IsNamePart(c))
            {
                return false;
            }
        }

        return true;
    }

    private static int ReadName(string source, int i, int end, List<Token> tokens)
    {
        var start = i;
        while (i < end && IsNamePart(source[i]))
        {
            i++;
        }

        var name = source.AsSpan(start, i - start);
        var kind = name switch
        {
            "and" => TokenKind.And,
            "or" => TokenKind.Or,
            "not" => TokenKind.Not,
            "in" => TokenKind.In,
            "true" => TokenKind.True,
            "false" => TokenKind.False,
            "null" => TokenKind.NullLiteral,
            _ => TokenKind.Identifier,
        };
        tokens.Add(new(kind, start, i - start, name.ToString()));
        return i;
    }

    private static int ReadNumber(string source, int i, int end, List<Token> tokens, List<ExpressionError> errors)
    {
        var start = i;
        if (source[i] == '-')
        {
            i++;
        }

        while (i < end && IsDigit(source[i]))
        {
            i++;
        }

        if (i + 1 < end && source[i] == '.' && IsDigit(source[i + 1]))
        {
            i++;
            while (i < end && IsDigit(source[i]))
            {
                i++;
            }
        }

        if (i < end && source[i] is 'e' or 'E')
        {
            var mark = i;
            i++;
            if (i < end && source[i] is '+' or '-')
            {
                i++;
            }

            if (i < end && IsDigit(source[i]))
            {
                while (i < end && IsDigit(source[i]))
                {
                    i++;
                }
            }
            else
            {
                i = mark;
            }
        }

        if (i < end && IsNamePart(source[i]) && source[i] != '-')
        {
            var bad = i;
            while (bad < end && IsNamePart(source[bad]))
            {
                bad++;
            }

            errors.Add(new(start, bad - start, $"'{source[start..bad]}' is not a number or a name."));
            return bad;
        }

        var text = source.AsSpan(start, i - start);
        if (!double.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent,
                CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
        {
            errors.Add(new(start, i - start, $"'{text}' is not a number the language can hold."));
            return i;
        }

        tokens.Add(new(TokenKind.Number, start, i - start, text.ToString(), value));
        return i;
    }

    private static int ReadString(string source, int i, int end, List<Token> tokens, List<ExpressionError> errors)
    {
        var start = i;
        var quote = source[i++];
        StringBuilder? builder = null;
        var runStart = i;
        while (i < end)
        {
            var c = source[i];
            if (c == quote)
            {
                var value = builder is null ? source[runStart..i] : builder.Append(source, runStart, i - runStart).ToString();
                if (HasUnpairedSurrogate(value))
                {
                    errors.Add(new(start, i + 1 - start, "The string holds an unpaired surrogate, which cannot be written as text."));
                }
                else
                {
                    tokens.Add(new(TokenKind.String, start, i + 1 - start, value));
                }

                return i + 1;
            }

            if (c != '\\')
            {
                i++;
                continue;
            }

            builder ??= new StringBuilder();
            builder.Append(source, runStart, i - runStart);
            var escapeAt = i;
            var e = i + 1 < end ? source[i + 1] : '\0';
            i += 2;
            switch (e)
            {
                case '\\' or '\'' or '"' or '/':
                    builder.Append(e);
                    break;
                case 'n':
                    builder.Append('\n');
                    break;
                case 'r':
                    builder.Append('\r');
                    break;
                case 't':
                    builder.Append('\t');
                    break;
                case 'u' when i + 4 <= end && ushort.TryParse(source.AsSpan(i, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code):
                    builder.Append((char)code);
                    i += 4;
                    break;
                default:
                    errors.Add(new(escapeAt, Math.Min(2, end - escapeAt), e == 'u'
                        ? "'\\u' must be followed by four hex digits."
                        : "Unknown escape; use \\\\, \\', \\\", \\n, \\r, \\t or \\uXXXX."));
                    i = Math.Min(i, end);
                    break;
            }

            runStart = i;
        }

        errors.Add(new(start, end - start, "The string is not closed."));
        return end;
    }

    internal static bool HasUnpairedSurrogate(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(value[i]))
            {
                return true;
            }
        }

        return false;
    }
}
