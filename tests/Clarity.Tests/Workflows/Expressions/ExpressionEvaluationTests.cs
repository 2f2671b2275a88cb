using System.Text.Json.Nodes;
using Clarity.Features.Workflows.Expressions;
using Xunit;
using static Clarity.Tests.Workflows.Expressions.ExpressionTestContext;

namespace Clarity.Tests.Workflows.Expressions;

public sealed class ExpressionEvaluationTests
{
    [Theory]
    [InlineData("'it''s'", null)]
    [InlineData("'a\\'b'", "\"a'b\"")]
    [InlineData("\"say \\\"hi\\\"\"", "\"say \\\"hi\\\"\"")]
    [InlineData("'tab\\there'", "\"tab\\there\"")]
    [InlineData("'\\u00e9'", "\"é\"")]
    [InlineData("42", "42")]
    [InlineData("-1.5", "-1.5")]
    [InlineData("2e3", "2000")]
    [InlineData("true", "true")]
    [InlineData("false", "false")]
    [InlineData("null", "null")]
    [InlineData("[1, 'a', null, [true]]", "[1,\"a\",null,[true]]")]
    [InlineData("[]", "[]")]
    public void Literals_EvaluateToTheirValue(string expression, string? expected)
    {
        if (expected is null)
        {
            Assert.False(ParsedExpression.ParseCondition(expression).Check.IsValid);
            return;
        }

        Assert.Equal(expected, Eval(expression));
    }

    [Theory]
    [InlineData("inputs.topic", "\"Cats\"")]
    [InlineData("inputs['topic']", "\"Cats\"")]
    [InlineData("inputs.nested.k", "\"v\"")]
    [InlineData("inputs.nested['k']", "\"v\"")]
    [InlineData("inputs.tags[1]", "\"b\"")]
    [InlineData("inputs.nested.list[0].x", "1")]
    [InlineData("steps.draft.output.title", "\"Hello\"")]
    [InlineData("steps['build-docs'].status", "\"failed\"")]
    [InlineData("steps.build-docs.status", "\"failed\"")]
    [InlineData("inputs.big", "12345678901234567890")]
    [InlineData("inputs", null)]
    public void MemberAndIndexAccess_ReadTheContext(string expression, string? expected)
    {
        if (expected is null)
        {
            Assert.StartsWith("{\"topic\":\"Cats\"", Eval(expression), StringComparison.Ordinal);
            return;
        }

        Assert.Equal(expected, Eval(expression));
    }

    [Theory]
    [InlineData("inputs.missing")]
    [InlineData("inputs.missing.deeper.still")]
    [InlineData("inputs.nothing.x")]
    [InlineData("inputs.topic.length")]
    [InlineData("inputs.tags[5]")]
    [InlineData("inputs.tags[-1]")]
    [InlineData("inputs.tags['x']")]
    [InlineData("inputs.nested[0]")]
    [InlineData("steps.unknown.output.title")]
    [InlineData("steps.build-docs.output.title")]
    [InlineData("inputs.tags[null]")]
    public void MissingMembersAndOutOfRangeIndexes_AreNull(string expression) => Assert.Equal("null", Eval(expression));

    [Theory]
    [InlineData("inputs.tags[0.5]")]
    [InlineData("inputs.tags[true]")]
    [InlineData("inputs.tags[[0]]")]
    public void BadIndexes_AreEvaluationErrorsAtTheIndex(string expression)
    {
        var error = EvalFails(expression);
        Assert.Equal(expression.IndexOf('[', StringComparison.Ordinal) + 1, error.Offset);
    }

    [Theory]
    [InlineData("1 == 1", true)]
    [InlineData("1 == 1.0", true)]
    [InlineData("'a' == 'a'", true)]
    [InlineData("'a' == 'A'", false)]
    [InlineData("1 == '1'", false)]
    [InlineData("null == inputs.missing", true)]
    [InlineData("inputs.nothing == null", true)]
    [InlineData("true == 1", false)]
    [InlineData("[1, 'a'] == [1, 'a']", true)]
    [InlineData("inputs.tags == ['a', 'b']", true)]
    [InlineData("steps.draft.output.items == [1, 2, 3]", true)]
    [InlineData("inputs.nested == inputs.nested", true)]
    [InlineData("inputs.nested == inputs.tags", false)]
    [InlineData("1 != 2", true)]
    [InlineData("'x' != 'x'", false)]
    [InlineData("inputs.count == 3", true)]
    public void Equality_ComparesKindAndValue(string expression, bool expected) =>
        Assert.Equal(expected ? "true" : "false", Eval(expression));

