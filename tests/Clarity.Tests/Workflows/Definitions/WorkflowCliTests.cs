using Clarity.Cli;
using Clarity.Features.Workflows.Definitions;
using Xunit;

namespace Clarity.Tests.Workflows.Definitions;

/// <summary>The tests here swap the process's console, so they run alone, after the parallel tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class WorkflowCliConsoleCollection
{
    public const string Name = "Workflow CLI console";
}

/// <summary><c>clarity workflow validate | docs | init</c>, run in-process through <see cref="ClarityCli.RunAsync"/>.</summary>
[Collection(WorkflowCliConsoleCollection.Name)]
public sealed class WorkflowCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("clarity-wf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static async Task<(int Exit, string Out, string Err)> RunAsync(params string[] args)
    {
        var (stdout, stderr) = (Console.Out, Console.Error);
        using var outWriter = new StringWriter();
        using var errWriter = new StringWriter();
        Console.SetOut(outWriter);
        Console.SetError(errWriter);
        try
        {
            var exit = await ClarityCli.RunAsync(args);
            return (exit, outWriter.ToString().Replace("\r\n", "\n", StringComparison.Ordinal), errWriter.ToString());
        }
        finally
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }
    }

    private string Write(string name, string yaml)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    [Fact]
    public async Task Validate_ValidFile_PrintsOkWithTheStepCount()
    {
        var file = Write("ok.yaml", WorkflowDefinitionParserTests.Full);

        var (exit, stdout, _) = await RunAsync("workflow", "validate", file);

        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Equal("ok: publish-post (5 steps)\n", stdout);
    }

    [Fact]
    public async Task Validate_InvalidFile_PrintsEachProblemLikeACompiler_AndFails()
    {
        var file = Write("bad.yaml", "name: w\nsteps:\n  - id: a\n    kind: wait\n    seconds: -1\n  - id: b\n    kind: task\n    queue: q\n    needs: [zz]\n");

        var (exit, stdout, _) = await RunAsync("workflow", "validate", file);

        Assert.Equal(ExitCodes.Failure, exit);
        var lines = stdout.TrimEnd('\n').Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.StartsWith($"{file}:5:14: invalid-value: ", lines[0], StringComparison.Ordinal);
        Assert.StartsWith($"{file}:9:13: unknown-need: ", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_WithRoles_ChecksThem()
    {
        var file = Write("roles.yaml", "name: w\nsteps:\n  - id: a\n    kind: approval\n    from: editor\n");

        Assert.Equal(ExitCodes.Ok, (await RunAsync("workflow", "validate", file)).Exit);
        var (exit, stdout, _) = await RunAsync("workflow", "validate", file, "--roles", "owner,admin");
        Assert.Equal(ExitCodes.Failure, exit);
        Assert.Contains(":5:11: unknown-role: ", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_MissingFile_IsOneLineAndBadUsage()
    {
        var (exit, stdout, stderr) = await RunAsync("workflow", "validate", Path.Combine(_dir, "nope.yaml"));

        Assert.Equal(ExitCodes.BadUsage, exit);
        Assert.Empty(stdout);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains("no such file", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_WithoutAFile_IsBadUsage()
    {
        var (exit, _, stderr) = await RunAsync("workflow", "validate");

        Assert.Equal(ExitCodes.BadUsage, exit);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public async Task Docs_ValidFile_PrintsMarkdownWithTablesAndAMermaidGraph()
    {
        var file = Write("docs.yaml", WorkflowDefinitionParserTests.Full);

        var (exit, stdout, _) = await RunAsync("workflow", "docs", file);

        Assert.Equal(ExitCodes.Ok, exit);
        Assert.StartsWith("# publish-post\n", stdout, StringComparison.Ordinal);
        Assert.Contains("| `topic` | string | yes |", stdout, StringComparison.Ordinal);
        Assert.Contains("```mermaid\ngraph TD\n", stdout, StringComparison.Ordinal);
        Assert.Contains("  s0 --> s1\n", stdout, StringComparison.Ordinal);
        Assert.Contains("## Approvals", stdout, StringComparison.Ordinal);
        Assert.Contains("- `tasks:respond`: approvers of `approve`", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Docs_InvalidFile_PrintsTheProblems_AndFails()
    {
        var file = Write("bad.yaml", "name: w\n");

        var (exit, stdout, _) = await RunAsync("workflow", "docs", file);

        Assert.Equal(ExitCodes.Failure, exit);
        Assert.StartsWith($"{file}:1:1: missing-field: ", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Init_WritesTheTemplate_WhichValidates()
    {
        var target = Path.Combine(_dir, "mine.yaml");

        var (exit, _, _) = await RunAsync("workflow", "init", "--template", "research-fan-out", "--out", target);

        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Equal(WorkflowTemplates.Read("research-fan-out"), await File.ReadAllTextAsync(target));
        var (validateExit, stdout, _) = await RunAsync("workflow", "validate", target);
        Assert.Equal(ExitCodes.Ok, validateExit);
        Assert.StartsWith("ok: research-fan-out (", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Init_NeverOverwritesAFile()
    {
        var target = Write("taken.yaml", "mine");

        var (exit, _, stderr) = await RunAsync("workflow", "init", "--template", "nightly-triage", "--out", target);

        Assert.Equal(ExitCodes.BadUsage, exit);
        Assert.Contains("already exists", stderr, StringComparison.Ordinal);
        Assert.Equal("mine", await File.ReadAllTextAsync(target));
    }

    [Fact]
    public async Task Init_UnknownTemplate_ListsTheTemplates()
    {
        var (exit, _, stderr) = await RunAsync("workflow", "init", "--template", "nope", "--out", Path.Combine(_dir, "x.yaml"));

        Assert.Equal(ExitCodes.BadUsage, exit);
        Assert.Contains("draft-approve-publish, nightly-triage, research-fan-out, write-review-approve-publish", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Templates_AreEmbeddedInTheBinary()
    {
        Assert.Equal(["draft-approve-publish", "nightly-triage", "research-fan-out", "write-review-approve-publish"], WorkflowTemplates.Names);
        foreach (var name in WorkflowTemplates.Names)
        {
            var parsed = WorkflowDefinitionParser.Parse(WorkflowTemplates.Read(name)!);
            Assert.True(parsed.IsValid, $"{name}: {string.Join('\n', parsed.Problems)}");
            Assert.Equal(name, parsed.Definition!.Name);
        }
    }
}
