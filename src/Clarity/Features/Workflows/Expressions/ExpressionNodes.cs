using System.Globalization;
using System.Text;

namespace Clarity.Features.Workflows.Expressions;

/// <summary>
/// A node of a parsed expression. Nodes are immutable, so one parsed expression can be evaluated many times and from many
/// threads. Offsets are into the source text the expression was parsed from.
/// </summary>
internal abstract class ExpressionNode(int offset, int length, int depth)
{
    public int Offset { get; } = offset;

    public int Length { get; } = length;

    /// <summary>The height of the tree below this node, bounded by <see cref="ExpressionLimits.MaxDepth"/>.</summary>
    public int Depth { get; } = depth;

    public abstract ExpressionValue Evaluate(ExpressionContext context);

    /// <summary>Writes the expression in its canonical form (parsing that text gives the same tree).</summary>
    public abstract void Write(StringBuilder builder);

    public ExpressionException Fail(string message) => new(Offset, Length, message);

    protected static int Below(params ReadOnlySpan<ExpressionNode> nodes)
    {
        var depth = 0;
        foreach (var node in nodes)
        {
            depth = Math.Max(depth, node.Depth);
        }

        return depth + 1;
    }
}

internal sealed class LiteralNode(int offset, int length, ExpressionValue value) : ExpressionNode(offset, length, 1)
{
    public ExpressionValue Value { get; } = value;

    public override ExpressionValue Evaluate(ExpressionContext context) => Value;

    public override void Write(StringBuilder builder)
    {
        switch (Value.Kind)
        {
            case ExpressionValueKind.String:
                WriteString(builder, Value.Text);
                break;
            case ExpressionValueKind.Number:
                builder.Append(ExpressionValue.FormatNumber(Value.Number));
                break;
            default:
                builder.Append(Value.ToText() is "" ? "null" : Value.ToText());
                break;
        }
    }

    public static void WriteString(StringBuilder builder, string value)
    {
        builder.Append('\'');
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\':
                    builder.Append(@"\\");
                    break;
                case '\'':
                    builder.Append(@"\'");
                    break;
                case '\n':
                    builder.Append(@"\n");
                    break;
                case '\r':
                    builder.Append(@"\r");
                    break;
                case '\t':
                    builder.Append(@"\t");
                    break;
                case < ' ' or '\u007f':
                    builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
                    break;
                default:
                    builder.Append(c);
                    break;
            }
        }

        builder.Append('\'');
    }
}

internal sealed class ListNode(int offset, int length, ExpressionNode[] items) : ExpressionNode(offset, length, Below(items))
{
    public override ExpressionValue Evaluate(ExpressionContext context)
    {
        var values = new ExpressionValue[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            values[i] = items[i].Evaluate(context);
        }

        return ExpressionValue.Of(values);
    }

    public override void Write(StringBuilder builder)
    {
        builder.Append('[');
        for (var i = 0; i < items.Length; i++)
        {
            if (i > 0)
            {
                builder.Append(", ");
            }

            items[i].Write(builder);
        }

        builder.Append(']');
    }
}

/// <summary>A name the context provides: <c>inputs</c>, <c>steps</c>, and later roots such as <c>task</c>.</summary>
internal sealed class RootNode(int offset, int length, string name) : ExpressionNode(offset, length, 1)
{
    public string Name { get; } = name;

    public override ExpressionValue Evaluate(ExpressionContext context) => context.Root(Name);

    public override void Write(StringBuilder builder) => builder.Append(Name);
}

/// <summary><c>a.b</c> or <c>a['b']</c>: a member of an object; null when it is missing or the value is not an object.</summary>
internal sealed class MemberNode(int offset, int length, ExpressionNode target, string name)
    : ExpressionNode(offset, length, target.Depth + 1)
{
    public override ExpressionValue Evaluate(ExpressionContext context) => target.Evaluate(context).Member(name);

    public override void Write(StringBuilder builder)
    {
        target.Write(builder);
        if (name.Length > 0 && ExpressionLexer.IsPlainName(name))
        {
            builder.Append('.').Append(name);
        }
        else
        {
            builder.Append('[');
            LiteralNode.WriteString(builder, name);
            builder.Append(']');
        }
    }
}

