using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Clarity.Features.Workflows.Expressions;

internal delegate ExpressionValue FunctionBody(CallNode call, ReadOnlySpan<ExpressionValue> arguments);

/// <summary>One function of the fixed whitelist: its name, how many arguments it takes, and its body.</summary>
internal sealed record ExpressionFunction(string Name, int MinArguments, int MaxArguments, string Usage, FunctionBody Body)
{
    public ExpressionValue Invoke(CallNode call, ReadOnlySpan<ExpressionValue> arguments) => Body(call, arguments);
}

/// <summary>
/// The language's functions. All are pure, run in time linear in their input, and return strings no longer than
/// <see cref="ExpressionLimits.MaxOutputLength"/>. There is no way to add a function from an expression.
/// </summary>
internal static class ExpressionFunctions
{
    public static readonly FrozenDictionary<string, ExpressionFunction> All = new ExpressionFunction[]
    {
        new("contains", 2, 2, "contains(stringOrList, item)", Contains),
        new("startsWith", 2, 2, "startsWith(string, prefix)", (call, a) => Predicate(call, a, static (s, p) => s.StartsWith(p, StringComparison.Ordinal))),
        new("endsWith", 2, 2, "endsWith(string, suffix)", (call, a) => Predicate(call, a, static (s, p) => s.EndsWith(p, StringComparison.Ordinal))),
        new("lower", 1, 1, "lower(string)", (call, a) => Transform(call, a[0], static s => s.ToLowerInvariant())),
        new("upper", 1, 1, "upper(string)", (call, a) => Transform(call, a[0], static s => s.ToUpperInvariant())),
        new("trim", 1, 1, "trim(string)", (call, a) => Transform(call, a[0], static s => s.Trim())),
        new("length", 1, 1, "length(stringListOrObject)", Length),
        new("join", 1, 2, "join(list, separator = ',')", Join),
        new("format", 1, ExpressionLimits.MaxArguments, "format('{0} and {1}', a, b)", Format),
        new("toJson", 1, 1, "toJson(value)", (call, a) => Bounded(call, a[0].ToJson())),
        new("fromJson", 1, 1, "fromJson(string)", FromJson),
        new("coalesce", 1, ExpressionLimits.MaxArguments, "coalesce(a, b, …)", Coalesce),
    }.ToFrozenDictionary(f => f.Name, StringComparer.Ordinal);

    private static readonly JsonDocumentOptions FromJsonOptions = new() { MaxDepth = ExpressionLimits.MaxDepth };

    private static ExpressionValue Contains(CallNode call, ReadOnlySpan<ExpressionValue> a) =>
        a[0].Kind == ExpressionValueKind.List
            ? ExpressionValue.Of(InNode.Contains(a[0], a[1], call))
            : Predicate(call, a, static (s, p) => s.Contains(p, StringComparison.Ordinal));

    /// <summary>A string test; a null subject is false, so a missing value never matches.</summary>
    private static ExpressionValue Predicate(CallNode call, ReadOnlySpan<ExpressionValue> a, Func<string, string, bool> test)
    {
        if (a[0].IsNull)
        {
            return ExpressionValue.False;
        }

        return ExpressionValue.Of(test(RequireString(call, a[0], 0), RequireString(call, a[1], 1)));
    }

    /// <summary>A string to string function; null stays null.</summary>
    private static ExpressionValue Transform(CallNode call, ExpressionValue value, Func<string, string> transform) =>
        value.IsNull ? ExpressionValue.Null : ExpressionValue.Of(transform(RequireString(call, value, 0)));

    private static ExpressionValue Length(CallNode call, ReadOnlySpan<ExpressionValue> a) => a[0].Kind switch
    {
        ExpressionValueKind.Null => ExpressionValue.Of(0),
        ExpressionValueKind.String or ExpressionValueKind.List or ExpressionValueKind.Object => ExpressionValue.Of(a[0].Count),
        _ => throw Argument(call, 0, $"length() takes a string, a list or an object, not a {a[0].KindName}."),
    };

