using Clarity.Features.Workflows.Definitions;
using Xunit;

namespace Clarity.Tests.Workflows.Definitions;

public sealed class WorkflowGraphTests
{
    private static WorkflowDefinition Definition(params (string Id, string[] Needs)[] steps) =>
        new("w", null, [], [.. steps.Select(s => (WorkflowStep)new WaitStep(s.Id, s.Needs, null, null, SourcePosition.Start, 1, null, null, WaitTimeout.Fail))]);

    [Fact]
    public void Layers_GroupStepsThatCanRunTogether_InFileOrder()
    {
        var d = Definition(("merge", ["b", "a"]), ("a", ["plan"]), ("plan", []), ("b", ["plan"]), ("solo", []));

        var layers = WorkflowGraph.Layers(d);

        Assert.Equal([["plan", "solo"], ["a", "b"], ["merge"]], layers.Select(l => l.Select(s => s.Id).ToArray()));
        Assert.Equal(["plan", "solo", "a", "b", "merge"], WorkflowGraph.TopologicalOrder(d).Select(s => s.Id));
    }

    [Fact]
    public void Layers_WithACycle_Throws()
    {
        Assert.Throws<InvalidOperationException>(() => WorkflowGraph.Layers(Definition(("a", ["b"]), ("b", ["a"]))));
    }

    [Fact]
    public void Upstream_IsEveryStepReachedThroughNeeds()
    {
        var d = Definition(("a", []), ("b", ["a"]), ("c", ["b"]), ("d", []));

        Assert.Equal(["a", "b"], WorkflowGraph.Upstream(d, "c").Order());
        Assert.Empty(WorkflowGraph.Upstream(d, "d"));
    }

    [Fact]
    public void FindCycles_ReportsEachCycleOnce_WithoutStepsOutsideIt()
    {
        string[] ids = ["x", "a", "b", "c", "d"];
        IReadOnlyList<string>[] needs = [[], ["c", "x"], ["a"], ["b"], ["c"]];

        var cycles = WorkflowGraph.FindCycles(ids, needs);

        var cycle = Assert.Single(cycles);
        Assert.Equal(["a", "b", "c"], cycle.Select(i => ids[i]));
    }

    [Fact]
    public void FindCycles_AcyclicGraph_HasNone()
    {
        Assert.Empty(WorkflowGraph.FindCycles(["a", "b"], [[], ["a"]]));
    }
}
