using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Clarity.Hosting;

/// <summary>Turns every failure into problem+json. A 500 is always a bug and is logged as one; a database that does not answer is a 503.</summary>
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
            await ProblemWriter.WriteAsync(context, ex.Status, ex.Type, ex.Title, ex.Message, ex.Errors, ex.RetryAfter, ex.Extensions);
        }
        catch (BadHttpRequestException ex)
        {
            var (status, slug, detail, errors) = Describe(ex);
            var title = status switch
            {
                413 => "Payload too large",
                415 => "Unsupported media type",
                _ => "Bad request",
            };
            await ProblemWriter.WriteAsync(context, status, "urn:clarity:problem:" + slug, title, detail, errors);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nobody is listening for an answer.
        }
        catch (Exception ex) when (IsUniqueViolation(ex))
        {
            // A safety net: a race that slipped past its check-then-write answers 409, not 500. Logged so that the
            // race gets fixed where it happens.
            Log.UniqueViolation(logger, ex, context.Request.Method, context.Request.Path);
            await ProblemWriter.WriteAsync(context, 409, "urn:clarity:problem:conflict", "Conflict",
                "The change conflicts with another one made at the same time: a record with the same unique value already exists. Read the current state, then retry.", null);
        }
        catch (Exception ex) when (IsDatabaseUnavailable(ex))
        {
            // An outage or overload, not a bug: the database did not answer in time (a command timeout, an exhausted
            // pool) or the connection failed. The client may retry; the operator sees a warning, not an error.
            Log.DatabaseUnavailable(logger, ex, context.Request.Method, context.Request.Path);
            await ProblemWriter.WriteAsync(context, 503, "urn:clarity:problem:database-unavailable", "Database unavailable",
                "The database did not answer in time or could not be reached. Retry in a moment; if the request was a change, check first whether it took effect.",
                null, TimeSpan.FromSeconds(1));
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
                var path = (json.Path ?? "$") + (json as JsonFieldException)?.InnerPath;
                var field = path == "$" ? "body" : path.TrimStart('$').TrimStart('.');
                var message = json.Message.Split(" Path:", 2)[0];
                if (json.InnerException is InvalidOperationException decoding && JsonText.IsInvalidTextError(decoding))
                {
                    // A string, id or property name that is not valid Unicode text (System.Text.Json's own check).
                    message = JsonText.InvalidTextMessage;
                }
                else if (message.Contains("could not be converted", StringComparison.Ordinal))
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

    /// <summary>
    /// The database failed in a way that passes (ADO.NET's <see cref="System.Data.Common.DbException.IsTransient"/>: for
    /// Npgsql a timeout, a broken connection, or a server state such as too many connections), on either backend.
    /// </summary>
    public static bool IsDatabaseUnavailable(Exception error) =>
        InChain(error, e => e is System.Data.Common.DbException { IsTransient: true });

    /// <summary>A unique or primary-key constraint refused a write, on either backend.</summary>
    public static bool IsUniqueViolation(Exception error) =>
        InChain(error, e => e is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation }
            or SqliteException { SqliteErrorCode: SqliteConstraint, SqliteExtendedErrorCode: SqliteConstraintUnique or SqliteConstraintPrimaryKey });

    /// <summary>Whether <paramref name="error"/> or any exception inside it (its InnerException chain) matches.</summary>
    public static bool InChain(Exception error, Func<Exception, bool> match)
    {
        for (Exception? e = error; e is not null; e = e.InnerException)
        {
            if (match(e))
            {
                return true;
            }
        }

        return false;
    }

    // SQLITE_CONSTRAINT and its extended codes SQLITE_CONSTRAINT_UNIQUE and SQLITE_CONSTRAINT_PRIMARYKEY.
    private const int SqliteConstraint = 19;
    private const int SqliteConstraintUnique = 2067;
    private const int SqliteConstraintPrimaryKey = 1555;

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Unhandled error on {Method} {Path}")]
        public static partial void Unhandled(ILogger logger, Exception error, string method, string path);

        [LoggerMessage(2, LogLevel.Warning, "A unique constraint refused a write on {Method} {Path}; answered 409")]
        public static partial void UniqueViolation(ILogger logger, Exception error, string method, string path);

        [LoggerMessage(3, LogLevel.Warning, "The database did not answer {Method} {Path} in time or could not be reached; answered 503")]
        public static partial void DatabaseUnavailable(ILogger logger, Exception error, string method, string path);
    }
}

public static class ProblemWriter
{
    public static async Task WriteAsync(
        HttpContext context, int status, string type, string title, string detail, IReadOnlyDictionary<string, string[]>? errors, TimeSpan? retryAfter = null,
        IReadOnlyDictionary<string, object?>? extensions = null)
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
            ["instance"] = Shorten(context.Request.Path.Value),
            ["correlationId"] = CorrelationId.Get(context),
        };
        if (errors is not null)
        {
            body["errors"] = errors;
        }

        foreach (var (name, value) in extensions ?? new Dictionary<string, object?>())
        {
            body.TryAdd(name, value);
        }

        await JsonSerializer.SerializeAsync(context.Response.Body, body, JsonDefaults.Options, context.RequestAborted);
    }

    /// <summary>A path as long as the URL limit allows is not worth echoing in full (a 414 answers exactly those).</summary>
    private static string? Shorten(string? path) => path is { Length: > 1024 } ? path[..1024] + "…" : path;

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
            // Host filtering (Clarity:AllowedHosts) is what refuses a request with a bare 400 before any endpoint.
            400 => ("bad-request", "Bad request", "The request was refused before it reached an endpoint: for example, its Host header names a host this server does not answer to."),
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
