using System.Text.Json;
using System.Text.Json.Nodes;
using Clarity.Features.Workflows.Definitions;
using Clarity.Hosting;

namespace Clarity.Features.Workflows.Runs;

/// <summary>A run's inputs checked against the definition: each declared input of its type, defaults for missing ones, nothing undeclared.</summary>
public static class RunInputs
{
    /// <summary>The inputs a run starts with; throws a 400 naming the first input that does not fit.</summary>
    public static JsonObject Resolve(WorkflowDefinition definition, JsonObject? given, string field)
    {
        var result = new JsonObject();
        given ??= [];
        foreach (var (name, _) in given)
        {
            if (definition.FindInput(name) is null)
            {
                var known = definition.Inputs.Count == 0 ? "it declares none" : "it declares " + string.Join(", ", definition.Inputs.Select(i => i.Name));
                throw Problems.Validation($"{field}.{name}", $"is not an input of the workflow '{definition.Name}' ({known}).");
            }
        }

        foreach (var input in definition.Inputs)
        {
            var value = given.TryGetPropertyValue(input.Name, out var v) ? v : null;
            if (value is null)
            {
                if (input.Default is { } fallback)
                {
                    result[input.Name] = fallback.DeepClone();
                    continue;
                }

                if (input.Required)
                {
                    throw Problems.Validation($"{field}.{input.Name}", $"is required ({TypeName(input.Type)}).");
                }

                continue;
            }

            if (!Fits(value, input.Type))
            {
                throw Problems.Validation($"{field}.{input.Name}", $"must be {TypeName(input.Type)}.");
            }

            result[input.Name] = value.DeepClone();
        }

        return result;
    }

    /// <summary>Reads a request's <c>input</c> object (absent or null: no inputs).</summary>
    public static JsonObject? FromRequest(JsonElement? input, string field) => input switch
    {
        null or { ValueKind: JsonValueKind.Null or JsonValueKind.Undefined } => null,
        { ValueKind: JsonValueKind.Object } e => JsonObject.Create(e.Clone()),
        _ => throw Problems.Validation(field, "must be an object of the workflow's inputs by name."),
    };

    private static bool Fits(JsonNode value, WorkflowInputType type) => (type, value.GetValueKind()) switch
    {
        (WorkflowInputType.String, JsonValueKind.String) => true,
        (WorkflowInputType.Number, JsonValueKind.Number) => true,
        (WorkflowInputType.Integer, JsonValueKind.Number) => value.AsValue().TryGetValue<long>(out _) || (value.AsValue().TryGetValue<double>(out var d) && d == Math.Floor(d) && Math.Abs(d) < 9e15),
        (WorkflowInputType.Boolean, JsonValueKind.True or JsonValueKind.False) => true,
        (WorkflowInputType.Object, JsonValueKind.Object) => true,
        (WorkflowInputType.Array, JsonValueKind.Array) => true,
        _ => false,
    };

    private static string TypeName(WorkflowInputType type) => type switch
    {
        WorkflowInputType.String => "a string",
        WorkflowInputType.Number => "a number",
        WorkflowInputType.Integer => "an integer",
        WorkflowInputType.Boolean => "true or false",
        WorkflowInputType.Object => "an object",
        _ => "an array",
    };
}
