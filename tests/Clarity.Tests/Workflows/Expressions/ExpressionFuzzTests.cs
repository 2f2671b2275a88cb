using Clarity.Features.Workflows.Expressions;
using CsCheck;
using Xunit;

namespace Clarity.Tests.Workflows.Expressions;

/// <summary>
/// Property tests: whatever text arrives, checking returns errors (never throws), evaluating throws nothing but
/// <see cref="ExpressionException"/>, every error points inside the text, and deep nesting is refused cleanly.
/// </summary>
public sealed class ExpressionFuzzTests
{
    private const string LanguageChars = "()[]{}'\"\\.,!=<>&|$ \t\nabcdefinostuprlw_-0123456789eE+*/;:?`";

    private static readonly string[] Valid =
    [
        "inputs.topic == 'x'",
        "steps.draft.status == 'succeeded' && !(inputs.count < 3 || inputs.flag)",
        "contains(lower(inputs.topic), 'cat') and length(inputs.tags) >= 1",
        "inputs.topic not in ['a', \"b\\n\", null, true, 1.5e3]",
        "fromJson(inputs.json).a[0] == 1",
        "format('{0}-{1}', inputs.topic, join(inputs.tags, ', ')) || coalesce(inputs.missing, 'x')",
        "startsWith(trim(inputs.spaced), 'pad') or endsWith(upper(inputs.topic), 'TS')",
        "steps['build-docs'].output['title'] != toJson(inputs.nested)",
        "${{ inputs.count > 2 }}",
    ];

    private static readonly Gen<string> LanguageText = Gen.Char[LanguageChars].Array[0, 120].Select(chars => new string(chars));

    private static readonly Gen<string> AnyText = Gen.Char.Array[0, 120].Select(chars => new string(chars));

    /// <summary>A valid expression changed by a few random edits: inserts, deletions, duplications and swaps.</summary>
    private static readonly Gen<string> Mutated =
        Gen.Select(Gen.OneOf(Valid), Gen.Int[0, 1000].Array[1, 6], Gen.Char[LanguageChars], (source, edits, c) =>
        {
            var text = source;
            foreach (var edit in edits)
            {
                var at = text.Length == 0 ? 0 : edit % text.Length;
                text = (edit % 4) switch
                {
                    0 => text.Insert(at, c.ToString()),
                    1 => text.Remove(at, Math.Min(text.Length - at, 1 + (edit % 5))),
                    2 => text.Insert(at, text[at..Math.Min(text.Length, at + 1 + (edit % 9))]),
                    _ => at + 1 < text.Length ? string.Concat(text.AsSpan(0, at), text[at + 1].ToString(), text[at].ToString(), text.AsSpan(at + 2)) : text,
                };
            }

            return text;
        });

    /// <summary>Valid expressions built from the grammar.</summary>
    private static readonly Gen<string> Generated = Gen.Recursive<string>((depth, expr) =>
    {
        var atom = Gen.OneOf<string>(
            Gen.OneOf("inputs.topic", "inputs.count", "inputs.tags", "inputs.missing", "steps.draft.output.score",
                "steps.draft.status", "inputs.nested.k", "null", "true", "false", "''", "'Cats'", "0", "-2.5", "3"),
            Gen.Int[0, 5].Select(i => $"inputs.tags[{i}]"));
        if (depth > 4)
        {
            return atom;
        }

        return Gen.Frequency<string>(
            (4, atom),
            (2, Gen.Select(expr, Gen.OneOf("==", "!=", "<", ">=", "in", "not in"), expr, (a, op, b) => $"({a} {op} {b})")),
            (2, Gen.Select(expr, Gen.OneOf("&&", "||", "and", "or"), expr, (a, op, b) => $"{a} {op} {b}")),
            (1, expr.Select(a => $"(!({a}))")),
            (1, expr.Array[0, 3].Select(items => $"[{string.Join(", ", items)}]")),
            (2, Gen.Select(Gen.OneOf("lower", "upper", "trim", "length", "toJson", "join", "contains", "coalesce", "format"), expr, expr,
                (f, a, b) => f is "contains" or "coalesce" or "format" ? $"{f}({a}, {b})" : $"{f}({a})")));
    });

    private static void CheckThenEvaluate(string source)
    {
        var condition = ParsedExpression.ParseCondition(source);
        AssertErrorsInside(condition.Check, source);
        TryEvaluate(() => condition.Evaluate(ExpressionTestContext.Context));

        var template = ParsedTemplate.Parse(source);
        AssertErrorsInside(template.Check, source);
        TryEvaluate(() => template.Render(ExpressionTestContext.Context));
    }

