using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Text.Json.Nodes;
using Clarity.Features.Workflows.Definitions;
using Clarity.Features.Workflows.Expressions;

namespace Clarity.Features.Workflows.Runs;

/// <summary>
/// A version's definition as the engine needs it: each step by id with its place in the file, the steps that need it,
/// and the upstream steps its expressions read (only those outputs are loaded to render it). Versions are immutable,
/// so a compiled one is cached by (workflow, version).
/// </summary>
public sealed class CompiledWorkflow
{
    private CompiledWorkflow(WorkflowDefinition definition)
    {
        Definition = definition;
        Steps = definition.Steps.ToFrozenDictionary(s => s.Id, StringComparer.Ordinal);
        Position = definition.Steps.Select((s, i) => (s.Id, i)).ToFrozenDictionary(p => p.Id, p => p.i, StringComparer.Ordinal);
        var dependents = definition.Steps.ToDictionary(s => s.Id, _ => new List<string>(), StringComparer.Ordinal);
        foreach (var step in definition.Steps)
        {
            foreach (var need in step.Needs)
            {
                dependents[need].Add(step.Id);
            }
        }

        Dependents = dependents.ToFrozenDictionary(d => d.Key, d => (IReadOnlyList<string>)d.Value, StringComparer.Ordinal);
        Reads = definition.Steps.ToFrozenDictionary(s => s.Id, s => (IReadOnlyList<string>)[.. StepsRead(s)], StringComparer.Ordinal);
        Order = WorkflowGraph.TopologicalOrder(definition);
        Leaves = [.. definition.Steps.Where(s => Dependents[s.Id].Count == 0).Select(s => s.Id)];
    }

    public WorkflowDefinition Definition { get; }

    public FrozenDictionary<string, WorkflowStep> Steps { get; }

    /// <summary>Each step's index in the file.</summary>
    public FrozenDictionary<string, int> Position { get; }

    /// <summary>The steps that need each step.</summary>
    public FrozenDictionary<string, IReadOnlyList<string>> Dependents { get; }

    /// <summary>The step ids each step's expressions read (<c>steps.x</c>).</summary>
    public FrozenDictionary<string, IReadOnlyList<string>> Reads { get; }

    /// <summary>Every step after all it needs.</summary>
    public IReadOnlyList<WorkflowStep> Order { get; }

    /// <summary>The steps nothing needs: their outputs are the run's output.</summary>
    public IReadOnlyList<string> Leaves { get; }

    private static readonly ConcurrentDictionary<(Guid, long), CompiledWorkflow> s_cache = new();

    /// <summary>The compiled form of a version if this process has it already.</summary>
    public static CompiledWorkflow? TryGet(Guid workflowId, long version) => s_cache.GetValueOrDefault((workflowId, version));

    /// <summary>The compiled form of a stored version (parsed once per process); throws when the YAML no longer validates.</summary>
    public static CompiledWorkflow For(Guid workflowId, long version, string yaml)
    {
        if (s_cache.TryGetValue((workflowId, version), out var cached))
        {
            return cached;
        }

        var parsed = WorkflowDefinitionParser.Parse(yaml);
        var compiled = new CompiledWorkflow(parsed.Definition
            ?? throw new InvalidOperationException($"Stored workflow version {workflowId}/{version} does not validate: {parsed.Problems.FirstOrDefault()}"));
        if (s_cache.Count >= 512)
        {
            s_cache.Clear();
        }

        s_cache[(workflowId, version)] = compiled;
        return compiled;
    }

    private static IEnumerable<string> StepsRead(WorkflowStep step)
    {
        var sources = new List<ExpressionCheck>();
        if (step.When is { } when)
        {
            sources.Add(WorkflowExpressions.CheckCondition(when));
        }

        switch (step)
        {
            case TaskStep task:
                if (task.Title is { } title)
                {
                    sources.Add(WorkflowExpressions.CheckTemplate(title));
                }

                sources.AddRange(WorkflowExpressions.CheckJson(task.Input).Select(c => c.Check));
                sources.AddRange(task.Labels.Values.Select(WorkflowExpressions.CheckTemplate));
                break;
            case ChildWorkflowStep child:
                sources.AddRange(WorkflowExpressions.CheckJson(new JsonObject(child.Inputs.Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone())))).Select(c => c.Check));
                break;
        }

        return sources.SelectMany(c => c.References).Where(r => r.Root == "steps").Select(r => r.Name).Distinct(StringComparer.Ordinal);
    }
}
