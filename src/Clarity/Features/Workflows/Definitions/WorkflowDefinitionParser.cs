using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Clarity.Features.Workflows.Expressions;
using Clarity.Hosting;

namespace Clarity.Features.Workflows.Definitions;

/// <summary>What the validator checks against besides the file itself.</summary>
public sealed record WorkflowValidationOptions
{
    public static readonly WorkflowValidationOptions Default = new();

    /// <summary>
    /// The org's role names. When given, a task's <c>role:</c> and an approval's <c>from:</c> must name one of them or a
    /// permission (<see cref="KnownPermissions"/>); when null (offline), they are not checked.
    /// </summary>
    public IReadOnlySet<string>? KnownRoles { get; init; }

    /// <summary>The permissions an approval's <c>from:</c> may name; default: every permission there is.</summary>
    public IReadOnlySet<string> KnownPermissions { get; init; } = new HashSet<string>(Permissions.All, StringComparer.Ordinal);

    /// <summary>The most steps a definition may have.</summary>
    public int MaxSteps { get; init; } = WorkflowDefinitionParser.DefaultMaxSteps;
}

/// <summary>A parse: the definition when it is valid, else every problem found (sorted by line and column).</summary>
public sealed record WorkflowParseResult(WorkflowDefinition? Definition, IReadOnlyList<DefinitionProblem> Problems)
{
    public bool IsValid => Definition is not null && Problems.Count == 0;
}

/// <summary>
/// Parses and validates a workflow definition written in YAML. It never stops at the first problem and never throws on
/// bad input: every problem comes back with its line, column, path and code.
/// </summary>
public static partial class WorkflowDefinitionParser
{
    /// <summary>The largest definition accepted, in UTF-8 bytes (1 MiB). An API answers 413 above it.</summary>
    public const int MaxBytes = 1024 * 1024;

    /// <summary>The default for <see cref="WorkflowValidationOptions.MaxSteps"/>.</summary>
    public const int DefaultMaxSteps = 10_000;

    /// <summary>Parses <paramref name="yaml"/>; see <see cref="WorkflowParseResult"/>.</summary>
    public static WorkflowParseResult Parse(string yaml, WorkflowValidationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        options ??= WorkflowValidationOptions.Default;
        if (yaml.Length > MaxBytes || Encoding.UTF8.GetByteCount(yaml) > MaxBytes)
        {
            return new(null, [new DefinitionProblem(1, 1, "", DefinitionProblemCodes.TooLarge, $"the definition is larger than {MaxBytes / 1024} KiB")]);
        }

        if (yaml.StartsWith('\uFEFF'))
        {
            yaml = yaml[1..]; // editors do not count the byte-order mark as a column either
        }

        var source = new SourceText(yaml);
        var problems = new List<DefinitionProblem>();
        var root = YamlReader.Read(source, problems);
        WorkflowDefinition? definition = null;
        if (root is not null || problems.Count == 0)
        {
            definition = new Validator(problems, options).Run(root);
        }

        var sorted = problems.Distinct().OrderBy(p => p.Line).ThenBy(p => p.Column).ToList();
        return new(sorted.Count == 0 ? definition : null, sorted);
    }

