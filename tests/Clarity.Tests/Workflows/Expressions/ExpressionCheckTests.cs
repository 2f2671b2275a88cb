using Clarity.Features.Workflows.Expressions;
using Xunit;

namespace Clarity.Tests.Workflows.Expressions;

public sealed class ExpressionCheckTests
{
    private static ExpressionError SingleError(ExpressionCheck check)
    {
        Assert.False(check.IsValid);
        return Assert.Single(check.Errors);
    }

    [Theory]
    [InlineData("inputs.topic == 'x'")]
    [InlineData("${{ inputs.topic == 'x' }}")]
    [InlineData("  ${{inputs.topic}}  ")]
    [InlineData("steps.draft.status == 'succeeded' and not (inputs.count < 3 or inputs.flag)")]
    [InlineData("contains(lower(inputs.topic), 'cat') && length(inputs.tags) >= 1")]
    [InlineData("inputs.x not in ['a', 'b',]")]
    [InlineData("steps.draft")]
    [InlineData("fromJson(inputs.json).a[0] == 1")]
    [InlineData("inputs.when || inputs.in || inputs['not']")]
    public void CheckCondition_AcceptsValidConditions(string condition) =>
        Assert.True(WorkflowExpressions.CheckCondition(condition).IsValid,
            string.Join("; ", WorkflowExpressions.CheckCondition(condition).Errors.Select(e => e.Message)));

    [Theory]
    [InlineData("", 0, 0)]
    [InlineData("   ", 0, 3)]
    [InlineData("${{ }}", 0, 6)]
    [InlineData("${{ inputs.a", 0, 3)]
    [InlineData("${{ inputs.a }} && ${{ inputs.b }}", 0, 34)]
    [InlineData("inputs.a ==", 11, 0)]
    [InlineData("(inputs.a", 9, 0)]
    [InlineData("inputs.a )", 9, 1)]
    [InlineData("inputs.a inputs.b", 9, 6)]
    [InlineData("[1, 2", 5, 0)]
    [InlineData("'open", 0, 5)]
    [InlineData("'bad \\q escape'", 5, 2)]
    [InlineData("1 < 2 < 3", 6, 1)]
    [InlineData("inputs.", 7, 0)]
    [InlineData("12abc", 0, 5)]
    [InlineData("inputs.a == 1 ,", 14, 1)]
    public void CheckCondition_ReportsSyntaxErrorsAtTheirOffset(string condition, int offset, int length)
    {
        var error = SingleError(WorkflowExpressions.CheckCondition(condition));
        Assert.Equal((offset, length), (error.Offset, error.Length));
    }

