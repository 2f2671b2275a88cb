using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Clarity.Features.Audit;

/// <summary>
/// One chained audit entry as an RFC 5424 syslog message: <c>&lt;PRI&gt;1 TIMESTAMP HOSTNAME APP-NAME - MSGID [SD] MSG</c>,
/// with the action as MSGID, the chain coordinates as structured data (<c>[clarity@32473 chain=".." seq=".." position=".." hash=".."]</c>;
/// 32473 is the example enterprise number of RFC 5612), and as MSG either the entry's canonical JSON (UTF-8, with a BOM)
/// or an ArcSight CEF line.
/// </summary>
public static class SyslogFormat
{
    public const string SdId = "clarity@32473";

    public static byte[] Format(ForwardRow row, SiemOptions options, string hostname)
    {
        var entry = row.Entry;
        string? outcome = null, actorKind = null, actorId = null, actorLabel = null, targetType = null, targetId = null, ip = null;
        if (entry is not null)
        {
            try
            {
                using var doc = JsonDocument.Parse(entry);
                var root = doc.RootElement;
                outcome = Text(root, "outcome");
                ip = Text(root, "ip");
                if (root.TryGetProperty("actor", out var actor) && actor.ValueKind == JsonValueKind.Object)
                {
                    (actorKind, actorId, actorLabel) = (Text(actor, "kind"), Text(actor, "id"), Text(actor, "label"));
                }

                if (root.TryGetProperty("target", out var target) && target.ValueKind == JsonValueKind.Object)
                {
                    (targetType, targetId) = (Text(target, "type"), Text(target, "id"));
                }
            }
            catch (JsonException)
            {
                // Forward it as stored: the verifier, not the forwarder, judges entries.
            }
        }

        var failed = outcome == "failure";
        var pri = (options.Facility * 8) + (failed ? 4 : 6); // warning for refused attempts, else informational
        var time = DateTimeOffset.FromUnixTimeMilliseconds(row.At).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        var header = string.Create(CultureInfo.InvariantCulture,
            $"<{pri}>1 {time} {Field(hostname, 255)} {Field(options.AppName, 48)} - {Field(row.Action, 32)} " +
            $"[{SdId} chain=\"{row.ChainId:D}\" seq=\"{row.Seq}\" position=\"{row.Position}\" hash=\"{Convert.ToBase64String(row.Hash)}\"{(row.Entry is null ? " pruned=\"true\"" : "")}] ");
        var message = new StringBuilder(header);
        if (options.Format == "cef")
        {
            message.Append("CEF:0|Clarity|Clarity|1|").Append(CefHeader(row.Action)).Append('|').Append(CefHeader(row.Action)).Append('|')
                .Append(failed ? '5' : '3').Append('|')
                .Append("rt=").Append(row.At.ToString(CultureInfo.InvariantCulture))
                .Append(" act=").Append(CefValue(row.Action))
                .Append(" outcome=").Append(CefValue(outcome ?? "unknown"))
                .Append(" externalId=").Append(row.Position.ToString(CultureInfo.InvariantCulture))
                .Append(" cs1Label=chain cs1=").Append(row.ChainId.ToString("D"))
                .Append(" cn1Label=seq cn1=").Append(row.Seq.ToString(CultureInfo.InvariantCulture));
            Ext(message, "cs2Label=actorKind cs2", actorKind);
            Ext(message, "suid", actorId);
            Ext(message, "suser", actorLabel);
            Ext(message, "cs3Label=targetType cs3", targetType);
            Ext(message, "cs4Label=targetId cs4", targetId);
            Ext(message, "src", ip);
            return Encoding.UTF8.GetBytes(message.ToString());
        }

        var head = Encoding.UTF8.GetBytes(message.ToString());
        var body = Encoding.UTF8.GetBytes(entry ?? "{}");
        return [.. head, 0xEF, 0xBB, 0xBF, .. body];
    }

    /// <summary>RFC 6587 octet-counting framing: <c>MSG-LEN SP SYSLOG-MSG</c>.</summary>
    public static byte[] Frame(byte[] message) =>
        [.. Encoding.ASCII.GetBytes(message.Length.ToString(CultureInfo.InvariantCulture) + " "), .. message];

    private static void Ext(StringBuilder message, string key, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            message.Append(' ').Append(key).Append('=').Append(CefValue(value));
        }
    }

    /// <summary>A header field: printable US-ASCII without spaces, at most <paramref name="max"/> characters; "-" when empty.</summary>
    private static string Field(string? value, int max)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "-";
        }

        var chars = value.Where(c => c is > ' ' and <= '~').Take(max).ToArray();
        return chars.Length == 0 ? "-" : new string(chars);
    }

    private static string CefHeader(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("|", "\\|", StringComparison.Ordinal);

    private static string CefValue(string value) => value
        .Replace("\\", "\\\\", StringComparison.Ordinal).Replace("=", "\\=", StringComparison.Ordinal)
        .Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