/// <summary><c>a[i]</c>: a list item by a whole number (null when out of range), or an object member by a string.</summary>
internal sealed class IndexNode(int offset, int length, ExpressionNode target, ExpressionNode index)
    : ExpressionNode(offset, length, Below(target, index))
{
    public override ExpressionValue Evaluate(ExpressionContext context)
    {
        var value = target.Evaluate(context);
        var key = index.Evaluate(context);
        switch (key.Kind)
        {
            case ExpressionValueKind.String:
                return value.Member(key.Text);
            case ExpressionValueKind.Number:
                var n = key.Number;
                if (n != Math.Floor(n) || double.IsInfinity(n))
                {
                    throw index.Fail($"A list index must be a whole number, not {ExpressionValue.FormatNumber(n)}.");
                }

                return n is < 0 or > int.MaxValue ? ExpressionValue.Null : value.Item((int)n);
            case ExpressionValueKind.Null:
                return ExpressionValue.Null;
            default:
                throw index.Fail($"An index must be a number or a string, not a {key.KindName}.");
        }
    }

    public override void Write(StringBuilder builder)
    {
        target.Write(builder);
        builder.Append('[');
        index.Write(builder);
        builder.Append(']');
    }
}

/// <summary><c>!a</c> / <c>not a</c>: true when the operand is falsy.</summary>
internal sealed class NotNode(int offset, int length, ExpressionNode operand) : ExpressionNode(offset, length, operand.Depth + 1)
{
    public override ExpressionValue Evaluate(ExpressionContext context) => ExpressionValue.Of(!operand.Evaluate(context).IsTruthy);

    public override void Write(StringBuilder builder)
    {
        builder.Append("(!(");
        operand.Write(builder);
        builder.Append("))");
    }
}

/// <summary>
/// <c>a &amp;&amp; b</c> and <c>a || b</c>, short-circuiting and returning an operand as it is (so
/// <c>inputs.title || 'Untitled'</c> picks a default), as in JavaScript and GitHub Actions.
/// </summary>
internal sealed class LogicalNode(int offset, int length, bool isAnd, ExpressionNode left, ExpressionNode right)
    : ExpressionNode(offset, length, Below(left, right))
{
    public override ExpressionValue Evaluate(ExpressionContext context)
    {
        var value = left.Evaluate(context);
        return value.IsTruthy == isAnd ? right.Evaluate(context) : value;
    }

    public override void Write(StringBuilder builder)
    {
        builder.Append('(');
        left.Write(builder);
        builder.Append(isAnd ? " && " : " || ");
        right.Write(builder);
        builder.Append(')');
    }
}

