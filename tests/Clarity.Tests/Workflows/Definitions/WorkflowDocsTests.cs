using Clarity.Features.Workflows.Definitions;
using Xunit;

namespace Clarity.Tests.Workflows.Definitions;

public sealed class WorkflowDocsTests
{
    private static string Render(string yaml)
    {
        var parsed = WorkflowDefinitionParser.Parse(yaml);
        Assert.True(parsed.IsValid, string.Join('\n', parsed.Problems));
        return WorkflowDocs.Render(parsed.Definition!);
    }

    [Fact]
    public void Render_DescribesEveryKindOfStep()
    {
        var md = Render(WorkflowDefinitionParserTests.Full);

        Assert.Contains("5 steps (1 task, 1 approval, 2 waits, 1 workflow) in 4 layers, 3 inputs.", md, StringComparison.Ordinal);
        Assert.Contains("| `draft` | task |  | Task on queue `writing`: Draft ${{ inputs.topic }}; up to 3 tries; times out after 10 min |", md, StringComparison.Ordinal);
        Assert.Contains("| `pause` | wait | `approve` | Waits for the signal `go-live` for up to 1 min, then continues |", md, StringComparison.Ordinal);
        Assert.Contains("| `cool` | wait | `draft` | Waits 30 s |", md, StringComparison.Ordinal);
        Assert.Contains("Runs the workflow `announce` version 3 with `text`; only when `inputs.words > 100`", md, StringComparison.Ordinal);
        Assert.Contains("- `approve`: 2 votes from `tasks:respond`, 2 rejections reject, self-approval allowed, expires after 1 h and then approves.", md, StringComparison.Ordinal);
        Assert.Contains("| `words` | integer | no | `800` |", md, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_DrawsTheDagInMermaid_WithAShapePerKindAndDashedConditionalEdges()
    {
        var md = Render(WorkflowDefinitionParserTests.Full);

        Assert.Contains("  s0[\"draft (task)\"]\n", md, StringComparison.Ordinal);
        Assert.Contains("  s1{\"approve (approval)\"}\n", md, StringComparison.Ordinal);
        Assert.Contains("  s2([\"pause (wait)\"])\n", md, StringComparison.Ordinal);
        Assert.Contains("  s4[[\"child (workflow)\"]]\n", md, StringComparison.Ordinal);
        Assert.Contains("  s2 -.->|when| s4\n", md, StringComparison.Ordinal);
        Assert.Contains("  s0 --> s3\n", md, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_EscapesTableCells_AndListsRoles()
    {
        var md = Render("""
            name: w
            steps:
              - id: a
                kind: task
                role: writer
                title: "a | b"
            """);

        Assert.Contains("a \\| b", md, StringComparison.Ordinal);
        Assert.Contains("- `writer`: agents for task `a`", md, StringComparison.Ordinal);
        Assert.Contains("## Approvals\n\nNone", md, StringComparison.Ordinal);
    }
}
