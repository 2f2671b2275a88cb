namespace Clarity.Hosting;

/// <summary>
/// An error that becomes an RFC 7807 problem+json response. <see cref="Type"/> is a stable identifier
/// (urn:clarity:problem:{slug}) that clients can switch on.
/// </summary>
public sealed class ApiException(int status, string slug, string title, string detail, IReadOnlyDictionary<string, string[]>? errors = null)
    : Exception(detail)
{
    public int Status { get; } = status;

    public string Type { get; } = "urn:clarity:problem:" + slug;

    public string Title { get; } = title;

    public IReadOnlyDictionary<string, string[]>? Errors { get; } = errors;

    /// <summary>Sent as <c>Retry-After</c> (whole seconds, at least 1) when set.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>More members of the problem body (RFC 9457 extension members), e.g. every problem of a workflow definition.</summary>
    public IReadOnlyDictionary<string, object?>? Extensions { get; init; }
}

public static class Problems
{
    public static ApiException Validation(string field, string message) =>
        new(400, "validation", "Invalid request", $"{field}: {message}", new Dictionary<string, string[]> { [field] = [message] });

    public static ApiException BadRequest(string slug, string detail) => new(400, slug, "Bad request", detail);

    public static ApiException Unauthorized(string detail) => new(401, "unauthorized", "Not authenticated", detail);

    public static ApiException Forbidden(string detail) => new(403, "forbidden", "Not allowed", detail);

    public static ApiException NotFound(string what) => new(404, "not-found", "Not found", $"{what} was not found.");

    public static ApiException Conflict(string slug, string detail) => new(409, slug, "Conflict", detail);

    public static ApiException TooLarge(string detail) => new(413, "too-large", "Payload too large", detail);

    public static ApiException UnsupportedMediaType(string detail) => new(415, "unsupported-media-type", "Unsupported media type", detail);

    public static ApiException RateLimited(string detail, TimeSpan retryAfter) =>
        new(429, "rate-limited", "Too many requests", detail) { RetryAfter = retryAfter };

    /// <summary>Whole seconds, rounded up and at least 1: the value of a <c>Retry-After</c> header.</summary>
    public static long RetryAfterSeconds(TimeSpan wait) => Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds));
}

/// <summary>Small guard helpers that throw a 400 naming the field.</summary>
public static class Check
{
    public static string Required(string? value, string field, int maxLength = 200)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw Problems.Validation(field, "is required.");
        }

        if (value.Length > maxLength)
        {
            throw Problems.Validation(field, $"must be at most {maxLength} characters.");
        }

        NoNul(value, field);
        return value.Trim();
    }

    public static string? Optional(string? value, string field, int maxLength = 200)
    {
        if (value is null)
        {
            return null;
        }

        if (value.Length > maxLength)
        {
            throw Problems.Validation(field, $"must be at most {maxLength} characters.");
        }

        NoNul(value, field);
        return value;
    }

    /// <summary>PostgreSQL text cannot hold U+0000, so it is refused everywhere for both backends alike.</summary>
    public static void NoNul(string value, string field)
    {
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw Problems.Validation(field, "must not contain the NUL character.");
        }
    }

    public static int Range(int? value, string field, int min, int max, int fallback)
    {
        var v = value ?? fallback;
        if (v < min || v > max)
        {
            throw Problems.Validation(field, $"must be between {min} and {max}.");
        }

        return v;
    }

    public static IReadOnlyList<string> Labels(IReadOnlyList<string>? labels, string field)
    {
        if (labels is null)
        {
            return [];
        }

        if (labels.Count > 64)
        {
            throw Problems.Validation(field, "may hold at most 64 labels.");
        }

        var result = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var label in labels)
        {
            if (string.IsNullOrWhiteSpace(label) || label.Length > 100 || label.Any(char.IsControl))
            {
                throw Problems.Validation(field, "labels must be non-empty strings of at most 100 characters, without control characters.");
            }

            result.Add(label.Trim());
        }

        return [.. result];
    }
}