    private static ExpressionValue Join(CallNode call, ReadOnlySpan<ExpressionValue> a)
    {
        var separator = a.Length > 1 ? RequireString(call, a[1], 1) : ",";
        switch (a[0].Kind)
        {
            case ExpressionValueKind.Null:
                return ExpressionValue.Of("");
            case ExpressionValueKind.String:
                return a[0];
            case ExpressionValueKind.List:
                var builder = new StringBuilder();
                var count = a[0].Count;
                for (var i = 0; i < count; i++)
                {
                    if (i > 0)
                    {
                        builder.Append(separator);
                    }

                    builder.Append(a[0].Item(i).ToText());
                    if (builder.Length > ExpressionLimits.MaxOutputLength)
                    {
                        throw TooLong(call);
                    }
                }

                return ExpressionValue.Of(builder.ToString());
            default:
                throw Argument(call, 0, $"join() takes a list, not a {a[0].KindName}.");
        }
    }

    /// <summary><c>format('{0} of {1}', a, b)</c>: <c>{n}</c> is argument n as text; <c>{{</c> and <c>}}</c> are braces.</summary>
    private static ExpressionValue Format(CallNode call, ReadOnlySpan<ExpressionValue> a)
    {
        var pattern = RequireString(call, a[0], 0);
        var builder = new StringBuilder(pattern.Length);
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '{' && i + 1 < pattern.Length && pattern[i + 1] == '{')
            {
                builder.Append('{');
                i++;
            }
            else if (c == '}' && i + 1 < pattern.Length && pattern[i + 1] == '}')
            {
                builder.Append('}');
                i++;
            }
            else if (c == '{')
            {
                var close = pattern.IndexOf('}', i + 1);
                if (close < 0 || !int.TryParse(pattern.AsSpan(i + 1, close - i - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                {
                    throw Argument(call, 0, "format() placeholders are {0}, {1} …; write {{ and }} for braces.");
                }

                if (n + 1 >= a.Length)
                {
                    throw Argument(call, 0, $"format() has no argument for {{{n}}}.");
                }

                builder.Append(a[n + 1].ToText());
                i = close;
            }
            else if (c == '}')
            {
                throw Argument(call, 0, "format() found a lone '}'; write }} for a brace.");
            }
            else
            {
                builder.Append(c);
            }

            if (builder.Length > ExpressionLimits.MaxOutputLength)
            {
                throw TooLong(call);
            }
        }

        return ExpressionValue.Of(builder.ToString());
    }

    private static ExpressionValue FromJson(CallNode call, ReadOnlySpan<ExpressionValue> a)
    {
        if (a[0].IsNull)
        {
            return ExpressionValue.Null;
        }

        var text = RequireString(call, a[0], 0);
        try
        {
            using var document = JsonDocument.Parse(text, FromJsonOptions);
            ExpressionValue.RequireReadableStrings(document.RootElement);
            return ExpressionValue.Of(document.RootElement.Clone());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw Argument(call, 0, "fromJson() was given text that is not valid JSON.");
        }
    }

    private static ExpressionValue Coalesce(CallNode call, ReadOnlySpan<ExpressionValue> a)
    {
        foreach (var value in a)
        {
            if (!value.IsNull)
            {
                return value;
            }
        }

        return ExpressionValue.Null;
    }

    private static string RequireString(CallNode call, ExpressionValue value, int index) =>
        value.Kind == ExpressionValueKind.String
            ? value.Text
            : throw Argument(call, index, $"Argument {index + 1} of this function must be a string, not a {value.KindName}.");

    private static ExpressionValue Bounded(CallNode call, string text) =>
        text.Length > ExpressionLimits.MaxOutputLength ? throw TooLong(call) : ExpressionValue.Of(text);

    private static ExpressionException Argument(CallNode call, int index, string message) =>
        index < call.Arguments.Length ? call.Arguments[index].Fail(message) : call.Fail(message);

    private static ExpressionException TooLong(CallNode call) =>
        call.Fail($"The result is longer than {ExpressionLimits.MaxOutputLength} characters.");
}