    [Fact]
    public void CheckCondition_ReportsEveryUnknownNameAndFunction()
    {
        var check = WorkflowExpressions.CheckCondition("foo == 1 && bar(inputs.a) && lower(1, 2) && upper");
        Assert.Equal([(0, 3), (12, 3), (29, 11), (44, 5)], check.Errors.Select(e => (e.Offset, e.Length)));
        Assert.StartsWith("Unknown name 'foo'", check.Errors[0].Message, StringComparison.Ordinal);
        Assert.StartsWith("Unknown function 'bar'", check.Errors[1].Message, StringComparison.Ordinal);
        Assert.StartsWith("lower() takes 1 argument, not 2", check.Errors[2].Message, StringComparison.Ordinal);
        Assert.StartsWith("'upper' is a function", check.Errors[3].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CheckCondition_ReportsEveryBadCharacter()
    {
        var check = WorkflowExpressions.CheckCondition("inputs.a = 1; inputs.b + 2");
        Assert.Equal([9, 12, 23], check.Errors.Select(e => e.Offset));
    }

    [Theory]
    [InlineData("System.IO.File.Delete(\"x\")")]
    [InlineData("inputs.a = 1")]
    [InlineData("x; y")]
    [InlineData("inputs.a; inputs.b")]
    [InlineData("x => x")]
    [InlineData("(x) => x.y")]
    [InlineData("inputs.tags.map(t => t)")]
    [InlineData("inputs.__proto__")]
    [InlineData("inputs['__proto__'].polluted")]
    [InlineData("inputs.a.__proto__")]
    [InlineData("inputs.constructor.constructor('return process')()")]
    [InlineData("inputs.topic.ToUpper()")]
    [InlineData("inputs.topic.lower()")]
    [InlineData("'abc'.length()")]
    [InlineData("lower(inputs.topic)()")]
    [InlineData("eval('1')")]
    [InlineData("typeof(inputs)")]
    [InlineData("new Object()")]
    [InlineData("inputs.a ? 1 : 2")]
    [InlineData("`${inputs.a}`")]
    [InlineData("{ 'a': 1 }")]
    [InlineData("inputs.a + 1")]
    [InlineData("inputs.count * 2")]
    [InlineData("while (true) {}")]
    [InlineData("for x in inputs.tags")]
    [InlineData("import os")]
    [InlineData("$(rm -rf /)")]
    [InlineData("inputs | grep")]
    [InlineData("inputs.a & 1")]
    [InlineData("GetType()")]
    [InlineData("inputs.GetType().Assembly")]
    [InlineData("env.HOME")]
    [InlineData("secrets.TOKEN")]
    [InlineData("steps.draft.outputs.title")]
    [InlineData("steps[inputs.which].output")]
    [InlineData("steps")]
    [InlineData("inputs[inputs.name]")]
    [InlineData("'\\uD800'")]
    [InlineData("inputs.a == !inputs.b")]
    [InlineData("inputs.'topic'")]
    [InlineData("inputs.1")]
    public void CheckCondition_RefusesAnythingOutsideTheLanguage(string condition)
    {
        var check = WorkflowExpressions.CheckCondition(condition);
        Assert.False(check.IsValid);
        Assert.All(check.Errors, e => Assert.InRange(e.Offset, 0, condition.Length));
        Assert.All(check.Errors, e => Assert.InRange(e.Offset + e.Length, 0, condition.Length));
        var error = Assert.Throws<ExpressionException>(() => WorkflowExpressions.EvaluateCondition(condition, ExpressionTestContext.Context));
        Assert.Equal(check.Errors[0].Message, error.Message);
    }

    [Fact]
    public void CheckCondition_ExtractsEveryInputAndStepReference()
    {
        var source = "inputs.topic == steps.draft.output.title && inputs['due'] != null && steps['build-docs'].status in ['ok'] && inputs.topic";
        var check = WorkflowExpressions.CheckCondition(source);
        Assert.True(check.IsValid);
        Assert.Equal(
            [(0, "inputs", "topic"), (16, "steps", "draft"), (44, "inputs", "due"), (69, "steps", "build-docs"), (109, "inputs", "topic")],
            check.References.Select(r => (r.Offset, r.Root, r.Name)));
    }

    [Fact]
    public void CheckCondition_ReportsReferencesInsideFunctionsListsAndIndexes()
    {
        var check = WorkflowExpressions.CheckCondition("${{ contains([inputs.a], steps.s1.output[inputs.b]) }}");
        Assert.True(check.IsValid);
        Assert.Equal([("inputs", "a"), ("steps", "s1"), ("inputs", "b")], check.References.Select(r => (r.Root, r.Name)));
        Assert.Equal(14, check.References[0].Offset);
    }

    [Fact]
    public void CheckCondition_RefusesAnExpressionLongerThanTheBound()
    {
        var source = "inputs.a == '" + new string('x', ExpressionLimits.MaxExpressionLength) + "'";
        var error = SingleError(WorkflowExpressions.CheckCondition(source));
        Assert.Contains("longer than", error.Message, StringComparison.Ordinal);
        var fits = "'" + new string('x', ExpressionLimits.MaxExpressionLength - 2) + "'";
        Assert.True(WorkflowExpressions.CheckCondition(fits).IsValid);
    }

    [Theory]
    [InlineData("(", ")")]
    [InlineData("[", "]")]
    [InlineData("lower(", ")")]
    [InlineData("!", "")]
    [InlineData("not ", "")]
    [InlineData("inputs.a[", "]")]
    public void CheckCondition_RefusesNestingDeeperThanTheBound(string open, string close)
    {
        var tooDeep = string.Concat(Enumerable.Repeat(open, ExpressionLimits.MaxDepth + 1)) + "'x'" + string.Concat(Enumerable.Repeat(close, ExpressionLimits.MaxDepth + 1));
        var check = WorkflowExpressions.CheckCondition(tooDeep);
        Assert.Contains(check.Errors, e => e.Message.Contains("nests deeper", StringComparison.Ordinal));

        var deepEnough = string.Concat(Enumerable.Repeat(open, ExpressionLimits.MaxDepth / 2)) + "'x'" + string.Concat(Enumerable.Repeat(close, ExpressionLimits.MaxDepth / 2));
        Assert.DoesNotContain(WorkflowExpressions.CheckCondition(deepEnough).Errors, e => e.Message.Contains("nests deeper", StringComparison.Ordinal));
    }

    [Fact]
    public void CheckCondition_RefusesLongOperatorAndMemberChains()
    {
        Assert.False(WorkflowExpressions.CheckCondition(string.Join(" && ", Enumerable.Repeat("true", 200))).IsValid);
        Assert.False(WorkflowExpressions.CheckCondition("inputs" + string.Concat(Enumerable.Repeat(".a", 200))).IsValid);
        Assert.True(WorkflowExpressions.CheckCondition(string.Join(" && ", Enumerable.Repeat("true", 40))).IsValid);
    }

    [Fact]
    public void CheckCondition_OfHugeNesting_ReturnsAnErrorInsteadOfOverflowingTheStack()
    {
        var source = new string('(', 4000);
        var check = WorkflowExpressions.CheckCondition(source);
        Assert.Contains(check.Errors, e => e.Message.Contains("nests deeper", StringComparison.Ordinal));
    }

    [Fact]
    public void ParsedExpression_ToString_IsACanonicalFormThatParsesToItself()
    {
        var parsed = ParsedExpression.ParseCondition("not inputs.a in ['x', 'y\\n'] && inputs['b c'] >= -2.5 || lower(steps.s.output.t) == 'q'");
        Assert.Equal(
            "(((!((inputs.a in ['x', 'y\\n']))) && (inputs['b c'] >= -2.5)) || (lower(steps.s.output.t) == 'q'))",
            parsed.ToString());
        Assert.Equal(parsed.ToString(), ParsedExpression.ParseCondition(parsed.ToString()).ToString());
    }
}
