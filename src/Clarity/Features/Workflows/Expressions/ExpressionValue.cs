using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Clarity.Features.Workflows.Expressions;

/// <summary>The six kinds of value the language knows, the same as JSON's.</summary>
public enum ExpressionValueKind
{
    Null,
    Boolean,
    Number,
    String,
    List,
    Object,
}

/// <summary>
/// A value during evaluation: a JSON value read from the context (kept as its <see cref="JsonElement"/>, so nothing is
/// copied), or one the expression made (a literal, a list literal, a function's result). A small struct, so evaluating
/// allocates only for the strings and lists it builds.
/// </summary>
internal readonly struct ExpressionValue
{
    public static readonly ExpressionValue Null;
    public static readonly ExpressionValue True = new(ExpressionValueKind.Boolean, 1, null, null, default);
    public static readonly ExpressionValue False = new(ExpressionValueKind.Boolean, 0, null, null, default);

    /// <summary>Room for a context value at its deepest plus literal lists around it.</summary>
    private const int WriteDepth = ExpressionLimits.MaxContextDepth + ExpressionLimits.MaxDepth + 8;

    private static readonly JsonDocumentOptions ReadBack = new() { MaxDepth = WriteDepth };

    private readonly double number;
    private readonly string? text;
    private readonly ExpressionValue[]? items;
    private readonly JsonElement element;

    private ExpressionValue(ExpressionValueKind kind, double number, string? text, ExpressionValue[]? items, JsonElement element)
    {
        Kind = kind;
        this.number = number;
        this.text = text;
        this.items = items;
        this.element = element;
    }

    public ExpressionValueKind Kind { get; }

    public bool IsNull => Kind == ExpressionValueKind.Null;

    public bool Boolean => number != 0;

    public double Number => number;

    /// <summary>The string of a String value.</summary>
    public string Text => text!;

    private bool HasElement => element.ValueKind != JsonValueKind.Undefined;

    public static ExpressionValue Of(bool value) => value ? True : False;

    public static ExpressionValue Of(double value) => new(ExpressionValueKind.Number, value, null, null, default);

    public static ExpressionValue Of(string? value) =>
        value is null ? Null : new(ExpressionValueKind.String, 0, value, null, default);

    public static ExpressionValue Of(ExpressionValue[] items) => new(ExpressionValueKind.List, 0, null, items, default);

    /// <summary>Wraps a JSON value; strings, numbers and booleans are read once here.</summary>
    public static ExpressionValue Of(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.True => True,
        JsonValueKind.False => False,
        JsonValueKind.Number => new(ExpressionValueKind.Number, element.TryGetDouble(out var d) ? d : double.NaN, null, null, element),
        JsonValueKind.String => new(ExpressionValueKind.String, 0, element.GetString(), null, default),
        JsonValueKind.Array => new(ExpressionValueKind.List, 0, null, null, element),
        JsonValueKind.Object => new(ExpressionValueKind.Object, 0, null, null, element),
        _ => Null,
    };

    /// <summary>The name of this value's kind, for messages.</summary>
    public string KindName => KindNameOf(Kind);

    public static string KindNameOf(ExpressionValueKind kind) => kind switch
    {
        ExpressionValueKind.Null => "null",
        ExpressionValueKind.Boolean => "boolean",
        ExpressionValueKind.Number => "number",
        ExpressionValueKind.String => "string",
        ExpressionValueKind.List => "list",
        _ => "object",
    };

    /// <summary>false, null, 0, NaN and "" are false; every other value, empty lists and objects included, is true.</summary>
    public bool IsTruthy => Kind switch
    {
        ExpressionValueKind.Null => false,
        ExpressionValueKind.Boolean => Boolean,
        ExpressionValueKind.Number => number != 0 && !double.IsNaN(number),
        ExpressionValueKind.String => text!.Length > 0,
        _ => true,
    };

    /// <summary>The number of items of a list, members of an object, or characters of a string.</summary>
    public int Count => Kind switch
    {
        ExpressionValueKind.List => items?.Length ?? element.GetArrayLength(),
        ExpressionValueKind.Object => element.GetPropertyCount(),
        ExpressionValueKind.String => text!.Length,
        _ => 0,
    };

    /// <summary>The member of an object, or null when there is none (and for every other kind).</summary>
    public ExpressionValue Member(string name) =>
        Kind == ExpressionValueKind.Object && element.TryGetProperty(name, out var property) ? Of(property) : Null;

    /// <summary>The item of a list at a 0-based index, or null when it is out of range.</summary>
    public ExpressionValue Item(int index)
    {
        if (Kind != ExpressionValueKind.List || index < 0)
        {
            return Null;
        }

        if (items is not null)
        {
            return index < items.Length ? items[index] : Null;
        }

        return index < element.GetArrayLength() ? Of(element[index]) : Null;
    }

    /// <summary>Whether <paramref name="predicate"/> holds for any item of a list (it stops at the first that does).</summary>
    public bool Any<TState>(TState state, Func<TState, ExpressionValue, bool> predicate)
    {
        if (items is not null)
        {
            foreach (var item in items)
            {
                if (predicate(state, item))
                {
                    return true;
                }
            }

            return false;
        }

        foreach (var item in element.EnumerateArray())
        {
            if (predicate(state, Of(item)))
            {
                return true;
            }
        }

        return false;
    }

    public bool HasMember(string name) => Kind == ExpressionValueKind.Object && element.TryGetProperty(name, out _);

    /// <summary>Equality of values: same kind and same content; lists item by item, objects member by member.</summary>
    public static bool AreEqual(ExpressionValue left, ExpressionValue right)
    {
        if (left.Kind != right.Kind)
        {
            return false;
        }

        switch (left.Kind)
        {
            case ExpressionValueKind.Null:
                return true;
            case ExpressionValueKind.Boolean:
            case ExpressionValueKind.Number:
                return left.number == right.number;
            case ExpressionValueKind.String:
                return string.Equals(left.text, right.text, StringComparison.Ordinal);
            case ExpressionValueKind.Object:
                return JsonElement.DeepEquals(left.element, right.element);
            default:
                var count = left.Count;
                if (count != right.Count)
                {
                    return false;
                }

                if (left.items is null && right.items is null)
                {
                    return JsonElement.DeepEquals(left.element, right.element);
                }

                for (var i = 0; i < count; i++)
                {
                    if (!AreEqual(left.Item(i), right.Item(i)))
                    {
                        return false;
                    }
                }

                return true;
        }
    }

    /// <summary>The value as text: strings as they are, null as "", numbers and booleans as in JSON, lists and objects as compact JSON.</summary>
    public string ToText() => Kind switch
    {
        ExpressionValueKind.Null => "",
        ExpressionValueKind.String => text!,
        ExpressionValueKind.Boolean => Boolean ? "true" : "false",
        ExpressionValueKind.Number => HasElement ? element.GetRawText() : FormatNumber(number),
        _ => ToJson(),
    };

    /// <summary>The value as compact JSON text (values from the context are rewritten compactly, whatever their spacing).</summary>
    public string ToJson()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true, MaxDepth = WriteDepth }))
        {
            WriteTo(writer);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public void WriteTo(Utf8JsonWriter writer)
    {
        switch (Kind)
        {
            case ExpressionValueKind.Null:
                writer.WriteNullValue();
                break;
            case ExpressionValueKind.Boolean:
                writer.WriteBooleanValue(Boolean);
                break;
            case ExpressionValueKind.Number when HasElement:
                element.WriteTo(writer);
                break;
            case ExpressionValueKind.Number:
                if (double.IsFinite(number))
                {
                    writer.WriteNumberValue(number);
                }
                else
                {
                    writer.WriteNullValue();
                }

                break;
            case ExpressionValueKind.String:
                writer.WriteStringValue(text);
                break;
            case ExpressionValueKind.List when items is not null:
                writer.WriteStartArray();
                foreach (var item in items)
                {
                    item.WriteTo(writer);
                }

                writer.WriteEndArray();
                break;
            default:
                element.WriteTo(writer);
                break;
        }
    }

    /// <summary>The value as a JSON node (null for null); values from the context are copied, never shared.</summary>
    public JsonNode? ToNode()
    {
        switch (Kind)
        {
            case ExpressionValueKind.Null:
                return null;
            case ExpressionValueKind.Boolean:
                return JsonValue.Create(Boolean);
            case ExpressionValueKind.Number when HasElement:
                return JsonNode.Parse(element.GetRawText(), documentOptions: ReadBack);
            case ExpressionValueKind.Number:
                return double.IsFinite(number) ? JsonValue.Create(number) : null;
            case ExpressionValueKind.String:
                return JsonValue.Create(text);
            case ExpressionValueKind.List when items is not null:
                var array = new JsonArray();
                foreach (var item in items)
                {
                    array.Add(item.ToNode());
                }

                return array;
            default:
                return JsonNode.Parse(element.GetRawText(), documentOptions: ReadBack);
        }
    }

    /// <summary>A rough size in characters of this value once written out, used to bound what a render produces.</summary>
    public int ApproximateLength => Kind switch
    {
        ExpressionValueKind.String => text!.Length,
        ExpressionValueKind.List when items is not null => items.Sum(i => i.ApproximateLength + 1) + 2,
        ExpressionValueKind.List or ExpressionValueKind.Object => System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(element).Length,
        _ => 8,
    };

    /// <summary>
    /// Reads every string and member name of a JSON value once, so one holding an escaped unpaired surrogate
    /// (which <see cref="JsonDocument"/> accepts but cannot return as a string), or one nested deeper than
    /// <see cref="ExpressionLimits.MaxContextDepth"/>, fails here with <see cref="InvalidOperationException"/> rather
    /// than in the middle of an evaluation.
    /// </summary>
    public static void RequireReadableStrings(JsonElement element, int depth = 0)
    {
        if (depth > ExpressionLimits.MaxContextDepth)
        {
            throw new InvalidOperationException($"The value nests deeper than {ExpressionLimits.MaxContextDepth} levels.");
        }

        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                _ = element.GetString();
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    RequireReadableStrings(item, depth + 1);
                }

                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    _ = property.Name;
                    RequireReadableStrings(property.Value, depth + 1);
                }

                break;
        }
    }

    public static string FormatNumber(double value) =>
        double.IsFinite(value) ? value.ToString("R", CultureInfo.InvariantCulture) : "null";
}
