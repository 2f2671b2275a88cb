using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace Clarity.Hosting;

/// <summary>
/// Text that JSON can carry but that cannot be stored and written back out: an unpaired UTF-16 surrogate escape
/// (<c>"\ud800"</c>) or bytes that are not UTF-8. System.Text.Json refuses both when it binds a string, but a
/// <see cref="JsonElement"/> keeps them verbatim, and they only fail later, when the value is written out again.
/// </summary>
public static class JsonText
{
    public const string InvalidTextMessage =
        "must be valid Unicode text: it holds an unpaired UTF-16 surrogate escape (such as \\ud800) or bytes that are not UTF-8.";

    /// <summary>
    /// Finds the first string or property name in <paramref name="element"/> that is not valid Unicode text.
    /// Returns null when there is none, else where it is relative to the element: "" (the element itself),
    /// ".name", "[2].name" and so on.
    /// </summary>
    public static string? FindInvalidText(JsonElement element)
    {
        // The common case in one pass over the raw bytes: all UTF-8 and no escape that spells a surrogate.
        var raw = JsonMarshal.GetRawUtf8Value(element);
        if (Utf8.IsValid(raw) && (!MayHoldSurrogateEscape(raw) || !HasUnpairedSurrogateEscape(raw)))
        {
            return null;
        }

        return Locate(element) ?? "";
    }

    /// <summary>Walks the element to say where the bad text is (only when there is some).</summary>
    private static string? Locate(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                return IsValid(JsonMarshal.GetRawUtf8Value(element), element, static e => e.GetString()) ? null : "";
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (!IsValid(JsonMarshal.GetRawUtf8PropertyName(property), property, static p => p.Name))
                    {
                        return "";
                    }

                    if (Locate(property.Value) is { } inner)
                    {
                        return "." + property.Name + inner;
                    }
                }

                return null;
            case JsonValueKind.Array:
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    if (Locate(item) is { } inner)
                    {
                        return $"[{index}]{inner}";
                    }

                    index++;
                }

                return null;
            default:
                return null;
        }
    }

    /// <summary>Decodes every escaped string and property name that may spell a surrogate; true if one is unpaired.</summary>
    private static bool HasUnpairedSurrogateEscape(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 4096, CommentHandling = JsonCommentHandling.Skip });
        while (reader.Read())
        {
            if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && reader.ValueIsEscaped && MayHoldSurrogateEscape(reader.ValueSpan))
            {
                try
                {
                    _ = reader.GetString();
                }
                catch (InvalidOperationException)
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>True for the errors System.Text.Json raises when it decodes a string that is not valid Unicode text.</summary>
    public static bool IsInvalidTextError(InvalidOperationException error) =>
        error.InnerException is DecoderFallbackException
        || error.Message.Contains("UTF-16", StringComparison.Ordinal)
        || error.Message.Contains("UTF-8", StringComparison.Ordinal);

    /// <summary>
    /// Reads JSON text as stored. Rows written before input was validated may hold unpaired surrogate escapes,
    /// which cannot be written out: each becomes <c>\uFFFD</c> (the replacement character), so that reading the row
    /// never fails. Text that is not JSON at all comes back as a JSON string.
    /// </summary>
    public static JsonElement? ParseStored(string? text)
    {
        if (text is null)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(ReplaceLoneSurrogateEscapes(text));
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return JsonSerializer.SerializeToElement(text);
        }
    }

    /// <summary>
    /// Replaces every <c>\uXXXX</c> escape of an unpaired surrogate in JSON text with <c>\uFFFD</c>. Escaped
    /// backslashes (<c>\\ud800</c> is the text "\ud800", not an escape) are left alone. Returns the same string
    /// when there is nothing to replace.
    /// </summary>
    public static string ReplaceLoneSurrogateEscapes(string json)
    {
        if (!json.Contains("\\u", StringComparison.Ordinal))
        {
            return json;
        }

        StringBuilder? repaired = null;
        var copied = 0;
        for (var i = 0; i < json.Length - 1; i++)
        {
            if (json[i] != '\\')
            {
                continue;
            }

            if (json[i + 1] != 'u' || !TryHex(json, i + 2, out var unit))
            {
                i++; // an escape of one character: \\, \", \n …
                continue;
            }

            if (char.IsHighSurrogate(unit) && i + 11 < json.Length && json[i + 6] == '\\' && json[i + 7] == 'u'
                && TryHex(json, i + 8, out var low) && char.IsLowSurrogate(low))
            {
                i += 11; // a proper pair
                continue;
            }

            if (char.IsSurrogate(unit))
            {
                repaired ??= new StringBuilder(json.Length);
                repaired.Append(json, copied, i - copied).Append("\\uFFFD");
                copied = i + 6;
            }

            i += 5;
        }

        return repaired is null ? json : repaired.Append(json, copied, json.Length - copied).ToString();
    }

    private static bool IsValid<T>(ReadOnlySpan<byte> raw, T value, Func<T, string?> decode)
    {
        if (!Utf8.IsValid(raw))
        {
            return false;
        }

        if (!MayHoldSurrogateEscape(raw))
        {
            return true;
        }

        // Only an escape can spell a surrogate; decoding tells whether every one of them is paired.
        try
        {
            _ = decode(value);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>True when the raw text holds something like <c>\uD8…</c> to <c>\uDF…</c> (or an escaped backslash before such text, which decoding then clears).</summary>
    private static bool MayHoldSurrogateEscape(ReadOnlySpan<byte> raw)
    {
        while (raw.IndexOf((byte)'\\') is var at and >= 0)
        {
            if (at + 3 < raw.Length && raw[at + 1] == 'u' && (raw[at + 2] | 0x20) == 'd' && IsHexEightToF(raw[at + 3]))
            {
                return true;
            }

            raw = raw[(at + 1)..];
        }

        return false;
    }

    private static bool IsHexEightToF(byte b) => b is (>= (byte)'8' and <= (byte)'9') or (>= (byte)'a' and <= (byte)'f') or (>= (byte)'A' and <= (byte)'F');

    private static bool TryHex(string text, int start, out char value)
    {
        if (start + 4 <= text.Length && ushort.TryParse(text.AsSpan(start, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var unit))
        {
            value = (char)unit;
            return true;
        }

        value = '\0';
        return false;
    }
}

/// <summary>
/// A <see cref="JsonException"/> that names the offending place below the value the serializer was reading:
/// the serializer sets <see cref="JsonException.Path"/> to that value ("$.input"), and <see cref="InnerPath"/> goes on
/// from there (".a[2]").
/// </summary>
public sealed class JsonFieldException(string innerPath, string message) : JsonException(message)
{
    public string InnerPath { get; } = innerPath;
}
