using System.Collections.Frozen;

namespace Clarity.Features.Workflows.Expressions;

/// <summary>
/// The names an expression may read (its roots) and the shape of each. <see cref="Workflow"/> is the workflow
/// definitions' syntax: <c>inputs.&lt;name&gt;</c> and <c>steps.&lt;id&gt;.output|status</c>. Other users of the language
/// (guards) declare their own roots; those are read freely.
/// </summary>
public sealed class ExpressionSyntax
{
    private readonly FrozenDictionary<string, RootRule> rules;

    /// <summary>A syntax whose expressions may read the given roots, with no rule on their shape.</summary>
    public ExpressionSyntax(IEnumerable<string> roots)
        : this(roots.Select(r => KeyValuePair.Create(r, RootRule.Free(r))))
    {
    }

    private ExpressionSyntax(IEnumerable<KeyValuePair<string, RootRule>> rules)
    {
        this.rules = rules.ToFrozenDictionary(StringComparer.Ordinal);
        foreach (var name in this.rules.Keys)
        {
            if (!ExpressionLexer.IsPlainName(name) || name.Contains('-', StringComparison.Ordinal))
            {
                throw new ArgumentException($"'{name}' cannot be a root name.", nameof(rules));
            }
        }
    }

    /// <summary>
    /// Workflow definitions: <c>inputs</c> is read by literal input name (<c>inputs.topic</c>, <c>inputs['topic']</c>) or
    /// whole; <c>steps</c> by literal step id, then <c>output</c> or <c>status</c>.
    /// </summary>
    public static ExpressionSyntax Workflow { get; } = new([
        KeyValuePair.Create("inputs", new RootRule(LiteralAccesses: 1, RequiredAccesses: 0, SecondMembers: null, Example: "inputs.topic")),
        KeyValuePair.Create("steps", new RootRule(LiteralAccesses: 2, RequiredAccesses: 1, SecondMembers: ["output", "status"], Example: "steps.draft.output")),
    ]);

    /// <summary>The root names an expression may read.</summary>
    public IReadOnlyCollection<string> Roots => rules.Keys;

    internal bool IsRoot(string name) => rules.ContainsKey(name);

    internal int LiteralAccesses(string root) => rules.TryGetValue(root, out var rule) ? rule.LiteralAccesses : 0;

    internal int RequiredAccesses(string root) => rules.TryGetValue(root, out var rule) ? rule.RequiredAccesses : 0;

    internal IReadOnlyList<string>? AllowedMembers(string root, int access) =>
        access == 1 && rules.TryGetValue(root, out var rule) ? rule.SecondMembers : null;

    internal string Example(string root) => rules.TryGetValue(root, out var rule) ? rule.Example : root;

    private sealed record RootRule(int LiteralAccesses, int RequiredAccesses, string[]? SecondMembers, string Example)
    {
        public static RootRule Free(string root) => new(0, 0, null, $"{root}.name");
    }
}
