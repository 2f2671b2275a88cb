using Clarity.Features.Workflows.Definitions;
using CsCheck;
using Xunit;

namespace Clarity.Tests.Workflows.Definitions;

/// <summary>Whatever the text, parsing returns a result (a definition or problems with real positions) and never throws.</summary>
public sealed class WorkflowFuzzTests
{
    private static readonly string[] Tokens =
    [
        "name: w\n", "steps:\n", "  - ", "id: a", "kind: task", "kind: wait", "queue: q", "needs: [a, b]", "seconds: 1", "\n", "    ",
        "&x ", "*x", "!!str ", "!tag ", "[", "]", "{", "}", ",", ": ", "- ", "? ", "|", ">-", "\"", "'", "\\u00", "#", "---\n", "...\n",
        "${{ inputs.x }}", "${{", "}}", "%YAML 1.2\n", "\t", "\r\n", "\uFEFF", "\u0000", "é", "😀", "<<: ", "0x", "1e999", "-1", "~",
    ];

    private static void Check(string yaml)
    {
        var result = WorkflowDefinitionParser.Parse(yaml);
        Assert.True(result.IsValid ? result.Definition is not null : result.Problems.Count > 0);
        var lines = yaml.Count(c => c is '\n' or '\r') + 2;
        foreach (var p in result.Problems)
        {
            Assert.InRange(p.Line, 1, lines);
            Assert.True(p.Column >= 1, p.ToString());
            Assert.False(string.IsNullOrWhiteSpace(p.Code));
        }

        if (result.Definition is { } definition)
        {
            Assert.NotNull(WorkflowDocs.Render(definition));
        }
    }

    [Fact]
    public void Parse_RandomText_NeverThrows()
    {
        Gen.String.Sample(Check, iter: 2000);
    }

    [Fact]
    public void Parse_RandomYamlishTokens_NeverThrow()
    {
        Gen.OneOf(Tokens).Array[0, 60].Select(parts => string.Concat(parts)).Sample(Check, iter: 3000);
    }

    [Fact]
    public void Parse_MutationsOfAValidFile_NeverThrow()
    {
        var valid = WorkflowDefinitionParserTests.Full;
        var mutation = Gen.Select(Gen.Int[0, valid.Length - 1], Gen.Int[0, 8], Gen.OneOf(Gen.OneOf(Tokens), Gen.Char.Select(c => c.ToString())), Gen.Int[0, 3]);
        mutation.Array[1, 6].Sample(mutations =>
        {
            var text = valid;
            foreach (var (at, length, insert, op) in mutations)
            {
                var start = Math.Min(at, text.Length);
                var cut = Math.Min(length, text.Length - start);
                text = op switch
                {
                    0 => text.Remove(start, cut),
                    1 => text.Insert(start, insert),
                    2 => text.Remove(start, cut).Insert(start, insert),
                    _ => text.Insert(start, text.Substring(start, cut)), // duplicate a slice
                };
            }

            Check(text);
        }, iter: 3000);
    }
}
