namespace Clarity.Features.Workflows.Expressions;

/// <summary>
/// An expression or template could not be used: it failed its check (it is never executed then), or evaluating it met
/// a type mismatch, a bad argument or a bound. The offset and length point into the source text that was parsed.
/// </summary>
public sealed class ExpressionException : Exception
{
    public ExpressionException()
        : this(0, 0, "The expression is not valid.")
    {
    }

    public ExpressionException(string message)
        : this(0, 0, message)
    {
    }

    public ExpressionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public ExpressionException(int offset, int length, string message)
        : base(message)
    {
        Offset = offset;
        Length = length;
    }

    /// <summary>Where the problem starts, as a 0-based character offset into the source text.</summary>
    public int Offset { get; }

    /// <summary>How many characters the problem spans (0 at the end of the text).</summary>
    public int Length { get; }

    /// <summary>The problem as a check error.</summary>
    public ExpressionError ToError() => new(Offset, Length, Message);

    internal static ExpressionException From(ExpressionError error) => new(error.Offset, error.Length, error.Message);
}
