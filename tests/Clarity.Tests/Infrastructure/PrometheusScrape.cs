using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Xunit;

namespace Clarity.Tests.Infrastructure;

/// <summary>One sample line of a scrape: its name, labels and value.</summary>
public sealed record PromSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public bool Has(params (string Name, string Value)[] labels) => labels.All(l => Labels.TryGetValue(l.Name, out var v) && v == l.Value);
}

/// <summary>A metric family of a scrape: HELP, TYPE and its samples, in the order they were written.</summary>
public sealed class PromFamily(string name)
{
    public string Name { get; } = name;

    public string? Type { get; set; }

    public string? Help { get; set; }

    public List<PromSample> Samples { get; } = [];

    /// <summary>The value of the one sample with this name carrying these labels (among others), or null.</summary>
    public double? Value(string sampleName, params (string Name, string Value)[] labels) =>
        Samples.Where(s => s.Name == sampleName && s.Has(labels)).Select(s => (double?)s.Value).SingleOrDefault();
}

/// <summary>
/// A strict reader of the Prometheus text exposition format 0.0.4 that fails the test on any rule it breaks:
/// valid metric and label names, only the three label-value escapes, one HELP and one TYPE per family before its
/// samples, each family's lines together, counters named _total with finite non-negative values, no duplicate series,
/// and histograms with ascending le bounds, cumulative bucket counts, a +Inf bucket equal to _count, and _sum.
/// </summary>
public static partial class PrometheusScrape
{
    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelName();

    public static IReadOnlyDictionary<string, PromFamily> Parse(string text)
    {
        Assert.True(text.Length == 0 || text.EndsWith('\n'), "The exposition must end with a line feed.");
        Assert.DoesNotContain("\r", text, StringComparison.Ordinal);
        var families = new Dictionary<string, PromFamily>(StringComparer.Ordinal);
        var series = new HashSet<string>(StringComparer.Ordinal);
        PromFamily? current = null;
        var lineNo = 0;
        foreach (var line in text.Split('\n')[..^1])
        {
            lineNo++;
            var where = $"line {lineNo}: {line}";
            Assert.False(string.IsNullOrWhiteSpace(line), $"Blank line at {where}");
            if (line.StartsWith("# HELP ", StringComparison.Ordinal) || line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ', 4);
                Assert.True(parts.Length >= 3, where);
                var name = parts[2];
                Assert.Matches(MetricName(), name);
                if (!families.TryGetValue(name, out var family))
                {
                    family = new PromFamily(name);
                    families[name] = family;
                }
                else
                {
                    Assert.True(ReferenceEquals(family, current) && family.Samples.Count == 0, $"HELP/TYPE of {name} after its samples or apart from them, {where}");
                }

                current = family;
                if (parts[1] == "HELP")
                {
                    Assert.Null(family.Help);
                    family.Help = Unescape(parts.Length == 4 ? parts[3] : "", help: true, where);
                }
                else
                {
                    Assert.Null(family.Type);
                    Assert.Equal(4, parts.Length);
                    Assert.Contains(parts[3], new[] { "counter", "gauge", "histogram", "summary", "untyped" });
                    family.Type = parts[3];
                }

                continue;
            }

            Assert.False(line.StartsWith('#'), $"Unexpected comment at {where}");
            var sample = ParseSample(line, where);
            Assert.NotNull(current);
            Assert.NotNull(current.Type);
            var expected = current.Type == "histogram"
                ? new[] { current.Name + "_bucket", current.Name + "_sum", current.Name + "_count" }
                : [current.Name];
            Assert.True(expected.Contains(sample.Name), $"Sample {sample.Name} does not belong to family {current.Name} ({current.Type}) at {where}");
            var key = sample.Name + "{" + string.Join(",", sample.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")) + "}";
            Assert.True(series.Add(key), $"Duplicate series {key} at {where}");
            current.Samples.Add(sample);
        }

        foreach (var family in families.Values)
        {
            Assert.NotNull(family.Type);
            if (family.Type == "counter")
            {
                Assert.EndsWith("_total", family.Name, StringComparison.Ordinal);
                Assert.All(family.Samples, s => Assert.True(double.IsFinite(s.Value) && s.Value >= 0, $"{family.Name} has a counter value {s.Value}"));
            }

            if (family.Type == "histogram")
            {
                CheckHistogram(family);
            }
        }

        return families;
    }

