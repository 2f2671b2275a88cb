using System.Globalization;
using System.Text;

namespace Clarity.Hosting.Telemetry;

public enum MetricType
{
    Counter,
    Gauge,
    Histogram,
}

/// <summary>One time series: its labels (already valid Prometheus label names, sorted) and its value or histogram state.</summary>
/// <param name="BucketCounts">Histograms only: per-bucket (not cumulative) counts, one per bound plus the +Inf overflow.</param>
public sealed record MetricSeries(IReadOnlyList<KeyValuePair<string, string>> Labels, double Value, long[]? BucketCounts = null, double Sum = 0, long Count = 0);

/// <summary>A metric family: one HELP and TYPE line and its series. <see cref="Name"/> is the full Prometheus name (counters end in _total).</summary>
public sealed record MetricFamily(string Name, MetricType Type, string Help, IReadOnlyList<MetricSeries> Series, IReadOnlyList<double>? Bounds = null);

/// <summary>
/// The Prometheus text exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/), and the
/// OpenTelemetry → Prometheus name conversion: dots and other invalid characters become underscores, the unit becomes a
/// suffix (s → _seconds, By → _bytes, {annotations} dropped), counters end in _total.
/// </summary>
public static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>The Prometheus name of an OpenTelemetry instrument.</summary>
    public static string MetricName(string instrumentName, string? unit, MetricType type)
    {
        var name = Sanitize(instrumentName, allowColon: true);
        var suffix = UnitSuffix(unit, type);
        if (name.EndsWith("_total", StringComparison.Ordinal) && type == MetricType.Counter)
        {
            name = name[..^"_total".Length];
        }

        if (suffix.Length > 0 && !name.EndsWith("_" + suffix, StringComparison.Ordinal))
        {
            name += "_" + suffix;
        }

        return type == MetricType.Counter ? name + "_total" : name;
    }

    /// <summary>A valid label name for a tag key: [a-zA-Z_][a-zA-Z0-9_]*, never the reserved __ prefix (runs of underscores collapse).</summary>
    public static string LabelName(string key) => Sanitize(key, allowColon: false);

    public static bool IsValidMetricName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] is '_' or ':') && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or ':');

    public static bool IsValidLabelName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_')
        && !name.StartsWith("__", StringComparison.Ordinal);

    /// <summary>Escapes a label value: backslash, double quote and line feed.</summary>
    public static string EscapeLabelValue(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    /// <summary>Escapes HELP text: backslash and line feed.</summary>
    public static string EscapeHelp(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    public static string FormatValue(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        _ when double.IsNaN(value) => "NaN",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    /// <summary>Writes the families in the order given. Names and label names must already be valid; values are escaped here.</summary>
    public static string Write(IEnumerable<MetricFamily> families)
    {
        var text = new StringBuilder(4096);
        foreach (var family in families)
        {
            if (!IsValidMetricName(family.Name))
            {
                throw new ArgumentException($"'{family.Name}' is not a valid Prometheus metric name.", nameof(families));
            }

            text.Append("# HELP ").Append(family.Name).Append(' ').Append(EscapeHelp(family.Help)).Append('\n');
            text.Append("# TYPE ").Append(family.Name).Append(' ').Append(family.Type switch
            {
                MetricType.Counter => "counter",
                MetricType.Gauge => "gauge",
                _ => "histogram",
            }).Append('\n');

            foreach (var series in family.Series)
            {
                if (family.Type != MetricType.Histogram)
                {
                    Sample(text, family.Name, series.Labels, null, series.Value);
                    continue;
                }

                var bounds = family.Bounds ?? [];
                var counts = series.BucketCounts ?? new long[bounds.Count + 1];
                long cumulative = 0;
                for (var i = 0; i < bounds.Count; i++)
                {
                    cumulative += counts[i];
                    Sample(text, family.Name + "_bucket", series.Labels, FormatValue(bounds[i]), cumulative);
                }

                Sample(text, family.Name + "_bucket", series.Labels, "+Inf", series.Count);
                Sample(text, family.Name + "_sum", series.Labels, null, series.Sum);
                Sample(text, family.Name + "_count", series.Labels, null, series.Count);
            }
        }

        return text.ToString();
    }

    private static void Sample(StringBuilder text, string name, IReadOnlyList<KeyValuePair<string, string>> labels, string? le, double value)
    {
        text.Append(name);
        if (labels.Count > 0 || le is not null)
        {
            text.Append('{');
            var first = true;
            foreach (var (key, labelValue) in labels)
            {
                if (!first)
                {
                    text.Append(',');
                }

                first = false;
                text.Append(key).Append("=\"").Append(EscapeLabelValue(labelValue)).Append('"');
            }

            if (le is not null)
            {
                text.Append(first ? "" : ",").Append("le=\"").Append(le).Append('"');
            }

            text.Append('}');
        }

        text.Append(' ').Append(FormatValue(value)).Append('\n');
    }

    private static string UnitSuffix(string? unit, MetricType type)
    {
        if (string.IsNullOrEmpty(unit))
        {
            return "";
        }

        // Annotations such as {task} or {request} carry no unit.
        var plain = System.Text.RegularExpressions.Regex.Replace(unit, @"\{[^}]*\}", "");
        if (plain.Length == 0)
        {
            return "";
        }

        if (plain == "1")
        {
            return type == MetricType.Gauge ? "ratio" : "";
        }

        var parts = plain.Split('/', 2);
        var main = Unit(parts[0]);
        return parts.Length == 2 ? $"{main}_per_{PerUnit(parts[1])}".Trim('_') : main;
    }

    private static string Unit(string unit) => unit switch
    {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "%" => "percent",
        "Hz" => "hertz",
        _ => Sanitize(unit, allowColon: false).Trim('_'),
    };

    private static string PerUnit(string unit) => unit switch
    {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        _ => Unit(unit),
    };

    /// <summary>Replaces every invalid character with an underscore and collapses runs of underscores; a leading digit gets an underscore.</summary>
    private static string Sanitize(string raw, bool allowColon)
    {
        var text = new StringBuilder(raw.Length + 1);
        foreach (var c in raw)
        {
            var ok = char.IsAsciiLetterOrDigit(c) || c == '_' || (allowColon && c == ':');
            var mapped = ok ? c : '_';
            if (mapped == '_' && text.Length > 0 && text[^1] == '_')
            {
                continue;
            }

            text.Append(mapped);
        }

        if (text.Length == 0 || char.IsAsciiDigit(text[0]))
        {
            text.Insert(0, '_');
        }

        return text.ToString();
    }
}
