namespace Clarity.Features.Workflows.Expressions;

/// <summary>The bounds every expression and template is held to. Exceeding one is an error, never a crash.</summary>
public static class ExpressionLimits
{
    /// <summary>Longest expression, in characters (a bare condition, or the text inside one <c>${{ … }}</c>).</summary>
    public const int MaxExpressionLength = 4096;

    /// <summary>Deepest nesting of the syntax tree: brackets, calls, operators and member chains all count.</summary>
    public const int MaxDepth = 64;

    /// <summary>
    /// Largest template source, and largest output one render may produce, in characters. Also the largest string any
    /// function may return (<c>join</c>, <c>format</c>, <c>toJson</c> …).
    /// </summary>
    public const int MaxOutputLength = 1024 * 1024;

    /// <summary>Deepest nesting of a JSON value in a context; deeper values are refused when the context is made.</summary>
    public const int MaxContextDepth = 128;

    /// <summary>Most arguments a function call may take.</summary>
    public const int MaxArguments = 32;
}
