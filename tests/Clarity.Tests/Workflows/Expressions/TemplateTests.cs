using System.Text.Json.Nodes;
using Clarity.Features.Workflows.Expressions;
using Xunit;
using static Clarity.Tests.Workflows.Expressions.ExpressionTestContext;

namespace Clarity.Tests.Workflows.Expressions;

public sealed class TemplateTests
{
    private static string Render(string template) =>
        WorkflowExpressions.RenderTemplate(template, Context)?.ToJsonString(Relaxed) ?? "null";

    [Theory]
    [InlineData("plain text", "\"plain text\"")]
    [InlineData("", "\"\"")]
    [InlineData("Review ${{ steps.draft.output.title }} by ${{ inputs.topic }}", "\"Review Hello by Cats\"")]
    [InlineData("${{inputs.topic}}${{inputs.count}}", "\"Cats3\"")]
    [InlineData("n=${{ inputs.count }}, ok=${{ inputs.flag }}, none=[${{ inputs.missing }}]", "\"n=3, ok=true, none=[]\"")]
    [InlineData("tags: ${{ inputs.tags }}", "\"tags: [\\\"a\\\",\\\"b\\\"]\"")]
    [InlineData("score ${{ steps.draft.output.score }}", "\"score 0.75\"")]
    [InlineData("big ${{ inputs.big }}", "\"big 12345678901234567890\"")]
    [InlineData("a }} b", "\"a }} b\"")]
    [InlineData("${{ '}}' }}", "\"}}\"")]
    [InlineData("${{ \"${{\" }} x", "\"${{ x\"")]
    public void RenderTemplate_WithText_GivesAString(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("${{ inputs.count }}", "3")]
    [InlineData("${{ inputs.flag }}", "true")]
    [InlineData("${{ inputs.missing }}", "null")]
    [InlineData("${{ inputs.tags }}", "[\"a\",\"b\"]")]
    [InlineData("${{ steps.draft.output }}", "{\"title\":\"Hello\",\"score\":0.75,\"items\":[1,2,3]}")]
    [InlineData("${{ [inputs.count, inputs.topic] }}", "[3,\"Cats\"]")]
    [InlineData("${{ inputs.topic }}", "\"Cats\"")]
    [InlineData("${{ inputs.big }}", "12345678901234567890")]
    public void RenderTemplate_ThatIsOneExpression_GivesItsTypedValue(string template, string expected) =>
        Assert.Equal(expected, Render(template));

    [Fact]
    public void RenderTemplate_WithSpacesAroundOneExpression_GivesAString() =>
        Assert.Equal("\" 3\"", Render(" ${{ inputs.count }}"));