    [Theory]
    [InlineData("1 < 2", true)]
    [InlineData("2 <= 2", true)]
    [InlineData("3 > 2", true)]
    [InlineData("2 >= 3", false)]
    [InlineData("'a' < 'b'", true)]
    [InlineData("'B' < 'a'", true)]
    [InlineData("steps.draft.output.score >= 0.5", true)]
    [InlineData("inputs.missing > 1", false)]
    [InlineData("inputs.missing < 1", false)]
    [InlineData("null <= null", false)]
    public void Ordering_ComparesNumbersAndStrings_AndIsFalseWithNull(string expression, bool expected) =>
        Assert.Equal(expected ? "true" : "false", Eval(expression));

    [Theory]
    [InlineData("inputs.topic < 3", 0)]
    [InlineData("true > false", 0)]
    [InlineData("inputs.tags >= [1]", 0)]
    public void Ordering_OfOtherKinds_IsAnEvaluationErrorAtTheComparison(string expression, int offset)
    {
        var error = EvalFails(expression);
        Assert.Equal(offset, error.Offset);
        Assert.Equal(expression.Length, error.Length);
        Assert.Contains("Cannot order", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("true && true", "true")]
    [InlineData("true and false", "false")]
    [InlineData("false || true", "true")]
    [InlineData("false or false", "false")]
    [InlineData("!true", "false")]
    [InlineData("not false", "true")]
    [InlineData("!inputs.missing", "true")]
    [InlineData("!!inputs.topic", "true")]
    [InlineData("inputs.missing || 'default'", "\"default\"")]
    [InlineData("inputs.empty || 'default'", "\"default\"")]
    [InlineData("inputs.topic || 'default'", "\"Cats\"")]
    [InlineData("inputs.topic && inputs.count", "3")]
    [InlineData("inputs.zero && inputs.count", "0")]
    [InlineData("not inputs.count == 3", "false")]
    [InlineData("!inputs.flag && true", "false")]
    [InlineData("true || false && false", "true")]
    [InlineData("(true || false) && false", "false")]
    public void Logic_UsesTruthiness_AndReturnsTheDecidingOperand(string expression, string expected) =>
        Assert.Equal(expected, Eval(expression));

    [Fact]
    public void Logic_ShortCircuits_SoTheRightSideIsNotEvaluated()
    {
        Assert.Equal("false", Eval("false && inputs.topic < 3"));
        Assert.Equal("true", Eval("true || inputs.topic < 3"));
    }

    [Theory]
    [InlineData("'a' in inputs.tags", true)]
    [InlineData("'z' in inputs.tags", false)]
    [InlineData("'z' not in inputs.tags", true)]
    [InlineData("1 in [1, 2]", true)]
    [InlineData("[1] in [[1], [2]]", true)]
    [InlineData("'at' in 'Cats'", true)]
    [InlineData("'AT' in 'Cats'", false)]
    [InlineData("'k' in inputs.nested", true)]
    [InlineData("'q' in inputs.nested", false)]
    [InlineData("'a' in inputs.missing", false)]
    [InlineData("'x' not in inputs.missing", true)]
    [InlineData("inputs.topic in ['Cats', 'Dogs']", true)]
    public void In_TestsListMembershipSubstringsAndMemberNames(string expression, bool expected) =>
        Assert.Equal(expected ? "true" : "false", Eval(expression));

    [Theory]
    [InlineData("1 in 'abc'")]
    [InlineData("'a' in 5")]
    [InlineData("1 in inputs.nested")]
    [InlineData("'a' in true")]
    public void In_WithAContainerOfTheWrongKind_IsAnEvaluationError(string expression) =>
        Assert.Contains("look for", EvalFails(expression).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData("contains('Cats', 'at')", "true")]
    [InlineData("contains(inputs.tags, 'b')", "true")]
    [InlineData("contains(inputs.missing, 'b')", "false")]
    [InlineData("startsWith(inputs.topic, 'Ca')", "true")]
    [InlineData("startsWith(inputs.topic, 'ca')", "false")]
    [InlineData("endsWith(inputs.topic, 'ts')", "true")]
    [InlineData("endsWith(inputs.missing, 'ts')", "false")]
    [InlineData("lower(inputs.topic)", "\"cats\"")]
    [InlineData("upper(inputs.topic)", "\"CATS\"")]
    [InlineData("lower(inputs.missing)", "null")]
    [InlineData("trim(inputs.spaced)", "\"pad\"")]
    [InlineData("length(inputs.topic)", "4")]
    [InlineData("length(inputs.tags)", "2")]
    [InlineData("length(inputs.nested)", "2")]
    [InlineData("length(inputs.missing)", "0")]
    [InlineData("join(inputs.tags)", "\"a,b\"")]
    [InlineData("join(inputs.tags, ' + ')", "\"a + b\"")]
    [InlineData("join([1, true, null, 'x'], '-')", "\"1-true--x\"")]
    [InlineData("join(inputs.missing)", "\"\"")]
    [InlineData("format('{0} has {1} tags', inputs.topic, length(inputs.tags))", "\"Cats has 2 tags\"")]
    [InlineData("format('{{literal}} {0}{0}', 'x')", "\"{literal} xx\"")]
    [InlineData("toJson(inputs.tags)", "\"[\\\"a\\\",\\\"b\\\"]\"")]
    [InlineData("toJson('a')", "\"\\\"a\\\"\"")]
    [InlineData("toJson(inputs.missing)", "\"null\"")]
    [InlineData("fromJson(inputs.json).a[1]", "2")]
    [InlineData("fromJson('[1, 2]') == [1, 2]", "true")]
    [InlineData("fromJson(inputs.missing)", "null")]
    [InlineData("coalesce(inputs.missing, inputs.nothing, 'third')", "\"third\"")]
    [InlineData("coalesce(inputs.missing)", "null")]
    [InlineData("coalesce(inputs.empty, 'x')", "\"\"")]
    public void Functions_ComputeTheirResults(string expression, string expected) => Assert.Equal(expected, Eval(expression));

    [Theory]
    [InlineData("lower(1)", 6)]
    [InlineData("startsWith(inputs.topic, 1)", 25)]
    [InlineData("length(true)", 7)]
    [InlineData("join(inputs.nested)", 5)]
    [InlineData("format('{1}', 'x')", 7)]
    [InlineData("format('{x}', 'x')", 7)]
    [InlineData("format('}', 'x')", 7)]
    [InlineData("fromJson('{nope')", 9)]
    [InlineData("fromJson(inputs.count)", 9)]
    public void Functions_WithBadArguments_FailAtTheArgument(string expression, int offset) =>
        Assert.Equal(offset, EvalFails(expression).Offset);

    [Theory]
    [InlineData("fromJson('\\'\\\\ud800\\'')")]
    [InlineData("fromJson('[\\'\\\\udc00x\\']')[0]")]
    [InlineData("toJson(fromJson('{\\'a\\': \\'\\\\ud800\\'}'))")]
    public void FromJson_WithAnUnpairedSurrogate_FailsAsAnExpressionError(string expression)
    {
        var parsed = ParsedExpression.ParseCondition(expression.Replace("\\'", "\"", StringComparison.Ordinal));
        Assert.True(parsed.Check.IsValid, string.Join("; ", parsed.Check.Errors.Select(e => e.Message)));
        Assert.Throws<ExpressionException>(() => parsed.Evaluate(Context));
    }

    [Fact]
    public void FromJson_RefusesDocumentsNestedDeeperThanTheBound()
    {
        var deep = new string('[', ExpressionLimits.MaxDepth + 1) + new string(']', ExpressionLimits.MaxDepth + 1);
        Assert.Contains("not valid JSON", EvalFails($"fromJson('{deep}')").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Functions_RefuseResultsLongerThanTheOutputBound()
    {
        var context = WithBigInput(ExpressionLimits.MaxOutputLength / 2 + 1);
        var parsed = ParsedExpression.ParseCondition("format('{0}{0}', inputs.big)");
        var error = Assert.Throws<ExpressionException>(() => parsed.Evaluate(context));
        Assert.Contains("longer than", error.Message, StringComparison.Ordinal);
        Assert.Throws<ExpressionException>(() => ParsedExpression.ParseCondition("join([inputs.big, inputs.big])").Evaluate(context));
    }

    [Theory]
    [InlineData("inputs.flag", true)]
    [InlineData("inputs.off", false)]
    [InlineData("inputs.missing", false)]
    [InlineData("inputs.empty", false)]
    [InlineData("inputs.zero", false)]
    [InlineData("inputs.topic", true)]
    [InlineData("inputs.tags", true)]
    [InlineData("[]", true)]
    [InlineData("inputs.nested", true)]
    [InlineData("${{ steps.draft.status == 'succeeded' }}", true)]
    [InlineData("  ${{ steps.build-docs.status == 'succeeded' }}  ", false)]
    public void EvaluateCondition_UsesTruthiness(string condition, bool expected) =>
        Assert.Equal(expected, WorkflowExpressions.EvaluateCondition(condition, Context));

    [Fact]
    public void EvaluateCondition_OfAnInvalidCondition_ThrowsItsFirstCheckErrorWithoutRunningIt()
    {
        var error = Assert.Throws<ExpressionException>(() => WorkflowExpressions.EvaluateCondition("inputs.x == ", Context));
        Assert.Equal(11, error.Offset);
    }

    [Fact]
    public void ParsedExpression_IsReusableAcrossContexts()
    {
        var parsed = ParsedExpression.ParseCondition("inputs.n > 2");
        var small = ExpressionContext.ForWorkflow(System.Text.Json.Nodes.JsonNode.Parse("""{"n": 1}"""), []);
        var large = ExpressionContext.ForWorkflow(System.Text.Json.Nodes.JsonNode.Parse("""{"n": 5}"""), []);
        Assert.False(parsed.EvaluateCondition(small));
        Assert.True(parsed.EvaluateCondition(large));
        Assert.False(parsed.EvaluateCondition(ExpressionContext.Empty));
    }

    [Fact]
    public void ForWorkflow_ExposesStepStatusAndOutput()
    {
        var context = ExpressionContext.ForWorkflow(null, [new ExpressionStepState("draft", "succeeded", System.Text.Json.Nodes.JsonNode.Parse("""{"t": "x"}"""))]);
        Assert.True(WorkflowExpressions.EvaluateCondition("steps.draft.status == 'succeeded' && steps.draft.output.t == 'x'", context));
    }

    [Fact]
    public void Context_HoldsDeepValues_UpToItsBound()
    {
        static JsonNode Nest(int depth) => depth == 0 ? JsonValue.Create("leaf") : new JsonObject { ["a"] = Nest(depth - 1) };

        var context = ExpressionContext.ForWorkflow(null, [new ExpressionStepState("s", "succeeded", Nest(100))]);
        var rendered = WorkflowExpressions.RenderTemplate("${{ steps.s.output }}", context);
        Assert.Equal(Nest(100).ToJsonString(), rendered!.ToJsonString());
        Assert.Contains("leaf", WorkflowExpressions.RenderTemplate("x ${{ steps.s.output }}", context)!.GetValue<string>(), StringComparison.Ordinal);

        Assert.Throws<ArgumentException>(() => ExpressionContext.ForWorkflow(null, [new ExpressionStepState("s", "succeeded", Nest(ExpressionLimits.MaxContextDepth + 1))]));
    }

    [Fact]
    public void Context_WithAnUnpairedSurrogate_IsRefusedWhenMade()
    {
        using var document = System.Text.Json.JsonDocument.Parse("""{"inputs": {"bad": "\ud800"}}""");
        Assert.Throws<ArgumentException>(() => ExpressionContext.FromJson(document.RootElement));
    }

    [Fact]
    public void CustomRoots_CanBeDeclaredForOtherUsers()
    {
        var syntax = new ExpressionSyntax(["task", "run"]);
        var parsed = ParsedExpression.ParseCondition("task.priority > 2 && run.id != null", syntax);
        Assert.True(parsed.Check.IsValid);
        Assert.Equal([("task", "priority"), ("run", "id")], parsed.Check.References.Select(r => (r.Root, r.Name)));
        var context = ExpressionContext.Empty.With("task", System.Text.Json.JsonDocument.Parse("""{"priority": 3}""").RootElement)
            .With("run", System.Text.Json.JsonDocument.Parse("""{"id": "r1"}""").RootElement);
        Assert.True(parsed.EvaluateCondition(context));
        Assert.False(ParsedExpression.ParseCondition("inputs.x", syntax).Check.IsValid);
    }
}
