using System.Text.Json;
using Clarity.Features.Workflows.Definitions;
using Clarity.Tests.Hosting;
using Json.Schema;
using Xunit;

namespace Clarity.Tests.Workflows.Definitions;

/// <summary>docs/workflow.schema.json agrees with the validator: every shipped example passes both, bad samples fail both.</summary>
public sealed class WorkflowSchemaTests
{
    private static readonly Lazy<JsonSchema> Schema = new(() => JsonSchema.FromText(File.ReadAllText(ApiDocsTests.FindRepoFile("docs/workflow.schema.json"))));

    private static EvaluationResults Evaluate(string yaml)
    {
        var (json, problems) = WorkflowDefinitionParser.ToJson(yaml);
        Assert.Empty(problems);
        using var document = JsonDocument.Parse(json!.ToJsonString());
        return Schema.Value.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
    }

    private static string Explain(EvaluationResults results) =>
        string.Join('\n', (results.Details ?? []).Where(d => d.Errors is not null).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key}: {e.Value}")));

    /// <summary>Every YAML file under workflows/, relative to it.</summary>
    private static List<string> ExampleFiles()
    {
        var root = Path.GetDirectoryName(Path.GetDirectoryName(ApiDocsTests.FindRepoFile("workflows/templates/nightly-triage.yaml")))!;
        return [.. Directory.GetFiles(root, "*.yaml", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(root, f)).Order(StringComparer.Ordinal)];
    }

    public static TheoryData<string> Examples() => [.. ExampleFiles()];

    [Theory]
    [MemberData(nameof(Examples))]
    public void ShippedExample_PassesTheSchemaAndTheValidator(string relative)
    {
        var yaml = File.ReadAllText(ApiDocsTests.FindRepoFile(Path.Combine("workflows", relative)));

        var results = Evaluate(yaml);
        Assert.True(results.IsValid, Explain(results));
        var parsed = WorkflowDefinitionParser.Parse(yaml);
        Assert.True(parsed.IsValid, string.Join('\n', parsed.Problems));
    }

    [Fact]
    public void WholeExamplesInTheDocs_PassTheSchemaAndTheValidator()
    {
        var docs = File.ReadAllText(ApiDocsTests.FindRepoFile("docs/workflows.md")).Replace("\r\n", "\n", StringComparison.Ordinal);
        var examples = docs.Split("```yaml\n").Skip(1).Select(block => block[..block.IndexOf("```", StringComparison.Ordinal)])
            .Where(block => block.Contains("\nsteps:", StringComparison.Ordinal)).ToList();

        Assert.NotEmpty(examples);
        foreach (var yaml in examples)
        {
            var results = Evaluate(yaml);
            Assert.True(results.IsValid, Explain(results));
            var parsed = WorkflowDefinitionParser.Parse(yaml);
            Assert.True(parsed.IsValid, string.Join('\n', parsed.Problems));
        }
    }

    [Fact]
    public void FullDefinition_PassesTheSchema()
    {
        var results = Evaluate(WorkflowDefinitionParserTests.Full);

        Assert.True(results.IsValid, Explain(results));
    }

