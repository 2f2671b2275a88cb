using System.Text;
using System.Text.Json.Nodes;

namespace Clarity.Features.Workflows.Expressions;

/// <summary>
/// A <c>when:</c> condition (or any single expression), parsed once and evaluated many times. Immutable and thread-safe.
/// An expression with check errors is never evaluated: <see cref="Evaluate"/> throws its first error.
/// </summary>
public sealed class ParsedExpression
{
    private readonly ExpressionNode? root;

    private ParsedExpression(string source, ExpressionNode? root, ExpressionCheck check)
    {
        Source = source;
        this.root = root;
        Check = check;
    }

    public string Source { get; }

    /// <summary>The check's errors (empty when the expression is valid) and the names it reads.</summary>
    public ExpressionCheck Check { get; }

    /// <summary>
    /// Parses a condition: a bare expression, or one wrapped whole in <c>${{ … }}</c> (whitespace around it is allowed).
    /// </summary>
    public static ParsedExpression ParseCondition(string source, ExpressionSyntax? syntax = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        syntax ??= ExpressionSyntax.Workflow;
        var errors = new List<ExpressionError>();
        var references = new List<ExpressionReference>();
        var start = 0;
        var end = source.Length;
        while (start < end && char.IsWhiteSpace(source[start]))
        {
            start++;
        }

        while (end > start && char.IsWhiteSpace(source[end - 1]))
        {
            end--;
        }

        ExpressionNode? node = null;
        if (start == end)
        {
            errors.Add(new(0, source.Length, "The condition is empty."));
        }
        else if (end - start > ExpressionLimits.MaxExpressionLength + 6)
        {
            errors.Add(new(start, end - start, $"The expression is longer than {ExpressionLimits.MaxExpressionLength} characters."));
        }
        else if (string.CompareOrdinal(source, start, "${{", 0, 3) == 0)
        {
            var close = TemplateScanner.FindClose(source, start + 3, end);
            if (close < 0)
            {
                errors.Add(new(start, 3, "'${{' is not closed by '}}' (or a string inside it is not closed)."));
            }
            else if (close + 2 != end)
            {
                errors.Add(new(start, end - start, "A condition is one expression: write it bare, or wrap it whole in ${{ … }}."));
            }
            else
            {
                node = ExpressionParser.Parse(source, start + 3, close, syntax, errors, references);
                if (errors.Count > 0 && errors[0].Message == "The expression is empty.")
                {
                    errors[0] = new(start, end - start, "'${{ }}' is empty; put an expression inside.");
                }
            }
        }
        else
        {
            node = ExpressionParser.Parse(source, start, end, syntax, errors, references);
        }

        return new(source, errors.Count == 0 ? node : null, new([.. errors.OrderBy(e => e.Offset)], [.. references]));
    }

    /// <summary>Evaluates the expression to a JSON value (null for null); throws <see cref="ExpressionException"/>.</summary>
    public JsonNode? Evaluate(ExpressionContext context) => EvaluateValue(context).ToNode();

    /// <summary>Evaluates the condition: false, null, 0 and "" are false; anything else is true.</summary>
    public bool EvaluateCondition(ExpressionContext context) => EvaluateValue(context).IsTruthy;

    internal ExpressionValue EvaluateValue(ExpressionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (root is null)
        {
            throw ExpressionException.From(Check.Errors[0]);
        }

        return root.Evaluate(context);
    }

    /// <summary>The expression in canonical form (fully parenthesised); parsing it gives the same tree.</summary>
    public override string ToString()
    {
        if (root is null)
        {
            return Source;
        }

        var builder = new StringBuilder();
        root.Write(builder);
        return builder.ToString();
    }
}
