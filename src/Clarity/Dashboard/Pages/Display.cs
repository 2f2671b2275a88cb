using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Clarity.Dashboard.Pages;

/// <summary>How the overview and task pages show times, durations, rates and JSON.</summary>
public static class Display
{
    private static readonly JsonSerializerOptions s_pretty = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>An absolute UTC time, e.g. 2026-11-21 19:52:01 UTC.</summary>
    public static string Utc(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    /// <summary>The machine-readable form for &lt;time datetime&gt;.</summary>
    public static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static string Duration(TimeSpan d) => Duration(d.TotalMilliseconds);

    /// <summary>A duration in the largest unit that keeps it readable: 850 ms, 12.4 s, 3.2 min, 5.1 h, 2.3 d.</summary>
    public static string Duration(double ms)
    {
        var c = CultureInfo.InvariantCulture;
        if (ms < 0)
        {
            ms = 0;
        }

        return ms switch
        {
            < 1_000 => ms.ToString("0", c) + " ms",
            < 60_000 => (ms / 1_000).ToString("0.0", c) + " s",
            < 3_600_000 => (ms / 60_000).ToString("0.0", c) + " min",
            < 86_400_000 => (ms / 3_600_000).ToString("0.0", c) + " h",
            _ => (ms / 86_400_000).ToString("0.0", c) + " d",
        };
    }

    /// <summary>A ratio as a percentage (one decimal under 10 %), or an em dash when there is nothing to divide.</summary>
    public static string Percent(double? ratio) => ratio switch
    {
        null => "—",
        var r when r > 0 && r < 0.1 => (r.Value * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%",
        var r => (r.Value * 100).ToString("0", CultureInfo.InvariantCulture) + "%",
    };

    public static string Number(double value) =>
        value < 10 && value != Math.Floor(value) ? value.ToString("0.0", CultureInfo.InvariantCulture) : value.ToString("#,0", CultureInfo.InvariantCulture);

    public static string Number(long value) => value.ToString("#,0", CultureInfo.InvariantCulture);

    /// <summary>Indented JSON for a &lt;pre&gt; (Razor HTML-escapes it on output).</summary>
    public static string PrettyJson(JsonElement? json) => json is { } j ? JsonSerializer.Serialize(j, s_pretty) : "";

    /// <summary>"running" → "Running", "awaiting_response" → "Awaiting response".</summary>
    public static string Status(string status) => status.Length == 0 ? status : char.ToUpperInvariant(status[0]) + status[1..].Replace('_', ' ');

    public static string ShortId(Guid id) => id.ToString()[^12..];
}
