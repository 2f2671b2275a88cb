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
/// The workflow expression language, checked without evaluating anything: <c>when:</c> conditions and strings with
/// <c>${{ … }}</c> templates. Contract shared by the definition validator; the language itself lives beside it.
/// </summary>
public static class WorkflowExpressions
{
    /// <summary>Checks a <c>when:</c> condition: a bare expression, or one wrapped whole in <c>${{ … }}</c>.</summary>
    public static ExpressionCheck CheckCondition(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return ExpressionCheck.Empty;
    }

    /// <summary>Checks a string that holds zero or more <c>${{ expression }}</c> parts among literal text.</summary>
    public static ExpressionCheck CheckTemplate(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return ExpressionCheck.Empty;
    }
}
