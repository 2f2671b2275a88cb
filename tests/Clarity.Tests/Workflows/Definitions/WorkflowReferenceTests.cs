using Clarity.Features.Workflows.Definitions;
using Clarity.Features.Workflows.Expressions;
using Xunit;
using static Clarity.Features.Workflows.Definitions.WorkflowDefinitionParser;

namespace Clarity.Tests.Workflows.Definitions;

/// <summary>
/// The names expressions read, checked against the definition: given the references directly (the language that
/// finds them in expressions is built beside this and tested end to end once it lands).
/// </summary>
public sealed class WorkflowReferenceTests
{
    // draft ← review ← publish;  side stands alone.
    private static readonly string[] Ids = ["draft", "review", "publish", "side"];
    private static readonly IReadOnlyList<string>[] Needs = [[], ["draft"], ["review"], []];
    private static readonly HashSet<string> Inputs = ["topic"];

    private static List<DefinitionProblem> Check(int step, string root, string name, string[]? ids = null, IReadOnlyList<string>[]? needs = null) =>
        CheckReferences(Inputs, ids ?? Ids, needs ?? Needs, [new ReferenceSite(step, new ExpressionReference(4, root, name), new SourcePosition(7, 9), "steps[2].title")]);

    [Fact]
    public void DeclaredInput_IsFine() => Assert.Empty(Check(0, "inputs", "topic"));

    [Fact]
    public void UndeclaredInput_IsUnknownInput_AtTheReference()
    {
        var p = Assert.Single(Check(0, "inputs", "topics"));

        Assert.Equal((DefinitionProblemCodes.UnknownInput, 7, 9, "steps[2].title"), (p.Code, p.Line, p.Column, p.Path));
        Assert.Contains("did you mean 'topic'?", p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DirectNeed_IsUpstream() => Assert.Empty(Check(1, "steps", "draft"));

    [Fact]
    public void TransitiveNeed_IsUpstream() => Assert.Empty(Check(2, "steps", "draft"));

    [Fact]
    public void UnknownStep_IsUnknownStep()
    {
        var p = Assert.Single(Check(2, "steps", "drafts"));

        Assert.Equal(DefinitionProblemCodes.UnknownStep, p.Code);
        Assert.Contains("did you mean 'draft'?", p.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(3, "draft")] // unrelated
    [InlineData(0, "review")] // downstream
    [InlineData(1, "review")] // itself
    public void StepNotUpstream_IsNotUpstream_AndSaysToAddItToNeeds(int step, string target)
    {
        var p = Assert.Single(Check(step, "steps", target));

        Assert.Equal(DefinitionProblemCodes.NotUpstream, p.Code);
        Assert.Equal($"steps.{target} is not upstream of {Ids[step]}; add it to needs", p.Message);
    }

    [Fact]
    public void OtherRoots_AreLeftToTheLanguage() => Assert.Empty(Check(0, "run", "anything"));

    [Fact]
    public void WithACycle_OnlySelfReferenceIsFlagged()
    {
        string[] ids = ["a", "b"];
        IReadOnlyList<string>[] needs = [["b"], ["a"]];

        Assert.Empty(Check(0, "steps", "b", ids, needs));
        Assert.Single(Check(0, "steps", "a", ids, needs));
    }

    [Fact]
    public void ManyStepsAndReferences_AreCheckedThroughBitsets()
    {
        const int n = 2000;
        var ids = Enumerable.Range(0, n).Select(i => $"s{i}").ToArray();
        var needs = Enumerable.Range(0, n).Select(i => (IReadOnlyList<string>)(i == 0 ? [] : [$"s{i - 1}"])).ToArray();
        var sites = Enumerable.Range(1, n - 1).Select(i => new ReferenceSite(i, new ExpressionReference(0, "steps", "s0"), SourcePosition.Start, ""));

        Assert.Empty(CheckReferences(Inputs, ids, needs, sites));
        Assert.Single(CheckReferences(Inputs, ids, needs, [new ReferenceSite(0, new ExpressionReference(0, "steps", $"s{n - 1}"), SourcePosition.Start, "")]));
    }
}
