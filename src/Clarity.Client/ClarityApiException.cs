using System.Net;

namespace Clarity.Client;

/// <summary>
/// The server answered with an error. Clarity reports every error as RFC 7807 problem+json;
/// <see cref="Type"/> is its stable identifier, e.g. <c>urn:clarity:problem:stale-lease</c>.
/// </summary>
public sealed class ClarityApiException(
    HttpStatusCode statusCode,
    string? type,
    string? title,
    string? detail,
    IReadOnlyDictionary<string, string[]>? errors = null)
    : Exception(FormatMessage(statusCode, type, title, detail))
{
    private const string TypePrefix = "urn:clarity:problem:";

    public HttpStatusCode StatusCode { get; } = statusCode;

    /// <summary>The problem type URI, or null when the answer was not problem+json.</summary>
    public string? Type { get; } = type;

    public string? Title { get; } = title;

    public string? Detail { get; } = detail;

    /// <summary>For validation problems: the messages per field.</summary>
    public IReadOnlyDictionary<string, string[]>? Errors { get; } = errors;

    /// <summary>The short name of the problem type, e.g. <c>stale-lease</c> (see <see cref="ProblemTypes"/>).</summary>
    public string? Problem => Type is not null && Type.StartsWith(TypePrefix, StringComparison.Ordinal) ? Type[TypePrefix.Length..] : null;

    /// <summary>True when this is the given problem, e.g. <c>ex.Is(ProblemTypes.StaleLease)</c>.</summary>
    public bool Is(string problem) => string.Equals(Problem, problem, StringComparison.Ordinal);

    private static string FormatMessage(HttpStatusCode status, string? type, string? title, string? detail)
    {
        var text = detail ?? title ?? status.ToString();
        return type is null ? $"{(int)status}: {text}" : $"{(int)status} {type}: {text}";
    }
}

/// <summary>The problem names the Clarity API uses (the part after <c>urn:clarity:problem:</c>).</summary>
public static class ProblemTypes
{
    public const string Validation = "validation";
    public const string MalformedJson = "malformed-json";
    public const string Unauthorized = "unauthorized";
    public const string Forbidden = "forbidden";
    public const string NotFound = "not-found";
    public const string InvalidTransition = "invalid-transition";
    public const string StaleLease = "stale-lease";
    public const string TaskFinished = "task-finished";
    public const string TooLarge = "too-large";
}