internal enum ComparisonOperator
{
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// <summary>
/// <c>==</c> and <c>!=</c> compare any two values (different kinds are unequal). Ordering compares numbers with numbers
/// and strings with strings (ordinal); with a null on either side it is false; other kinds are an error.
/// </summary>
internal sealed class ComparisonNode(int offset, int length, ComparisonOperator op, ExpressionNode left, ExpressionNode right)
    : ExpressionNode(offset, length, Below(left, right))
{
    public override ExpressionValue Evaluate(ExpressionContext context)
    {
        var a = left.Evaluate(context);
        var b = right.Evaluate(context);
        switch (op)
        {
            case ComparisonOperator.Equal:
                return ExpressionValue.Of(ExpressionValue.AreEqual(a, b));
            case ComparisonOperator.NotEqual:
                return ExpressionValue.Of(!ExpressionValue.AreEqual(a, b));
        }

        if (a.IsNull || b.IsNull)
        {
            return ExpressionValue.False;
        }

        int order;
        if (a.Kind == ExpressionValueKind.Number && b.Kind == ExpressionValueKind.Number)
        {
            if (double.IsNaN(a.Number) || double.IsNaN(b.Number))
            {
                return ExpressionValue.False;
            }

            order = a.Number.CompareTo(b.Number);
        }
        else if (a.Kind == ExpressionValueKind.String && b.Kind == ExpressionValueKind.String)
        {
            order = string.CompareOrdinal(a.Text, b.Text);
        }
        else
        {
            throw Fail($"Cannot order a {a.KindName} against a {b.KindName}; '{Symbol}' compares two numbers or two strings.");
        }

        return ExpressionValue.Of(op switch
        {
            ComparisonOperator.Less => order < 0,
            ComparisonOperator.LessOrEqual => order <= 0,
            ComparisonOperator.Greater => order > 0,
            _ => order >= 0,
        });
    }

    private string Symbol => op switch
    {
        ComparisonOperator.Equal => "==",
        ComparisonOperator.NotEqual => "!=",
        ComparisonOperator.Less => "<",
        ComparisonOperator.LessOrEqual => "<=",
        ComparisonOperator.Greater => ">",
        _ => ">=",
    };

    public override void Write(StringBuilder builder)
    {
        builder.Append('(');
        left.Write(builder);
        builder.Append(' ').Append(Symbol).Append(' ');
        right.Write(builder);
        builder.Append(')');
    }
}

/// <summary>
/// <c>a in b</c> (and <c>a not in b</c>): membership in a list, a substring of a string, or a member name of an object.
/// Nothing is in null.
/// </summary>
internal sealed class InNode(int offset, int length, bool negated, ExpressionNode item, ExpressionNode container)
    : ExpressionNode(offset, length, Below(item, container))
{
    public override ExpressionValue Evaluate(ExpressionContext context)
    {
        var needle = item.Evaluate(context);
        var haystack = container.Evaluate(context);
        return ExpressionValue.Of(Contains(haystack, needle, this) != negated);
    }

    internal static bool Contains(ExpressionValue haystack, ExpressionValue needle, ExpressionNode at)
    {
        switch (haystack.Kind)
        {
            case ExpressionValueKind.Null:
                return false;
            case ExpressionValueKind.List:
                return haystack.Any(needle, static (n, candidate) => ExpressionValue.AreEqual(n, candidate));
            case ExpressionValueKind.String when needle.Kind == ExpressionValueKind.String:
                return haystack.Text.Contains(needle.Text, StringComparison.Ordinal);
            case ExpressionValueKind.Object when needle.Kind == ExpressionValueKind.String:
                return haystack.HasMember(needle.Text);
            case ExpressionValueKind.String or ExpressionValueKind.Object:
                throw at.Fail($"Cannot look for a {needle.KindName} in a {haystack.KindName}; use a string.");
            default:
                throw at.Fail($"Cannot look for a value in a {haystack.KindName}; use a list, a string or an object.");
        }
    }

    public override void Write(StringBuilder builder)
    {
        builder.Append('(');
        item.Write(builder);
        builder.Append(negated ? " not in " : " in ");
        container.Write(builder);
        builder.Append(')');
    }
}

/// <summary>A call of one of the language's fixed functions.</summary>
internal sealed class CallNode(int offset, int length, ExpressionFunction function, ExpressionNode[] arguments)
    : ExpressionNode(offset, length, Below(arguments))
{
    public ExpressionNode[] Arguments { get; } = arguments;

    public override ExpressionValue Evaluate(ExpressionContext context)
    {
        var buffer = default(ArgumentBuffer);
        Span<ExpressionValue> values = Arguments.Length <= ArgumentBuffer.Size ? buffer[..Arguments.Length] : new ExpressionValue[Arguments.Length];
        for (var i = 0; i < Arguments.Length; i++)
        {
            values[i] = Arguments[i].Evaluate(context);
        }

        return function.Invoke(this, values);
    }

    public override void Write(StringBuilder builder)
    {
        builder.Append(function.Name).Append('(');
        for (var i = 0; i < Arguments.Length; i++)
        {
            if (i > 0)
            {
                builder.Append(", ");
            }

            Arguments[i].Write(builder);
        }

        builder.Append(')');
    }
}

/// <summary>Room for the arguments of most calls without allocating.</summary>
[System.Runtime.CompilerServices.InlineArray(Size)]
internal struct ArgumentBuffer
{
    public const int Size = 8;

    private ExpressionValue first;
}
