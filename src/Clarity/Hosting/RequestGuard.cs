using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Clarity.Hosting;

/// <summary>
/// The first check on every request, before anything reads it:
/// - the request target and header block stay within <see cref="LimitOptions"/>: 414 and 431 with a problem body.
///   Kestrel enforces such limits itself, but answers before any middleware runs, with a bare status. So Kestrel's
///   own limits are raised to a hard ceiling (<see cref="ConfigureKestrel"/>) and the configured ones are enforced
///   here; only a request beyond the ceiling still gets Kestrel's bare answer.
/// - a JSON body is UTF-8: a <c>charset</c> other than utf-8 (or one that names no encoding) is 415.
/// </summary>
public sealed class RequestGuard(RequestDelegate next, IOptions<ClarityOptions> options)
{
    /// <summary>Kestrel's limit on the request line (method, target, version): twice the largest MaxUrlBytes.</summary>
    public const int MaxUrlCeiling = 32 * 1024;

    /// <summary>The largest MaxRequestHeadersBytes; Kestrel's own limit is twice this.</summary>
    public const int MaxHeadersCeiling = 64 * 1024;

    /// <summary>The largest MaxRequestHeaderCount; Kestrel's own limit is twice this.</summary>
    public const int MaxHeaderCountCeiling = 500;

    public static void ConfigureKestrel(KestrelServerLimits limits)
    {
        limits.MaxRequestLineSize = 2 * MaxUrlCeiling;
        limits.MaxRequestHeadersTotalSize = 2 * MaxHeadersCeiling;
        limits.MaxRequestHeaderCount = 2 * MaxHeaderCountCeiling;
    }

    public Task InvokeAsync(HttpContext context)
    {
        var limits = options.Value.Limits;
        var request = context.Request;
        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? request.Path.Value + request.QueryString.Value;
        if (target.Length > limits.MaxUrlBytes)
        {
            return ProblemWriter.WriteAsync(context, StatusCodes.Status414UriTooLong, "urn:clarity:problem:uri-too-long", "URI too long",
                $"The request target (path and query) is {target.Length} bytes; the limit is {limits.MaxUrlBytes}.", null);
        }

        var (lines, bytes) = Measure(request.Headers);
        if (lines > limits.MaxRequestHeaderCount || bytes > limits.MaxRequestHeadersBytes)
        {
            var detail = lines > limits.MaxRequestHeaderCount
                ? $"The request has {lines} header lines; the limit is {limits.MaxRequestHeaderCount}."
                : $"The request headers take {bytes} bytes; the limit is {limits.MaxRequestHeadersBytes}.";
            return ProblemWriter.WriteAsync(context, StatusCodes.Status431RequestHeaderFieldsTooLarge, "urn:clarity:problem:headers-too-large",
                "Request header fields too large", detail, null);
        }

        if (!CheckCharset(request))
        {
            return ProblemWriter.WriteAsync(context, StatusCodes.Status415UnsupportedMediaType, "urn:clarity:problem:unsupported-media-type", "Unsupported media type",
                "Send JSON as UTF-8: the charset parameter of Content-Type, when present, must be utf-8.", null);
        }

        return next(context);
    }

    /// <summary>Header lines and their size as sent: "name: value" and a line break for each value.</summary>
    private static (int Lines, long Bytes) Measure(IHeaderDictionary headers)
    {
        var lines = 0;
        long bytes = 0;
        foreach (var (name, values) in headers)
        {
            foreach (var value in values)
            {
                lines++;
                bytes += name.Length + (value?.Length ?? 0) + 4;
            }
        }

        return (lines, bytes);
    }

    /// <summary>
    /// True when every <c>charset</c> parameter of the media type names UTF-8 (<c>utf-8</c> or <c>utf8</c>, quoted or
    /// not), or it has none. Shared by the JSON check here and by endpoints that read other text bodies (workflow YAML).
    /// </summary>
    public static bool CharsetIsUtf8(MediaTypeHeaderValue media) =>
        media.Parameters
            .Where(p => p.Name.Equals("charset", StringComparison.OrdinalIgnoreCase))
            .Select(p => HeaderUtilities.RemoveQuotes(p.Value))
            .All(name => name.Equals("utf-8", StringComparison.OrdinalIgnoreCase) || name.Equals("utf8", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// False for a JSON media type (application/json, …+json) whose charset is anything but UTF-8. UTF-8 spelled
    /// another way (<c>charset="utf-8"</c>, <c>utf8</c>), which the framework's JSON reader does not recognise, is
    /// dropped from the header: JSON without a charset is UTF-8.
    /// </summary>
    private static bool CheckCharset(HttpRequest request)
    {
        if (string.IsNullOrEmpty(request.ContentType) || !MediaTypeHeaderValue.TryParse(request.ContentType, out var media))
        {
            return true; // no JSON to decode here; an endpoint that wants JSON answers 415
        }

        var type = media.MediaType.AsSpan();
        if (!type.Equals("application/json", StringComparison.OrdinalIgnoreCase) && !type.EndsWith("+json", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var charsets = media.Parameters.Where(p => p.Name.Equals("charset", StringComparison.OrdinalIgnoreCase)).ToList();
        if (charsets.Count == 0)
        {
            return true;
        }

        if (!CharsetIsUtf8(media))
        {
            return false;
        }

        if (charsets.Count > 1 || !charsets[0].Value.Equals("utf-8", StringComparison.OrdinalIgnoreCase))
        {
            foreach (var charset in charsets)
            {
                media.Parameters.Remove(charset);
            }

            request.ContentType = media.ToString();
        }

        return true;
    }
}