    [Theory]
    [InlineData("$${{ not an expression }}", "\"${{ not an expression }}\"")]
    [InlineData("cost: $5 and $${{x}} and ${{ inputs.count }}", "\"cost: $5 and ${{x}} and 3\"")]
    [InlineData("$$${{ inputs.count }}", "\"$${{ inputs.count }}\"")]
    [InlineData("$$ stays", "\"$$ stays\"")]
    public void RenderTemplate_DoubledDollar_EscapesALiteralOpening(string template, string expected) =>
        Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("Hi ${{ inputs.topic", 3, 3)]
    [InlineData("Hi ${{ }} there", 3, 6)]
    [InlineData("Hi ${{   }}", 3, 8)]
    [InlineData("Hi ${{ 'unclosed }}", 3, 3)]
    [InlineData("Hi ${{ inputs.a == }}", 19, 0)]
    [InlineData("Hi ${{ nope }}", 7, 4)]
    public void CheckTemplate_ReportsProblemsAtTheirOffsetInTheWholeString(string template, int offset, int length)
    {
        var error = Assert.Single(WorkflowExpressions.CheckTemplate(template).Errors);
        Assert.Equal((offset, length), (error.Offset, error.Length));
    }

    [Fact]
    public void CheckTemplate_ReportsAProblemInEveryPart()
    {
        var check = WorkflowExpressions.CheckTemplate("${{ a }} and ${{ inputs.b = 1 }} and ${{ }} and ${{ inputs.c }}");
        Assert.Equal([4, 26, 37], check.Errors.Select(e => e.Offset));
        Assert.Equal([("inputs", "b", 17), ("inputs", "c", 52)], check.References.Select(r => (r.Root, r.Name, r.Offset)));
    }

    [Fact]
    public void CheckTemplate_OfPlainText_IsValidAndReadsNothing()
    {
        var check = WorkflowExpressions.CheckTemplate("just text, with } and $ and {{ braces }}");
        Assert.True(check.IsValid);
        Assert.Empty(check.References);
    }

    [Fact]
    public void RenderTemplate_OfAnInvalidTemplate_ThrowsItsFirstErrorWithoutRenderingAnything()
    {
        var error = Assert.Throws<ExpressionException>(() => WorkflowExpressions.RenderTemplate("ok ${{ inputs.topic }} ${{ 1 < }}", Context));
        Assert.Equal(31, error.Offset);
    }

    [Fact]
    public void RenderTemplate_EvaluationError_PointsIntoTheWholeString()
    {
        var error = Assert.Throws<ExpressionException>(() => WorkflowExpressions.RenderTemplate("x ${{ lower(inputs.count) }}", Context));
        Assert.Equal(12, error.Offset);
    }

    [Fact]
    public void RenderTemplate_RefusesOutputLongerThanTheBound()
    {
        var context = WithBigInput(ExpressionLimits.MaxOutputLength / 2 + 1);
        var template = ParsedTemplate.Parse("${{ inputs.big }}${{ inputs.big }}");
        var error = Assert.Throws<ExpressionException>(() => template.Render(context));
        Assert.Contains("longer than", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RenderJson_RefusesATotalOutputLongerThanTheBound()
    {
        var context = WithBigInput(ExpressionLimits.MaxOutputLength / 4);
        var input = new JsonArray([.. Enumerable.Range(0, 5).Select(_ => (JsonNode?)JsonValue.Create("${{ inputs.big }}"))]);
        Assert.Throws<ExpressionException>(() => WorkflowExpressions.RenderJson(input, context));
        Assert.NotNull(WorkflowExpressions.RenderJson(new JsonArray("${{ inputs.big }}", "${{ inputs.big }}"), context));
    }

    [Fact]
    public void CheckTemplate_RefusesSourceLongerThanTheBound()
    {
        var error = Assert.Single(WorkflowExpressions.CheckTemplate(new string('x', ExpressionLimits.MaxOutputLength + 1)).Errors);
        Assert.Contains("longer than", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RenderJson_RendersEveryStringLeaf_AndCopiesEverythingElse()
    {
        var input = JsonNode.Parse("""
            {
              "title": "About ${{ inputs.topic }}",
              "count": "${{ inputs.count }}",
              "tags": ["${{ inputs.tags[0] }}", 7, null, { "deep": "${{ steps.draft.output.items }}" }],
              "${{ keys.are.not.rendered }}": true,
              "literal": "$${{ kept }}"
            }
            """);
        var rendered = WorkflowExpressions.RenderJson(input, Context);
        Assert.Equal(
            """{"title":"About Cats","count":3,"tags":["a",7,null,{"deep":[1,2,3]}],"${{ keys.are.not.rendered }}":true,"literal":"${{ kept }}"}""",
            rendered!.ToJsonString(Relaxed));
        Assert.Equal("About ${{ inputs.topic }}", input!["title"]!.GetValue<string>());
    }

    [Fact]
    public void CheckJson_ChecksEveryStringLeafWithItsPath()
    {
        var results = WorkflowExpressions.CheckJson(JsonNode.Parse("""{"a": "${{ inputs.x }}", "b": [1, "${{ nope }}"]}"""));
        Assert.Equal(["$.a", "$.b[1]"], results.Select(r => r.Path));
        Assert.True(results[0].Check.IsValid);
        Assert.False(results[1].Check.IsValid);
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("${{ inputs.topic }}")]
    [InlineData("$${{ x }}")]
    [InlineData("$")]
    [InlineData("a$")]
    [InlineData("${{")]
    public void EscapeTemplate_RendersBackToTheSameText(string text) =>
        Assert.Equal(text, WorkflowExpressions.RenderTemplate(WorkflowExpressions.EscapeTemplate(text), Context)!.GetValue<string>());
}
