using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Clarity.Events.Audit;
using CsvHelper;

namespace Clarity.Features.Audit;

/// <summary>
/// Writes an export of the audit log as it is read: JSON Lines (one object per entry, the stored entry embedded byte for
/// byte) or CSV through CsvHelper (the stored entry as a JSON text column). Flushed every few hundred entries; nothing is
/// held whole.
/// </summary>
public static class AuditExport
{
    public const string Csv = "csv";
    public const string Jsonl = "jsonl";

    private const int FlushEvery = 500;

    private static readonly JsonWriterOptions s_json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string ContentType(string format) => format == Csv ? "text/csv; charset=utf-8" : "application/jsonl; charset=utf-8";

    public static async Task WriteJsonlAsync(System.IO.Stream body, IAsyncEnumerable<AuditRow> rows, CancellationToken ct)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(64 * 1024);
        var count = 0;
        await using (var w = new Utf8JsonWriter(buffer, s_json))
        {
            await foreach (var row in rows.WithCancellation(ct))
            {
                w.Reset(buffer);
                w.WriteStartObject();
                w.WriteNumber("id", row.Id);
                WriteNumberOrNull(w, "seq", row.Seq);
                WriteNumberOrNull(w, "position", row.Position);
                w.WriteString("at", AuditEntryJson.Iso(row.At));
                w.WriteString("action", row.Action);
                w.WriteStartObject("actor");
                w.WriteString("kind", row.ActorKind);
                if (row.ActorId is { } actor)
                {
                    w.WriteString("id", actor);
                }
                else
                {
                    w.WriteNull("id");
                }

                w.WriteEndObject();
                if (row.TargetType is null)
                {
                    w.WriteNull("target");
                }
                else
                {
                    w.WriteStartObject("target");
                    w.WriteString("type", row.TargetType);
                    w.WriteString("id", row.TargetId);
                    w.WriteEndObject();
                }

                w.WritePropertyName("entry");
                if (row.Entry is null)
                {
                    w.WriteNullValue();
                }
                else
                {
                    w.WriteRawValue(row.Entry, skipInputValidation: true);
                }

                w.WriteString("digest", Convert.ToHexStringLower(row.Digest));
                w.WriteString("hash", row.Hash is null ? null : Convert.ToHexStringLower(row.Hash));
                if (row.PrunedAt is { } pruned)
                {
                    w.WriteString("prunedAt", AuditEntryJson.Iso(pruned));
                }
                else
                {
                    w.WriteNull("prunedAt");
                }

                w.WriteEndObject();
                await w.FlushAsync(ct);
                buffer.Write("\n"u8);
                if (++count % FlushEvery == 0 || buffer.WrittenCount > 48 * 1024)
                {
                    await body.WriteAsync(buffer.WrittenMemory, ct);
                    buffer.ResetWrittenCount();
                    await body.FlushAsync(ct);
                }
            }
        }

        await body.WriteAsync(buffer.WrittenMemory, ct);
        await body.FlushAsync(ct);
    }

    public static async Task WriteCsvAsync(System.IO.Stream body, IAsyncEnumerable<AuditRow> rows, CancellationToken ct)
    {
        await using var csv = CsvWriter.Create(body, null, leaveOpen: true);
        await csv.WriteRecordAsync(["id", "seq", "position", "at", "actorKind", "actorId", "action", "targetType", "targetId", "entry", "digest", "hash", "prunedAt"], ct);
        var count = 0;
        await foreach (var row in rows.WithCancellation(ct))
        {
            await csv.WriteRecordAsync(
            [
                row.Id.ToString(CultureInfo.InvariantCulture),
                row.Seq?.ToString(CultureInfo.InvariantCulture),
                row.Position?.ToString(CultureInfo.InvariantCulture),
                AuditEntryJson.Iso(row.At),
                row.ActorKind,
                row.ActorId?.ToString(),
                row.Action,
                row.TargetType,
                row.TargetId,
                row.Entry,
                Convert.ToHexStringLower(row.Digest),
                row.Hash is null ? null : Convert.ToHexStringLower(row.Hash),
                row.PrunedAt is { } pruned ? AuditEntryJson.Iso(pruned) : null,
            ], ct);
            if (++count % FlushEvery == 0)
            {
                await csv.FlushAsync(ct);
            }
        }

        await csv.FlushAsync(ct);
    }

    private static void WriteNumberOrNull(Utf8JsonWriter w, string name, long? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