    [Fact]
    public void TheFourTemplates_AreShipped()
    {
        Assert.Equal(["draft-approve-publish.yaml", "nightly-triage.yaml", "research-fan-out.yaml", "write-review-approve-publish.yaml"],
            ExampleFiles().Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    public static TheoryData<string, string> Invalid() => new()
    {
        { "missing name", "steps:\n  - { id: a, kind: wait, seconds: 1 }\n" },
        { "unknown root field", "name: w\ncolour: blue\nsteps:\n  - { id: a, kind: wait, seconds: 1 }\n" },
        { "no steps", "name: w\nsteps: []\n" },
        { "bad step id", "name: w\nsteps:\n  - { id: Bad, kind: wait, seconds: 1 }\n" },
        { "unknown kind", "name: w\nsteps:\n  - { id: a, kind: sleep, seconds: 1 }\n" },
        { "field of another kind", "name: w\nsteps:\n  - { id: a, kind: task, queue: q, votes: 2 }\n" },
        { "queue and role", "name: w\nsteps:\n  - { id: a, kind: task, queue: q, role: r }\n" },
        { "neither queue nor role", "name: w\nsteps:\n  - { id: a, kind: task, title: t }\n" },
        { "zero votes", "name: w\nsteps:\n  - { id: a, kind: approval, from: admin, votes: 0 }\n" },
        { "approval without from", "name: w\nsteps:\n  - { id: a, kind: approval }\n" },
        { "bad onExpiry", "name: w\nsteps:\n  - { id: a, kind: approval, from: admin, onExpiry: maybe }\n" },
        { "negative seconds", "name: w\nsteps:\n  - { id: a, kind: wait, seconds: -1 }\n" },
        { "seconds and signal", "name: w\nsteps:\n  - { id: a, kind: wait, seconds: 1, signal: go }\n" },
        { "timeout on a timed wait", "name: w\nsteps:\n  - { id: a, kind: wait, seconds: 1, timeoutSeconds: 5 }\n" },
        { "version and label", "name: w\nsteps:\n  - { id: a, kind: workflow, workflow: c, version: 1, label: x }\n" },
        { "retry without attempts", "name: w\nsteps:\n  - { id: a, kind: task, queue: q, retry: { backoffSeconds: 5 } }\n" },
        { "two backoffs", "name: w\nsteps:\n  - { id: a, kind: task, queue: q, retry: { attempts: 2, backoffSeconds: 5, initialSeconds: 5 } }\n" },
        { "needs not a list", "name: w\nsteps:\n  - { id: a, kind: wait, seconds: 1, needs: b }\n" },
        { "label not a string", "name: w\nsteps:\n  - { id: a, kind: task, queue: q, labels: { team: 7 } }\n" },
        { "bad input type", "name: w\ninputs:\n  x: { type: text }\nsteps:\n  - { id: a, kind: wait, seconds: 1 }\n" },
        { "default of the wrong type", "name: w\ninputs:\n  x: { type: integer, default: many }\nsteps:\n  - { id: a, kind: wait, seconds: 1 }\n" },
        { "required with a default", "name: w\ninputs:\n  x: { type: string, required: true, default: hi }\nsteps:\n  - { id: a, kind: wait, seconds: 1 }\n" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void InvalidSample_IsRejectedByTheSchemaAndTheValidator(string what, string yaml)
    {
        Assert.False(Evaluate(yaml).IsValid, $"the schema accepted: {what}");
        Assert.False(WorkflowDefinitionParser.Parse(yaml).IsValid, $"the validator accepted: {what}");
    }

    [Fact]
    public void EveryPropertyInTheSchema_HasADescription()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(ApiDocsTests.FindRepoFile("docs/workflow.schema.json")));
        var missing = new List<string>();
        Walk(document.RootElement, "#", missing);

        Assert.True(missing.Count == 0, "no description: " + string.Join(", ", missing));
    }

    [Fact]
    public void SchemaFields_MatchTheValidatorsFields()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(ApiDocsTests.FindRepoFile("docs/workflow.schema.json")));
        var defs = document.RootElement.GetProperty("$defs");
        var step = defs.GetProperty("step");
        var stepFields = step.GetProperty("properties").EnumerateObject().Select(p => p.Name).ToList();
        foreach (var rule in step.GetProperty("allOf").EnumerateArray())
        {
            var kind = rule.GetProperty("if").GetProperty("properties").GetProperty("kind").GetProperty("const").GetString()!;
            var fields = rule.GetProperty("then").GetProperty("properties").EnumerateObject().Select(p => p.Name);
            Assert.Equal(WorkflowDefinitionParser.KindFields[kind].Order(), fields.Order());
        }

        Assert.Equal(WorkflowDefinitionParser.CommonStepFields.Order(), stepFields.Order());
        Assert.Equal(WorkflowDefinitionParser.RootFields.Order(), document.RootElement.GetProperty("properties").EnumerateObject().Select(p => p.Name).Order());
        Assert.Equal(WorkflowDefinitionParser.InputFields.Order(), defs.GetProperty("input").GetProperty("properties").EnumerateObject().Select(p => p.Name).Order());
        Assert.Equal(WorkflowDefinitionParser.RetryFields.Order(), defs.GetProperty("retry").GetProperty("properties").EnumerateObject().Select(p => p.Name).Order());
    }

    private static void Walk(JsonElement element, string path, List<string> missing)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        foreach (var property in element.EnumerateObject())
        {
            if (property.Name == "properties")
            {
                foreach (var field in property.Value.EnumerateObject())
                {
                    // In if/then rules a property schema only narrows one declared (and described) elsewhere.
                    var narrowing = path.Contains("/if", StringComparison.Ordinal) || path.Contains("/then/properties/default", StringComparison.Ordinal)
                        || (path.Contains("/allOf", StringComparison.Ordinal) && path.Contains("/input", StringComparison.Ordinal));
                    if (!narrowing && !field.Value.TryGetProperty("description", out _))
                    {
                        missing.Add($"{path}/properties/{field.Name}");
                    }
                }
            }

            Walk(property.Value, $"{path}/{property.Name}", missing);
        }

        if (element.TryGetProperty("allOf", out var all) && all.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var item in all.EnumerateArray())
            {
                Walk(item, $"{path}/allOf/{i++}", missing);
            }
        }
    }
}
