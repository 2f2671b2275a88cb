using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Clarity.Bench.Harness;

/// <summary>Latency samples in milliseconds.</summary>
public sealed class Samples
{
    private readonly List<double> _ms = [];
    private readonly Lock _gate = new();

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _ms.Count;
            }
        }
    }

    public void Add(double ms)
    {
        lock (_gate)
        {
            _ms.Add(ms);
        }
    }

    public void AddSince(long startTimestamp) => Add(Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds);

    /// <summary>Nearest-rank percentile (p in 0..100).</summary>
    public double Percentile(double p)
    {
        lock (_gate)
        {
            if (_ms.Count == 0)
            {
                return double.NaN;
            }

            var sorted = _ms.Order().ToArray();
            var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
            return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
        }
    }

    public double Max
    {
        get
        {
            lock (_gate)
            {
                return _ms.Count == 0 ? double.NaN : _ms.Max();
            }
        }
    }
}

/// <summary>One measured figure, with its target when the brief sets one.</summary>
public sealed record Figure(string Scenario, string Backend, string Metric, double Value, string Unit, string? Target, bool? Met, string Notes);

/// <summary>Collects figures, prints them as Markdown tables as they arrive and writes them out as JSON at the end.</summary>
public sealed class Report
{
    private readonly List<Figure> _figures = [];
    private readonly List<(string Scenario, string Markdown)> _tables = [];

    public IReadOnlyList<Figure> Figures => _figures;

    public Dictionary<string, object?> Environment { get; } = [];

    /// <summary>Collects without printing (the warm-up run).</summary>
    public bool Quiet { get; init; }

    public void Add(string scenario, Backend? backend, string metric, double value, string unit, string? target = null, bool? met = null, string notes = "")
    {
        var figure = new Figure(scenario, backend?.ToString().ToLowerInvariant() ?? "-", metric, value, unit, target, met, notes);
        _figures.Add(figure);
        if (Quiet)
        {
            return;
        }

        Console.WriteLine($"    {figure.Backend,-9} {metric,-42} {Format(value),12} {unit,-10} {(target is null ? "" : $"target {target}: {(met == true ? "met" : "MISSED")}")} {notes}");
    }

    /// <summary>A scenario's own Markdown (e.g. a side-by-side table), written after that scenario's figures.</summary>
    public void AddTable(string scenario, string markdown) => _tables.Add((scenario, markdown));

    public static string Format(double value) =>
        double.IsNaN(value) ? "n/a"
        : value >= 1000 ? value.ToString("N0", CultureInfo.InvariantCulture)
        : value >= 100 ? value.ToString("F0", CultureInfo.InvariantCulture)
        : value >= 10 ? value.ToString("F1", CultureInfo.InvariantCulture)
        : value.ToString("F2", CultureInfo.InvariantCulture);

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        foreach (var group in _figures.GroupBy(f => f.Scenario))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"### {group.Key}");
            sb.AppendLine();
            sb.AppendLine("| backend | metric | value | unit | target | notes |");
            sb.AppendLine("|---|---|---:|---|---|---|");
            foreach (var f in group)
            {
                var target = f.Target is null ? "" : $"{f.Target} ({(f.Met == true ? "met" : "**missed**")})";
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {f.Backend} | {f.Metric} | {Format(f.Value)} | {f.Unit} | {target} | {f.Notes} |");
            }

            sb.AppendLine();
            foreach (var (_, markdown) in _tables.Where(t => t.Scenario == group.Key))
            {
                sb.AppendLine(markdown);
            }
        }

        return sb.ToString();
    }

    /// <summary>The figures as JSON; a figure with no value (a percentile of no samples, a rate over no time) is written as "NaN" or "Infinity".</summary>
    public string ToJson() => JsonSerializer.Serialize(
        new { environment = Environment, figures = _figures, tables = _tables.Select(t => new { scenario = t.Scenario, markdown = t.Markdown }) },
        new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals });
}