    /// <summary>
    /// The YAML as JSON (mappings as objects, lists as arrays, scalars typed by the YAML 1.2 core schema), for checking
    /// against the JSON Schema; null with problems when it cannot be read.
    /// </summary>
    public static (JsonNode? Json, IReadOnlyList<DefinitionProblem> Problems) ToJson(string yaml)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        var problems = new List<DefinitionProblem>();
        var root = YamlReader.Read(new SourceText(yaml), problems);
        return (problems.Count == 0 ? root?.ToJson() : null, problems);
    }

    /// <summary>Step ids, input and workflow names: a lower-case letter, then up to 62 of a-z, 0-9, '_' and '-'.</summary>
    [GeneratedRegex(@"^[a-z][a-z0-9_-]{0,62}\z", RegexOptions.CultureInvariant)]
    internal static partial Regex Identifier();

    /// <summary>Queue, role and signal names: a letter or digit, then up to 127 of letters, digits and '_', '-', '.', ':'.</summary>
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\z", RegexOptions.CultureInvariant)]
    internal static partial Regex Name();

    /// <summary>
    /// Checks the names expressions read: <c>inputs.x</c> must be a declared input; <c>steps.x</c> must be a step, and
    /// one upstream of the step holding the expression (reachable through its <c>needs</c>).
    /// </summary>
    internal static List<DefinitionProblem> CheckReferences(
        IReadOnlySet<string> inputNames, IReadOnlyList<string> stepIds, IReadOnlyList<IReadOnlyList<string>> needs, IEnumerable<ReferenceSite> sites,
        SuggestionBudget? budget = null)
    {
        budget ??= new SuggestionBudget();
        var problems = new List<DefinitionProblem>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < stepIds.Count; i++)
        {
            index.TryAdd(stepIds[i], i);
        }

        ulong[][]? ancestors = null;
        var ancestorsComputed = false;
        foreach (var site in sites)
        {
            var (reference, at) = (site.Reference, site.Position);
            if (reference.Root == "inputs" && !inputNames.Contains(reference.Name))
            {
                problems.Add(new(at.Line, at.Column, site.Path, DefinitionProblemCodes.UnknownInput,
                    $"inputs.{reference.Name} is not declared under inputs{Suggest(reference.Name, inputNames, budget)}"));
            }
            else if (reference.Root == "steps")
            {
                var here = stepIds[site.StepIndex];
                if (!index.TryGetValue(reference.Name, out var target))
                {
                    problems.Add(new(at.Line, at.Column, site.Path, DefinitionProblemCodes.UnknownStep,
                        $"steps.{reference.Name} names no step{Suggest(reference.Name, stepIds, budget)}"));
                    continue;
                }

                if (!ancestorsComputed)
                {
                    ancestors = WorkflowGraph.Ancestors(stepIds, needs);
                    ancestorsComputed = true;
                }

                // With a cycle (reported on its own) upstream is not defined; only a step reading itself is flagged then.
                var upstream = ancestors is null
                    ? target != site.StepIndex
                    : (ancestors[site.StepIndex][target / 64] & (1UL << (target % 64))) != 0;
                if (!upstream)
                {
                    problems.Add(new(at.Line, at.Column, site.Path, DefinitionProblemCodes.NotUpstream,
                        $"steps.{reference.Name} is not upstream of {here}; add it to needs"));
                }
            }
        }

        return problems;
    }

    /// <summary>A name an expression in step <see cref="StepIndex"/> reads, and where.</summary>
    internal sealed record ReferenceSite(int StepIndex, ExpressionReference Reference, SourcePosition Position, string Path);

    /// <summary>
    /// Bounds the work of suggestions over one parse: a file with thousands of unknown names among thousands of step
    /// ids would otherwise compare every pair. Counted in compared character pairs; when spent, suggestions stop.
    /// </summary>
    internal sealed class SuggestionBudget
    {
        public long Remaining { get; set; } = 2_000_000;
    }

    /// <summary>" (did you mean 'x'?)" for the closest candidate within a few edits, else "".</summary>
    internal static string Suggest(string word, IEnumerable<string> candidates, SuggestionBudget? budget = null)
    {
        if (word.Length is 0 or > 128)
        {
            return "";
        }

        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var c in candidates)
        {
            if (budget is not null && (budget.Remaining -= (long)word.Length * Math.Max(1, c.Length)) < 0)
            {
                return "";
            }

            // A misspelt start of a longer name counts too ('tiemout' → 'timeoutSeconds'), one edit dearer.
            var d = Distance(word, c);
            if (word.Length >= 4 && c.Length > word.Length && c.Length <= 128)
            {
                d = Math.Min(d, Distance(word, c[..word.Length]) + 1);
            }

            if (d < bestDistance)
            {
                (best, bestDistance) = (c, d);
            }
        }

        return best is not null && bestDistance <= Math.Max(2, word.Length / 3) ? $" (did you mean '{best}'?)" : "";
    }

    /// <summary>Edits between two names, ignoring case; swapping two neighbours is one edit (optimal string alignment).</summary>
    private static int Distance(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > 8 || a.Length > 128 || b.Length > 128)
        {
            return int.MaxValue;
        }

        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 2]) && char.ToLowerInvariant(a[i - 2]) == char.ToLowerInvariant(b[j - 1]))
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