    private static void AssertErrorsInside(ExpressionCheck check, string source)
    {
        foreach (var error in check.Errors)
        {
            Assert.InRange(error.Offset, 0, source.Length);
            Assert.InRange(error.Length, 0, source.Length - error.Offset);
            Assert.False(string.IsNullOrWhiteSpace(error.Message));
        }

        foreach (var reference in check.References)
        {
            Assert.InRange(reference.Offset, 0, source.Length - 1);
        }
    }

    private static void TryEvaluate(Action evaluate)
    {
        try
        {
            evaluate();
        }
        catch (ExpressionException)
        {
            // The one failure the language allows.
        }
    }

    [Fact]
    public void RandomText_OfLanguageCharacters_OnlyEverYieldsCheckErrorsOrExpressionErrors() =>
        LanguageText.Sample(CheckThenEvaluate, iter: 3000, threads: 1);

    [Fact]
    public void RandomText_OfAnyCharacters_OnlyEverYieldsCheckErrorsOrExpressionErrors() =>
        AnyText.Sample(CheckThenEvaluate, iter: 2000, threads: 1);

    [Fact]
    public void MutatedValidExpressions_OnlyEverYieldCheckErrorsOrExpressionErrors() =>
        Mutated.Sample(CheckThenEvaluate, iter: 3000, threads: 1);

    [Fact]
    public void MutatedValidExpressions_InsideTemplates_OnlyEverYieldCheckErrorsOrExpressionErrors() =>
        Mutated.Sample(source => CheckThenEvaluate($"text ${{{{ {source} }}}} more ${{{{ inputs.topic }}}}"), iter: 2000, threads: 1);

    [Fact]
    public void GeneratedExpressions_AreValid_AndEvaluateOrFailWithAnExpressionError() =>
        Generated.Sample(source =>
        {
            var parsed = ParsedExpression.ParseCondition(source);
            Assert.True(parsed.Check.IsValid, source + ": " + string.Join("; ", parsed.Check.Errors.Select(e => e.Message)));
            TryEvaluate(() => parsed.Evaluate(ExpressionTestContext.Context));
        }, iter: 2000, threads: 1);

    [Fact]
    public void CanonicalForm_ParsesToTheSameTree_AndEvaluatesTheSame() =>
        Generated.Sample(source =>
        {
            var parsed = ParsedExpression.ParseCondition(source);
            var canonical = parsed.ToString();
            var reparsed = ParsedExpression.ParseCondition(canonical);
            Assert.True(reparsed.Check.IsValid, canonical);
            Assert.Equal(canonical, reparsed.ToString());
            Assert.Equal(Outcome(parsed), Outcome(reparsed));
            Assert.Equal(parsed.Check.References.Select(r => (r.Root, r.Name)), reparsed.Check.References.Select(r => (r.Root, r.Name)));
        }, iter: 1000, threads: 1);

    [Fact]
    public void RenderingAnEscapedText_GivesTheTextBack_AndItChecksClean() =>
        AnyText.Select(LanguageText, (a, b) => a + "${{" + b + "$$" + a).Sample(text =>
        {
            var escaped = WorkflowExpressions.EscapeTemplate(text);
            Assert.True(WorkflowExpressions.CheckTemplate(escaped).IsValid);
            Assert.Equal(text, WorkflowExpressions.RenderTemplate(escaped, ExpressionTestContext.Context)!.GetValue<string>());
        }, iter: 1000, threads: 1);

    [Fact]
    public void RenderedTemplates_AreStable_WhenRenderedAgainAsEscapedText() =>
        Generated.Sample(source =>
        {
            string first;
            try
            {
                first = ParsedTemplate.Parse($"value: ${{{{ {source} }}}}").Render(ExpressionTestContext.Context)!.GetValue<string>();
            }
            catch (ExpressionException)
            {
                return;
            }

            var again = WorkflowExpressions.RenderTemplate(WorkflowExpressions.EscapeTemplate(first), ExpressionTestContext.Context)!.GetValue<string>();
            Assert.Equal(first, again);
        }, iter: 1000, threads: 1);

    [Fact]
    public void DeepNesting_IsRefusedCleanly_AtAnyDepth() =>
        Gen.Select(Gen.Int[ExpressionLimits.MaxDepth + 1, 4000], Gen.OneOf("(", "[", "!", "not ", "lower(", "inputs.a["), (depth, open) => (depth, open))
            .Sample((depth, open) =>
            {
                var source = string.Concat(Enumerable.Repeat(open, depth));
                var check = WorkflowExpressions.CheckCondition(source);
                Assert.False(check.IsValid);
            }, iter: 300, threads: 1);

    private static string Outcome(ParsedExpression parsed)
    {
        try
        {
            return parsed.Evaluate(ExpressionTestContext.Context)?.ToJsonString() ?? "null";
        }
        catch (ExpressionException e)
        {
            return "error: " + e.Message;
        }
    }
}
