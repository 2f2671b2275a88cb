using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.Compliance.Classification;
using Microsoft.Extensions.Compliance.Redaction;

namespace Clarity.Events.Audit;

/// <summary>
/// Writes an entry as its canonical JSON (audit contract, <c>"v":1</c>): fixed member order, camelCase, UTF-8, written
/// once and stored as is, so the stored bytes are exactly the digested bytes. Classified values are redacted first.
/// </summary>
public sealed class AuditEntryJson(IRedactorProvider redactors)
{
    private static readonly JsonWriterOptions s_options = new()
    {
        // Plain UTF-8 for readers (no \u escapes of non-ASCII); still escapes what JSON requires.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
        SkipValidation = false,
    };

    public byte[] Write(AuditRecord record, Actor actor, long at, string? correlationId, RequestClient? client)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer, s_options))
        {
            w.WriteStartObject();
            w.WriteNumber("v", 1);
            WriteGuidOrNull(w, "org", record.OrgId);
            w.WriteString("at", Iso(at));
            w.WriteStartObject("actor");
            w.WriteString("kind", actor.KindName);
            WriteGuidOrNull(w, "id", actor.Id);
            WriteStringOrNull(w, "label", record.ActorLabel);
            w.WriteEndObject();
            w.WriteString("action", record.Action);
            if (record.Target is { } target)
            {
                w.WriteStartObject("target");
                w.WriteString("type", target.Type);
                WriteStringOrNull(w, "id", target.Id);
                WriteStringOrNull(w, "label", Redact(target.Label, target.LabelClass));
                w.WriteEndObject();
            }
            else
            {
                w.WriteNull("target");
            }

            WriteFields(w, "before", record.Before);
            WriteFields(w, "after", record.After);
            w.WriteString("outcome", record.Succeeded ? "success" : "failure");
            WriteStringOrNull(w, "correlationId", correlationId);
            WriteStringOrNull(w, "ip", client?.Address);
            WriteStringOrNull(w, "userAgent", client?.UserAgent);
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static string Iso(long at) =>
        DateTimeOffset.FromUnixTimeMilliseconds(at).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private void WriteFields(Utf8JsonWriter w, string name, AuditFields? fields)
    {
        if (fields is null)
        {
            w.WriteNull(name);
            return;
        }

        w.WriteStartObject(name);
        foreach (var field in fields.Fields)
        {
            w.WritePropertyName(field.Name);
            if (field.Class != DataClassification.None)
            {
                var text = field.Value is null ? null : Convert.ToString(field.Value, CultureInfo.InvariantCulture);
                if (Redact(text, field.Class) is { } redacted)
                {
                    w.WriteStringValue(redacted);
                }
                else
                {
                    w.WriteNullValue();
                }

                continue;
            }

            WriteValue(w, field.Value);
        }

        w.WriteEndObject();
    }

    private static void WriteValue(Utf8JsonWriter w, object? value)
    {
        switch (value)
        {
            case null:
                w.WriteNullValue();
                break;
            case string s:
                w.WriteStringValue(s);
                break;
            case bool b:
                w.WriteBooleanValue(b);
                break;
            case int i:
                w.WriteNumberValue(i);
                break;
            case long l:
                w.WriteNumberValue(l);
                break;
            case Guid g:
                w.WriteStringValue(g.ToString());
                break;
            case DateTimeOffset t:
                w.WriteStringValue(Iso(t.ToUnixTimeMilliseconds()));
                break;
            case IEnumerable<string> list:
                w.WriteStartArray();
                foreach (var item in list)
                {
                    w.WriteStringValue(item);
                }

                w.WriteEndArray();
                break;
            default:
                w.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
        }
    }

    private string? Redact(string? value, DataClassification classification) =>
        value is null || classification == DataClassification.None ? value : redactors.GetRedactor(classification).Redact(value);

    private static void WriteGuidOrNull(Utf8JsonWriter w, string name, Guid? value)
    {
        if (value is { } g)
        {
            w.WriteString(name, g.ToString());
        }
        else
        {
            w.WriteNull(name);
        }
    }

    private static void WriteStringOrNull(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }
}
