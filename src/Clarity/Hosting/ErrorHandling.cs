using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Features;

namespace Clarity.Hosting;

/// <summary>Turns every failure into problem+json. A 500 is always a bug and is logged as one.</summary>
public sealed partial class ErrorHandlingMiddleware(RequestDelegate next, ILogger<ErrorHandlingMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
        }
        catch (ApiException ex)
        {
            await ProblemWriter.WriteAsync(context, ex.Status, ex.Type, ex.Title, ex.Message, ex.Errors, ex.RetryAfter);
        }
        catch (BadHttpRequestException ex)
        {
            var (status, slug, detail, errors) = Describe(ex);
            await ProblemWriter.WriteAsync(context, status, "urn:clarity:problem:" + slug, status == 413 ? "Payload too large" : "Bad request", detail, errors);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nobody is listening for an answer.
        }
        catch (Exception ex)
        {
            Log.Unhandled(logger, ex, context.Request.Method, context.Request.Path);
            await ProblemWriter.WriteAsync(context, 500, "urn:clarity:problem:internal", "Internal error", "An unexpected error occurred. It has been logged.", null);
        }
    }

    private static (int Status, string Slug, string Detail, IReadOnlyDictionary<string, string[]>? Errors) Describe(BadHttpRequestException ex)
    {
        if (ex.StatusCode == 413)
        {
            return (413, "too-large", "The request body is larger than the configured limit.", null);
        }

        if (ex.StatusCode == 415)
        {
            return (415, "unsupported-media-type", "Send the body as application/json.", null);
        }

        for (Exception? inner = ex; inner is not null; inner = inner.InnerException)
        {
            if (inner is JsonException json)
            {
                var field = string.IsNullOrEmpty(json.Path) || json.Path == "$" ? "body" : json.Path.TrimStart('$', '.');
                var message = json.Message.Split(" Path:", 2)[0];
                if (message.Contains("could not be converted", StringComparison.Ordinal))
                {
                    message = "has the wrong JSON type for this field.";
                }
                return (400, "malformed-json", $"The request body is not valid JSON for this endpoint at '{field}': {message}",
                    new Dictionary<string, string[]> { [field] = [message] });
            }

            if (inner is BadHttpRequestException { StatusCode: 413 })
            {
                return (413, "too-large", "The request body is larger than the configured limit.", null);
            }
        }

        if (ex.Message.Contains("no body was provided", StringComparison.Ordinal))
        {
            // The framework's wording ("Implicit body inferred … Did you mean to use a Service instead?") is meant for the server's developer.
            return (400, "malformed-json", "The request body is required: send a JSON body.", new Dictionary<string, string[]> { ["body"] = ["is required."] });
        }

        return (ex.StatusCode is >= 400 and < 500 ? ex.StatusCode : 400, "bad-request", ex.Message, null);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Unhandled error on {Method} {Path}")]
        public static partial void Unhandled(ILogger logger, Exception error, string method, string path);
    }
}

public static class ProblemWriter
{
    public static async Task WriteAsync(HttpContext context, int status, string type, string title, string detail, IReadOnlyDictionary<string, string[]>? errors, TimeSpan? retryAfter = null)
    {
        if (context.Response.HasStarted)
        {
            return;
        }

        context.Response.Clear();
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/problem+json";
        if (retryAfter is { } wait)
        {
            context.Response.Headers.RetryAfter = Problems.RetryAfterSeconds(wait).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var body = new Dictionary<string, object?>
        {
            ["type"] = type,
            ["title"] = title,
            ["status"] = status,
            ["detail"] = detail,
            ["instance"] = context.Request.Path.Value,
            ["correlationId"] = CorrelationId.Get(context),
        };
        if (errors is not null)
        {
            body["errors"] = errors;
        }

        await JsonSerializer.SerializeAsync(context.Response.Body, body, JsonDefaults.Options, context.RequestAborted);
    }

    /// <summary>Gives bodiless 4xx/5xx answers (unknown route, wrong method) a problem body too.</summary>
    public static Task StatusCodePage(StatusCodeContext ctx)
    {
        var http = ctx.HttpContext;
        var status = http.Response.StatusCode;
        if (status == StatusCodes.Status404NotFound && Dashboard.DashboardAccess.WantsPage(http))
        {
            return Dashboard.DashboardAccess.WriteStatusPageAsync(http, status);
        }

        var (slug, title, detail) = status switch
        {
            404 => ("not-found", "Not found", "No resource matches this path."),
            405 => ("method-not-allowed", "Method not allowed", $"{http.Request.Method} is not allowed on this path."),
            401 => ("unauthorized", "Not authenticated", "Send Authorization: Bearer <api key or token>."),
            403 => ("forbidden", "Not allowed", "You may not do this."),
            413 => ("too-large", "Payload too large", "The request body is larger than the configured limit."),
            415 => ("unsupported-media-type", "Unsupported media type", "Send the body as application/json."),
            _ => ("http-" + status, "Error", $"The request failed with status {status}."),
        };
        return WriteAsync(http, status, "urn:clarity:problem:" + slug, title, detail, null);
    }
}

public static class CorrelationId
{
    public const string Header = "X-Correlation-Id";

    public static string Get(HttpContext context) =>
        context.Items[Header] as string ?? context.Features.Get<IHttpRequestIdentifierFeature>()?.TraceIdentifier ?? context.TraceIdentifier;

    /// <summary>Accepts a caller's correlation id when it is short and plain; otherwise makes one. It scopes every log line of the request.</summary>
    public static async Task Middleware(HttpContext context, RequestDelegate next)
    {
        var incoming = context.Request.Headers[Header].ToString();
        var id = IsAcceptable(incoming) ? incoming : Guid.CreateVersion7().ToString("N");
        context.Items[Header] = id;
        // Set as the response starts: an error answer clears the headers set before it (ProblemWriter's Response.Clear()).
        context.Response.OnStarting(() =>
        {
            context.Response.Headers[Header] = id;
            return Task.CompletedTask;
        });
        Clarity.Events.CorrelationContext.Current = id;
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Clarity.Request");
        using (logger.BeginScope(new KeyValuePair<string, object>[] { new("CorrelationId", id) }))
        {
            await next(context);
        }
    }

    private static bool IsAcceptable(string value) =>
        value.Length is > 0 and <= 64 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
