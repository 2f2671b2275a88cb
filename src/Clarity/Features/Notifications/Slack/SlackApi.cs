using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Clarity.Hosting;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Notifications.Slack;

/// <summary>What Slack answered: <c>ok</c>, or its <c>error</c> code and whether trying again later can help.</summary>
public sealed record SlackResult(bool Ok, string? Error, bool Retryable, JsonObject? Body)
{
    public static SlackResult Success(JsonObject? body) => new(true, null, false, body);

    public static SlackResult Failure(string error, bool retryable) => new(false, error, retryable, null);

    public string? Str(string property) => Body?[property] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}

/// <summary>
/// The few Slack Web API methods Clarity uses, over HTTP: <c>chat.postMessage</c>, <c>chat.update</c>,
/// <c>users.info</c> and <c>users.lookupByEmail</c> (with the bot token as <c>Authorization: Bearer</c>), and posting to an interaction's
/// <c>response_url</c> or an incoming webhook. Slack answers most failures with HTTP 200 and <c>{ok:false, error}</c>;
/// rate limiting is HTTP 429 with <c>Retry-After</c>. Errors that a later attempt can get past (rate limits, Slack's own
/// outages, timeouts, network failures) are retryable; the rest (<c>invalid_auth</c>, <c>channel_not_found</c> …) are not.
/// The base address comes from <see cref="SlackOptions.ApiBaseUrl"/>, so the tests' stand-in is called by this same code.
/// </summary>
public sealed partial class SlackApi(IHttpClientFactory clients, IOptions<ClarityOptions> options, ILogger<SlackApi> logger)
{
    public const string HttpClientName = "slack";

    private static readonly HashSet<string> s_retryableErrors = new(StringComparer.Ordinal)
    {
        "ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_added_to_org",
    };

    private SlackOptions Settings => options.Value.Slack;

    public Task<SlackResult> PostMessageAsync(string channel, string text, JsonArray blocks, CancellationToken ct) =>
        CallAsync("chat.postMessage", new JsonObject { ["channel"] = channel, ["text"] = text, ["blocks"] = blocks, ["unfurl_links"] = false }, ct);

    public Task<SlackResult> UpdateMessageAsync(string channel, string ts, string text, JsonArray blocks, CancellationToken ct) =>
        CallAsync("chat.update", new JsonObject { ["channel"] = channel, ["ts"] = ts, ["text"] = text, ["blocks"] = blocks }, ct);

    /// <summary><c>users.info</c>: a form body (the method does not take JSON); the user is in <c>user</c>.</summary>
    public async Task<SlackResult> UserInfoAsync(string userId, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Settings.ApiBaseUrl + "users.info")
        {
            Content = new FormUrlEncodedContent([new("user", userId)]),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Settings.BotToken);
        return await SendAsync("users.info", request, expectJson: true, ct);
    }

    /// <summary><c>users.lookupByEmail</c>: the Slack user with this email (form body); the user is in <c>user</c>, or the error is <c>users_not_found</c>.</summary>
    public async Task<SlackResult> LookupByEmailAsync(string email, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Settings.ApiBaseUrl + "users.lookupByEmail")
        {
            Content = new FormUrlEncodedContent([new("email", email)]),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Settings.BotToken);
        return await SendAsync("users.lookupByEmail", request, expectJson: true, ct);
    }

    /// <summary>Posts a message to an interaction's <c>response_url</c> (e.g. an ephemeral reply to the person who clicked).</summary>
    public async Task<SlackResult> RespondAsync(string responseUrl, JsonObject message, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, responseUrl) { Content = Json(message) };
        return await SendAsync("response_url", request, expectJson: false, ct);
    }

    /// <summary>Posts a message to the incoming webhook (which answers the text <c>ok</c>, or an error code with a 4xx).</summary>
    public async Task<SlackResult> PostWebhookAsync(JsonObject message, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Settings.IncomingWebhookUrl) { Content = Json(message) };
        return await SendAsync("incoming webhook", request, expectJson: false, ct);
    }

    private async Task<SlackResult> CallAsync(string method, JsonObject body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Settings.ApiBaseUrl + method) { Content = Json(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Settings.BotToken);
        return await SendAsync(method, request, expectJson: true, ct);
    }

    private static StringContent Json(JsonObject body) =>
        new(body.ToJsonString(), Encoding.UTF8, new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" });

    private async Task<SlackResult> SendAsync(string method, HttpRequestMessage request, bool expectJson, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(Settings.TimeoutSeconds));
        try
        {
            using var response = await clients.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);
            var text = await response.Content.ReadAsStringAsync(timeout.Token);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                var after = response.Headers.RetryAfter?.Delta is { } delta ? $" (retry after {(int)delta.TotalSeconds}s)" : "";
                return Failed(method, SlackResult.Failure("ratelimited" + after, retryable: true));
            }

            if (!expectJson)
            {
                // response_url and incoming webhooks answer "ok" (or a JSON {ok:true}); errors come as 4xx with a code as text.
                return response.IsSuccessStatusCode
                    ? SlackResult.Success(null)
                    : Failed(method, SlackResult.Failure(ErrorText(response.StatusCode, text), retryable: (int)response.StatusCode >= 500));
            }

            if (!response.IsSuccessStatusCode)
            {
                return Failed(method, SlackResult.Failure(ErrorText(response.StatusCode, text), retryable: (int)response.StatusCode >= 500));
            }

            var body = JsonNode.Parse(text) as JsonObject;
            if (body?["ok"] is JsonValue ok && ok.TryGetValue<bool>(out var isOk) && isOk)
            {
                return SlackResult.Success(body);
            }

            var error = body?["error"] is JsonValue e && e.TryGetValue<string>(out var code) ? code : "unexpected_response";
            return Failed(method, SlackResult.Failure(error, s_retryableErrors.Contains(error)));
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return Failed(method, SlackResult.Failure("timeout", retryable: true));
        }
        catch (HttpRequestException ex)
        {
            return Failed(method, SlackResult.Failure("unreachable: " + ex.HttpRequestError, retryable: true));
        }
        catch (JsonException)
        {
            return Failed(method, SlackResult.Failure("unexpected_response", retryable: true));
        }
    }

    private static string ErrorText(HttpStatusCode status, string text)
    {
        var code = text.Trim();
        return code.Length is > 0 and <= 100 && code.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-')
            ? code
            : $"http_{(int)status}";
    }

    private SlackResult Failed(string method, SlackResult result)
    {
        Log.CallFailed(logger, method, result.Error ?? "", result.Retryable);
        return result;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Slack {Method} failed: {Error} (retryable: {Retryable})")]
        public static partial void CallFailed(ILogger logger, string method, string error, bool retryable);
    }
}
