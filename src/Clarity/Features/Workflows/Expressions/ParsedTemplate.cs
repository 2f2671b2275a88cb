using System.Text;
using System.Text.Json.Nodes;

namespace Clarity.Features.Workflows.Expressions;

/// <summary>
/// A string with zero or more <c>${{ expression }}</c> parts, parsed once and rendered many times. <c>$${{</c> writes a
/// literal <c>${{</c>. A template that is exactly one <c>${{ … }}</c> (nothing around it, not even spaces) renders to
/// the expression's JSON value; any other renders to a string. Immutable and thread-safe.
/// </summary>
public sealed class ParsedTemplate
{
    private readonly TemplatePart[] parts;
    private readonly bool isSingleExpression;

    private ParsedTemplate(string source, TemplatePart[] parts, bool isSingleExpression, ExpressionCheck check)
    {
        Source = source;
        this.parts = parts;
        this.isSingleExpression = isSingleExpression;
        Check = check;
    }

    /// <summary>Whether the template is exactly one <c>${{ … }}</c>, so it renders to a typed JSON value.</summary>
    public bool IsSingleExpression => isSingleExpression;

    public string Source { get; }

    /// <summary>The check's errors (empty when every part is valid) and the names all parts read.</summary>
    public ExpressionCheck Check { get; }

    /// <summary>Whether the template has any <c>${{ … }}</c> part (if not, it renders to its literal text).</summary>
    public bool HasExpressions => parts.Any(p => p.Expression is not null);

    public static ParsedTemplate Parse(string source, ExpressionSyntax? syntax = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        syntax ??= ExpressionSyntax.Workflow;
        var errors = new List<ExpressionError>();
        var references = new List<ExpressionReference>();
        var parts = new List<TemplatePart>();
        if (source.Length > ExpressionLimits.MaxOutputLength)
        {
            errors.Add(new(0, source.Length, $"The text is longer than {ExpressionLimits.MaxOutputLength} characters."));
            return new(source, [], false, new(errors, references));
        }

        var literal = new StringBuilder();
        var single = false;
        var i = 0;
        while (i < source.Length)
        {
            var open = source.IndexOf("${{", i, StringComparison.Ordinal);
            if (open < 0)
            {
                literal.Append(source, i, source.Length - i);
                break;
            }

            if (open > 0 && source[open - 1] == '$')
            {
                // "$${{" is the escape for a literal "${{".
                literal.Append(source, i, open - 1 - i).Append("${{");
                i = open + 3;
                continue;
            }

            literal.Append(source, i, open - i);
            var close = TemplateScanner.FindClose(source, open + 3, source.Length);
            if (close < 0)
            {
                errors.Add(new(open, 3, "'${{' is not closed by '}}' (or a string inside it is not closed). Write $${{ for a literal ${{."));
                break;
            }

            if (literal.Length > 0)
            {
                parts.Add(new(literal.ToString(), null, open));
                literal.Clear();
            }

            if (source.AsSpan(open + 3, close - open - 3).IsWhiteSpace())
            {
                errors.Add(new(open, close + 2 - open, "'${{ }}' is empty; put an expression inside."));
            }
            else
            {
                var node = ExpressionParser.Parse(source, open + 3, close, syntax, errors, references);
                parts.Add(new(null, node, open));
            }

            single = open == 0 && close + 2 == source.Length;
            i = close + 2;
        }

        if (literal.Length > 0)
        {
            parts.Add(new(literal.ToString(), null, source.Length));
        }

        return new(source, [.. parts], parts.Count == 1 && single, new([.. errors.OrderBy(e => e.Offset)], [.. references]));
    }

    /// <summary>Renders the template; throws <see cref="ExpressionException"/> for a check error or an evaluation error.</summary>
    public JsonNode? Render(ExpressionContext context) => Render(context, new RenderBudget());

    internal JsonNode? Render(ExpressionContext context, RenderBudget budget)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!Check.IsValid)
        {
            throw ExpressionException.From(Check.Errors[0]);
        }

        if (isSingleExpression && parts[0].Expression is { } only)
        {
            var value = only.Evaluate(context);
            budget.Spend(value.ApproximateLength, only);
            return value.ToNode();
        }

        var builder = new StringBuilder();
        foreach (var part in parts)
        {
            if (part.Expression is { } expression)
            {
                builder.Append(expression.Evaluate(context).ToText());
                if (builder.Length > ExpressionLimits.MaxOutputLength)
                {
                    throw expression.Fail($"The rendered text is longer than {ExpressionLimits.MaxOutputLength} characters.");
                }
            }
            else
            {
                builder.Append(part.Literal);
            }
        }

        budget.Spend(builder.Length, null);
        return JsonValue.Create(builder.ToString());
    }

    private sealed record TemplatePart(string? Literal, ExpressionNode? Expression, int Offset);
}

/// <summary>The output budget of one render call, shared by every string of a JSON value.</summary>
internal sealed class RenderBudget
{
    private long remaining = ExpressionLimits.MaxOutputLength;

    public void Spend(int length, ExpressionNode? at)
    {
        remaining -= length;
        if (remaining < 0)
        {
            throw at?.Fail($"The rendered output is longer than {ExpressionLimits.MaxOutputLength} characters.")
                ?? new ExpressionException(0, 0, $"The rendered output is longer than {ExpressionLimits.MaxOutputLength} characters.");
        }
    }
}

/// <summary>Finds the <c>}}</c> that closes a <c>${{</c>, skipping over quoted strings inside the expression.</summary>
internal static class TemplateScanner
{
    public static int FindClose(string source, int start, int end)
    {
        var i = start;
        while (i < end)
        {
            var c = source[i];
            if (c is '\'' or '"')
            {
                i++;
                while (i < end && source[i] != c)
                {
                    i += source[i] == '\\' ? 2 : 1;
                }

                if (i >= end)
                {
                    return -1;
                }

                i++;
            }
            else if (c == '}' && i + 1 < end && source[i + 1] == '}')
            {
                return i;
            }
            else
            {
                i++;
            }
        }

        return -1;
    }
}
