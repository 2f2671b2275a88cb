using System.Collections;
using System.Reflection;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Clarity.Hosting;

/// <summary>
/// The one set of JSON rules for requests and answers. Every value a request binds is checked here, before any
/// handler runs, so that nothing that cannot be written back out is ever stored:
/// - strings, property names, ids and dates: System.Text.Json itself refuses an unpaired surrogate escape or invalid
///   UTF-8 when it decodes them (ErrorHandling turns that into 400 malformed-json);
/// - free-form JSON (<see cref="JsonElement"/>: a task's input and output) is kept verbatim by the framework, so
///   <see cref="FreeFormJsonConverter"/> checks every string and property name in it;
/// - a list declared with non-nullable items (<c>IReadOnlyList&lt;string&gt;</c>) refuses a null item.
/// </summary>
public static class JsonDefaults
{
    public static readonly JsonSerializerOptions Options = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        options.NumberHandling = JsonNumberHandling.Strict;
        options.MaxDepth = 64;
        options.Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
        if (!options.Converters.OfType<FreeFormJsonConverter>().Any())
        {
            options.Converters.Add(new FreeFormJsonConverter());
            options.TypeInfoResolver = (options.TypeInfoResolver ?? new DefaultJsonTypeInfoResolver()).WithAddedModifier(RefuseNullItems);
        }

        return options;
    }

    /// <summary>
    /// For every object property that is a list whose items are declared non-nullable, refuses a null item once the
    /// object is read: <c>"queues": [null]</c> is malformed, not a list with a hole in it.
    /// (A hook after reading, rather than a converter, keeps the lists' schema in the OpenAPI document.)
    /// </summary>
    private static void RefuseNullItems(JsonTypeInfo info)
    {
        if (info.Kind != JsonTypeInfoKind.Object)
        {
            return;
        }

        var lists = info.Properties.Where(HasNonNullableItems).ToList();
        if (lists.Count == 0)
        {
            return;
        }

        var previous = info.OnDeserialized;
        info.OnDeserialized = obj =>
        {
            previous?.Invoke(obj);
            foreach (var property in lists)
            {
                if (property.Get?.Invoke(obj) is not IEnumerable items)
                {
                    continue;
                }

                var index = 0;
                foreach (var item in items)
                {
                    if (item is null)
                    {
                        throw new JsonFieldException($".{property.Name}[{index}]", "must not be null: every item of this list is required.");
                    }

                    index++;
                }
            }
        };
    }

    private static bool HasNonNullableItems(JsonPropertyInfo property)
    {
        if (property.AttributeProvider is not PropertyInfo declared)
        {
            return false;
        }

        var type = property.PropertyType;
        var nullability = new NullabilityInfoContext().Create(declared);
        var item = type.IsArray ? nullability.ElementType
            : type.IsGenericType && type.GetGenericArguments().Length == 1 && typeof(IEnumerable).IsAssignableFrom(type) ? nullability.GenericTypeArguments[0]
            : null;
        return item is { ReadState: NullabilityState.NotNull } && !item.Type.IsValueType;
    }
}

/// <summary>
/// Reads free-form JSON (<see cref="JsonElement"/>) and refuses it when a string or property name in it is not valid
/// Unicode text; the error names the place (<c>input.a[2]</c>). Writes elements unchanged.
/// </summary>
public sealed class FreeFormJsonConverter : JsonConverter<JsonElement>
{
    public override JsonElement Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var element = JsonElement.ParseValue(ref reader);
        return JsonText.FindInvalidText(element) is { } where ? throw new JsonFieldException(where, JsonText.InvalidTextMessage) : element;
    }

    public override void Write(Utf8JsonWriter writer, JsonElement value, JsonSerializerOptions options) => value.WriteTo(writer);
}
