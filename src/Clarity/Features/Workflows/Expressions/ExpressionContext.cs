using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Clarity.Features.Workflows.Expressions;

/// <summary>
/// The values an expression reads, by root name: for a workflow, <c>inputs</c> (the run's inputs) and <c>steps</c>
/// (<c>steps.&lt;id&gt;.output</c>, <c>steps.&lt;id&gt;.status</c>); other users of the language (guards) bring other
/// roots such as <c>task</c> or <c>run</c>. Values are copied in, so the context is immutable and safe to share.
/// A root the context lacks reads as null. Creating a context reads every string once: one holding an unpaired
/// surrogate, or a value nested deeper than <see cref="ExpressionLimits.MaxContextDepth"/>, is an
/// <see cref="ArgumentException"/> (the API refuses such JSON before it is stored).
/// </summary>
public sealed class ExpressionContext
{
    private readonly FrozenDictionary<string, JsonElement> roots;

    public ExpressionContext(IEnumerable<KeyValuePair<string, JsonElement>> roots)
    {
        ArgumentNullException.ThrowIfNull(roots);
        this.roots = roots.ToFrozenDictionary(r => r.Key, r => r.Value.Clone(), StringComparer.Ordinal);
        try
        {
            foreach (var value in this.roots.Values)
            {
                ExpressionValue.RequireReadableStrings(value);
            }
        }
        catch (InvalidOperationException e)
        {
            throw new ArgumentException($"The context cannot be read: {e.Message}", nameof(roots), e);
        }
    }

    /// <summary>An empty context: every root reads as null.</summary>
    public static ExpressionContext Empty { get; } = new([]);

    /// <summary>A context whose roots are the members of a JSON object, e.g. <c>{"inputs": {…}, "steps": {…}}</c>.</summary>
    public static ExpressionContext FromJson(JsonElement rootObject)
    {
        if (rootObject.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("The context must be a JSON object whose members are its roots.", nameof(rootObject));
        }

        return new(rootObject.EnumerateObject().Select(p => KeyValuePair.Create(p.Name, p.Value)));
    }

    /// <inheritdoc cref="FromJson(JsonElement)"/>
    public static ExpressionContext FromJson(JsonObject rootObject)
    {
        ArgumentNullException.ThrowIfNull(rootObject);
        using var document = JsonDocument.Parse(rootObject.ToJsonString(), new JsonDocumentOptions { MaxDepth = ExpressionLimits.MaxContextDepth + 8 });
        return FromJson(document.RootElement);
    }

    /// <summary>
    /// A workflow run's context: <c>inputs</c>, and for each finished or running step its <c>status</c> and <c>output</c>.
    /// </summary>
    public static ExpressionContext ForWorkflow(JsonNode? inputs, IEnumerable<ExpressionStepState> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        var stepsObject = new JsonObject();
        foreach (var step in steps)
        {
            stepsObject[step.Id] = new JsonObject { ["status"] = step.Status, ["output"] = step.Output?.DeepClone() };
        }

        return FromJson(new JsonObject { ["inputs"] = inputs?.DeepClone() ?? new JsonObject(), ["steps"] = stepsObject });
    }

    /// <summary>The same roots, with <paramref name="name"/> set to <paramref name="value"/>.</summary>
    public ExpressionContext With(string name, JsonElement value)
    {
        ArgumentNullException.ThrowIfNull(name);
        var copy = new Dictionary<string, JsonElement>(roots, StringComparer.Ordinal) { [name] = value };
        return new(copy);
    }

    internal ExpressionValue Root(string name) =>
        roots.TryGetValue(name, out var value) ? ExpressionValue.Of(value) : ExpressionValue.Null;
}

/// <summary>A step as expressions see it: <c>steps.&lt;id&gt;.status</c> and <c>steps.&lt;id&gt;.output</c>.</summary>
public sealed record ExpressionStepState(string Id, string Status, JsonNode? Output);