    private static void CheckHistogram(PromFamily family)
    {
        foreach (var group in family.Samples.GroupBy(s => string.Join(",", s.Labels.Where(l => l.Key != "le").OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}"))))
        {
            var buckets = group.Where(s => s.Name.EndsWith("_bucket", StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(buckets);
            var previousLe = double.NegativeInfinity;
            var previousCount = 0.0;
            foreach (var bucket in buckets)
            {
                Assert.True(bucket.Labels.TryGetValue("le", out var leText), $"{family.Name} bucket without le");
                var le = ParseValue(leText!, family.Name);
                Assert.True(le > previousLe, $"{family.Name}{{{group.Key}}}: le {leText} is not above the previous bound");
                Assert.True(bucket.Value >= previousCount, $"{family.Name}{{{group.Key}}}: bucket le={leText} holds {bucket.Value}, fewer than the bucket before ({previousCount}): not cumulative");
                previousLe = le;
                previousCount = bucket.Value;
            }

            Assert.True(double.IsPositiveInfinity(previousLe), $"{family.Name}{{{group.Key}}}: the last bucket must be le=\"+Inf\"");
            var count = group.SingleOrDefault(s => s.Name == family.Name + "_count");
            var sum = group.SingleOrDefault(s => s.Name == family.Name + "_sum");
            Assert.True(count is not null && sum is not null, $"{family.Name}{{{group.Key}}} lacks _count or _sum");
            Assert.Equal(previousCount, count.Value);
        }
    }

    private static PromSample ParseSample(string line, string where)
    {
        var i = 0;
        while (i < line.Length && line[i] != '{' && line[i] != ' ')
        {
            i++;
        }

        var name = line[..i];
        Assert.Matches(MetricName(), name);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                var eq = line.IndexOf('=', i);
                Assert.True(eq > i, $"Malformed labels at {where}");
                var labelName = line[i..eq];
                Assert.Matches(LabelName(), labelName);
                Assert.False(labelName.StartsWith("__", StringComparison.Ordinal), $"Reserved label name at {where}");
                Assert.True(line[eq + 1] == '"', $"Label value must be quoted at {where}");
                var value = new StringBuilder();
                var j = eq + 2;
                for (; line[j] != '"'; j++)
                {
                    if (line[j] == '\\')
                    {
                        j++;
                        value.Append(line[j] switch
                        {
                            '\\' => '\\',
                            '"' => '"',
                            'n' => '\n',
                            _ => throw new Xunit.Sdk.XunitException($"Invalid escape \\{line[j]} at {where}"),
                        });
                    }
                    else
                    {
                        value.Append(line[j]);
                    }
                }

                Assert.True(labels.TryAdd(labelName, value.ToString()), $"Label {labelName} twice at {where}");
                i = j + 1;
                if (line[i] == ',')
                {
                    i++;
                }
                else
                {
                    Assert.True(line[i] == '}', $"Expected , or }} after a label at {where}");
                }
            }

            i++;
        }

        Assert.True(i < line.Length && line[i] == ' ', $"Expected a space before the value at {where}");
        var rest = line[(i + 1)..];
        Assert.DoesNotContain(" ", rest, StringComparison.Ordinal);
        return new PromSample(name, labels, ParseValue(rest, where));
    }

    private static double ParseValue(string text, string where) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw new Xunit.Sdk.XunitException($"Bad value '{text}' at {where}"),
    };

    private static string Unescape(string text, bool help, string where)
    {
        var result = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\')
            {
                result.Append(text[i]);
                continue;
            }

            i++;
            Assert.True(i < text.Length && (text[i] is '\\' or 'n' || (!help && text[i] == '"')), $"Invalid escape at {where}");
            result.Append(text[i] == 'n' ? '\n' : text[i]);
        }

        return result.ToString();
    }

    /// <summary>
    /// Runs Prometheus's own linter and parser, <c>promtool check metrics</c> (from Debian's prometheus package; test.sh puts it on PATH),
    /// over the scrape. Fails when promtool is missing: these tests never skip.
    /// </summary>
    public static async Task<(int ExitCode, string Output)> PromtoolAsync(string text)
    {
        var promtool = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':')
            .Append("/usr/bin")
            .Select(dir => Path.Combine(dir, "promtool"))
            .FirstOrDefault(File.Exists);
        Assert.True(promtool is not null, "promtool is not on PATH: ./test.sh unpacks it from Debian's prometheus package into .tools/ (scripts/promtool.sh); or `apt-get install -y prometheus`. The metrics format tests never skip.");
        var start = new ProcessStartInfo(promtool, ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(text);
        process.StandardInput.Close();
        await process.WaitForExitAsync();
        return (process.ExitCode, (await stdout) + (await stderr));
    }
}
