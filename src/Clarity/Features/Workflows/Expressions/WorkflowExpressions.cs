using System.Collections.Concurrent;
using System.Text.Json.Nodes;

namespace Clarity.Features.Workflows.Expressions;

/// <summary>A problem in an expression or template, at a character offset (0-based) within its source text.</summary>
public sealed record ExpressionError(int Offset, int Length, string Message);

/// <summary>
/// A name an expression reads from its context: <c>inputs.topic</c> is (<c>inputs</c>, <c>topic</c>),
/// <c>steps.draft.output.text</c> is (<c>steps</c>, <c>draft</c>). Offset is where the reference starts in the source.
/// </summary>
public sealed record ExpressionReference(int Offset, string Root, string Name);

/// <summary>What checking an expression or a template found: its errors and the names it reads.</summary>
public sealed record ExpressionCheck(IReadOnlyList<ExpressionError> Errors, IReadOnlyList<ExpressionReference> References)
{
    public static readonly ExpressionCheck Empty = new([], []);

    public bool IsValid => Errors.Count == 0;
}

/// <summary>
/// The workflow expression language: <c>when:</c> conditions and strings with <c>${{ … }}</c> templates, checked without
/// evaluating anything (the definition validator's contract), and evaluated against an <see cref="ExpressionContext"/>.
/// The language reference is docs/workflow-expressions.md.
/// </summary>
public static class WorkflowExpressions
{
    private static readonly ParseCache<ParsedExpression> Conditions = new();
    private static readonly ParseCache<ParsedTemplate> Templates = new();

    /// <summary>Checks a <c>when:</c> condition: a bare expression, or one wrapped whole in <c>${{ … }}</c>.</summary>
    public static ExpressionCheck CheckCondition(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return Conditions.Get(source, static s => ParsedExpression.ParseCondition(s)).Check;
    }

    /// <summary>Checks a string that holds zero or more <c>${{ expression }}</c> parts among literal text.</summary>
    public static ExpressionCheck CheckTemplate(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return Templates.Get(source, static s => ParsedTemplate.Parse(s)).Check;
    }

    /// <summary>
    /// Evaluates a <c>when:</c> condition (parsed once and cached): false, null, 0 and "" are false, anything else true.
    /// Throws <see cref="ExpressionException"/> when the condition has check errors (it is not run) or evaluation fails.
    /// </summary>
    public static bool EvaluateCondition(string source, ExpressionContext context)
    {
        ArgumentNullException.ThrowIfNull(source);
        return Conditions.Get(source, static s => ParsedExpression.ParseCondition(s)).EvaluateCondition(context);
    }

    /// <summary>
    /// Renders a template (parsed once and cached): exactly one <c>${{ expr }}</c> gives the expression's typed JSON
    /// value; anything else gives a string. Throws <see cref="ExpressionException"/>.
    /// </summary>
    public static JsonNode? RenderTemplate(string source, ExpressionContext context)
    {
        ArgumentNullException.ThrowIfNull(source);
        return Templates.Get(source, static s => ParsedTemplate.Parse(s)).Render(context);
    }

    /// <summary>
    /// Renders every string inside a JSON value (a step's <c>input:</c>) as a template and returns a new value; other
    /// values are copied, and object keys are left as they are. The whole value shares one output bound.
    /// </summary>
    public static JsonNode? RenderJson(JsonNode? value, ExpressionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return RenderNode(value, context, new RenderBudget());
    }

    /// <summary>Checks every string inside a JSON value as a template; each result is paired with the string's JSON path.</summary>
    public static IReadOnlyList<(string Path, ExpressionCheck Check)> CheckJson(JsonNode? value)
    {
        var results = new List<(string, ExpressionCheck)>();
        CheckNode(value, results);
        return results;
    }

    /// <summary>Escapes literal text so that it renders as itself: every <c>${{</c> becomes <c>$${{</c>.</summary>
    public static string EscapeTemplate(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Replace("${{", "$${{", StringComparison.Ordinal);
    }

    private static JsonNode? RenderNode(JsonNode? node, ExpressionContext context, RenderBudget budget)
    {
        switch (node)
        {
            case JsonObject obj:
                var renderedObject = new JsonObject();
                foreach (var (key, item) in obj)
                {
                    renderedObject[key] = RenderNode(item, context, budget);
                }

                return renderedObject;
            case JsonArray array:
                var renderedArray = new JsonArray();
                foreach (var item in array)
                {
                    renderedArray.Add(RenderNode(item, context, budget));
                }

                return renderedArray;
            case JsonValue leaf when leaf.TryGetValue<string>(out var text):
                return Templates.Get(text, static s => ParsedTemplate.Parse(s)).Render(context, budget);
            default:
                return node?.DeepClone();
        }
    }

    private static void CheckNode(JsonNode? node, List<(string, ExpressionCheck)> results)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (_, item) in obj)
                {
                    CheckNode(item, results);
                }

                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    CheckNode(item, results);
                }

                break;
            case JsonValue leaf when leaf.TryGetValue<string>(out var text):
                results.Add((leaf.GetPath(), CheckTemplate(text)));
                break;
        }
    }

    /// <summary>
    /// A bounded cache of parsed sources: parse once, evaluate many. It holds at most a few megabytes of source text
    /// and starts over when full, so sources a client sends cannot grow it without bound.
    /// </summary>
    private sealed class ParseCache<T>
        where T : class
    {
        private const int MaxCachedChars = 4 * 1024 * 1024;
        private const int MaxEntries = 4096;
        private readonly ConcurrentDictionary<string, T> entries = new(StringComparer.Ordinal);
        private long cachedChars;

        public T Get(string source, Func<string, T> parse)
        {
            if (entries.TryGetValue(source, out var cached))
            {
                return cached;
            }

            var parsed = parse(source);
            if (source.Length > ExpressionLimits.MaxExpressionLength * 4)
            {
                return parsed;
            }

            if (Interlocked.Add(ref cachedChars, source.Length) > MaxCachedChars || entries.Count >= MaxEntries)
            {
                entries.Clear();
                Interlocked.Exchange(ref cachedChars, source.Length);
            }

            return entries.GetOrAdd(source, parsed);
        }
    }
}
