using System.Text.Json;
using Clarity.Hosting;

namespace Clarity.Features.Mcp;

/// <summary>
/// A tool call's arguments, read strictly: an unknown argument, a missing required one or one of the wrong JSON type is
/// a validation problem (<see cref="Problems.Validation"/>) that names it, which the tool answers as a tool error.
/// Argument names are the REST API's field names, so the services' own validation names the same argument.
/// </summary>
public sealed class McpArguments
{
    private readonly IReadOnlyDictionary<string, JsonElement> _values;

    private McpArguments(IReadOnlyDictionary<string, JsonElement> values) => _values = values;

    /// <summary>The arguments, after refusing any name the tool's schema does not list.</summary>
    public static McpArguments Of(IDictionary<string, JsonElement>? arguments, IReadOnlyCollection<string> known)
    {
        var values = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var (name, value) in arguments ?? new Dictionary<string, JsonElement>())
        {
            if (!known.Contains(name))
            {
                throw Problems.Validation(name, $"is not an argument of this tool (it takes {string.Join(", ", known)}).");
            }

            if (JsonText.FindInvalidText(value) is not null)
            {
                throw Problems.Validation(name, JsonText.InvalidTextMessage);
            }

            values[name] = value;
        }

        return new McpArguments(values);
    }

    private bool TryGet(string name, out JsonElement value) =>
        _values.TryGetValue(name, out value) && value.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined);

    public string? String(string name)
    {
        if (!TryGet(name, out var value))
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw Problems.Validation(name, "must be a string.");
    }

    public string RequiredString(string name) => String(name) ?? throw Problems.Validation(name, "is required.");

    public int? Int(string name)
    {
        if (!TryGet(name, out var value))
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var n) ? n : throw Problems.Validation(name, "must be a whole number.");
    }

    public double? Number(string name)
    {
        if (!TryGet(name, out var value))
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var n) && double.IsFinite(n) ? n : throw Problems.Validation(name, "must be a number.");
    }

    public bool? Bool(string name)
    {
        if (!TryGet(name, out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Problems.Validation(name, "must be true or false."),
        };
    }

    public Guid? Id(string name)
    {
        var text = String(name);
        if (text is null)
        {
            return null;
        }

        return Guid.TryParse(text, out var id) ? id : throw Problems.Validation(name, "must be an id (a UUID).");
    }

    public Guid RequiredId(string name) => Id(name) ?? throw Problems.Validation(name, "is required.");

    public IReadOnlyList<string>? Strings(string name)
    {
        if (!TryGet(name, out var value))
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw Problems.Validation(name, "must be an array of strings.");
        }

        var list = new List<string>();
        foreach (var item in value.EnumerateArray())
        {
            list.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw Problems.Validation($"{name}[{list.Count}]", "must be a string."));
        }

        return list;
    }

    public IReadOnlyList<Guid>? Ids(string name)
    {
        var strings = Strings(name);
        return strings?.Select((s, i) => Guid.TryParse(s, out var id) ? id : throw Problems.Validation($"{name}[{i}]", "must be an id (a UUID).")).ToList();
    }

    /// <summary>Any JSON value (a task's input or output), as sent.</summary>
    public JsonElement? Json(string name) => TryGet(name, out var value) ? value.Clone() : null;
}
