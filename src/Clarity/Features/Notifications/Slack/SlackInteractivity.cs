using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.RateLimiting;
using Clarity.Events;
using Clarity.Features.Clarifications;
using Clarity.Features.Identity;
using Clarity.Features.Notifications.OnCall;
using Clarity.Hosting;
using Clarity.Hosting.Authorization;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Notifications.Slack;

/// <summary>
/// Slack's interactivity callbacks (a person clicked a button of a question): verified with the app's signing secret,
/// the clicking Slack user mapped to a Clarity user by the email Slack holds for them (<c>users.info</c>), who must be a
/// member of the question's org whose role grants <c>tasks:respond</c>; then the question is answered through
/// <see cref="ClarificationService"/>, recorded as that user, via slack. The person is told the result in an ephemeral
/// message (through the callback's <c>response_url</c>): answered; already answered by whom, via what, when; or, for an
/// unmapped or unauthorised person, how to link their account; in which case nothing is recorded. A bad, stale or missing
/// signature is a 401 and changes nothing. The work done before answering 200 (Slack waits 3 seconds) is one
/// <c>users.info</c> call and one unit of work; the ephemeral reply is sent after the 200, and the question's message is
/// updated by <see cref="SlackMessageUpdater"/>.
/// </summary>
public sealed partial class SlackInteractivity : IDisposable
{
    /// <summary>The most a callback may carry (Slack's block_actions payload holds the whole message; ours stay far smaller).</summary>
    public const int MaxBodyBytes = 128 * 1024;

    private readonly SlackApi _api;
    private readonly ClarificationStore _clarifications;
    private readonly ClarificationService _answers;
    private readonly IdentityStore _identity;
    private readonly AccessResolver _access;
    private readonly EscalationService _escalations;
    private readonly IOptions<ClarityOptions> _options;
    private readonly TimeProvider _clock;
    private readonly ILogger<SlackInteractivity> _logger;
    private readonly TokenBucketRateLimiter _limiter;

    public SlackInteractivity(
        SlackApi api, ClarificationStore clarifications, ClarificationService answers, IdentityStore identity, AccessResolver access,
        EscalationService escalations, IOptions<ClarityOptions> options, TimeProvider clock, ILogger<SlackInteractivity> logger)
    {
        _escalations = escalations;
        _api = api;
        _clarifications = clarifications;
        _answers = answers;
        _identity = identity;
        _access = access;
        _options = options;
        _clock = clock;
        _logger = logger;
        var perMinute = options.Value.Slack.InteractivityPerMinute;
        _limiter = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = perMinute,
            TokensPerPeriod = Math.Max(1, perMinute / 60),
            ReplenishmentPeriod = TimeSpan.FromSeconds(Math.Max(1, 60 / perMinute)),
            QueueLimit = 0,
            AutoReplenishment = true,
        });
    }

    private SlackOptions Settings => _options.Value.Slack;

    /// <summary>Handles one callback; throws the <see cref="ApiException"/> to answer (401, 404, 413, 429, 400) when it is refused.</summary>
    public async Task HandleAsync(HttpRequest request, CancellationToken ct)
    {
        using var lease = _limiter.AttemptAcquire();
        if (!lease.IsAcquired)
        {
            throw Problems.RateLimited("Too many Slack callbacks; Slack will show the person an error and they can click again.", TimeSpan.FromSeconds(1));
        }

        if (string.IsNullOrWhiteSpace(Settings.SigningSecret) || !Settings.UsesBotToken)
        {
            throw Problems.NotFound("The Slack integration (Clarity:Slack:SigningSecret and BotToken are not set)");
        }

        var body = await ReadBodyAsync(request, ct);
        var refusal = SlackSignature.Verify(Settings.SigningSecret, request.Headers[SlackSignature.TimestampHeader], request.Headers[SlackSignature.SignatureHeader],
            body, _clock.GetUtcNow(), TimeSpan.FromSeconds(Settings.SignatureToleranceSeconds));
        if (refusal is not null)
        {
            Log.Refused(_logger, refusal);
            throw Problems.Unauthorized(refusal);
        }

        var payload = Parse(body);
        if (payload["type"]?.GetValue<string>() != "block_actions" || payload["actions"] is not JsonArray { Count: > 0 } actions)
        {
            return;
        }

        var action = actions[0] as JsonObject;
        var actionId = Str(action, "action_id");
        if (actionId == SlackAckAction.ActionId)
        {
            await AcknowledgeAsync(request, payload, action, ct);
            return;
        }

        if (actionId is null || !actionId.StartsWith(SlackAnswerAction.ActionIdPrefix, StringComparison.Ordinal))
        {
            // A link button (Open in Clarity, View the log): Slack reports those clicks too; nothing to do.
            return;
        }

        var responseUrl = Str(payload, "response_url");
        var slackUser = Str(payload["user"] as JsonObject, "id");
        if (SlackAnswerAction.TryParse(Str(action, "value")) is not { } answer || slackUser is null || !IsResponseUrl(responseUrl, Settings.ApiBaseUrl))
        {
            throw Problems.BadRequest("slack-payload", "The callback does not name a Clarity question, the Slack user, or a response_url of Slack's.");
        }

        var reply = await AnswerAsync(answer, slackUser, ct);

        // Slack wants the HTTP answer within 3 seconds: the ephemeral reply (its response_url stays valid for 30 minutes)
        // goes out once the 200 has been sent, so a slow reply never counts against that budget.
        request.HttpContext.Response.OnCompleted(() => ReplyAsync(responseUrl!, reply));
    }

    private async Task ReplyAsync(string responseUrl, string text)
    {
        try
        {
            var sent = await _api.RespondAsync(responseUrl, new JsonObject
            {
                ["response_type"] = "ephemeral",
                ["replace_original"] = false,
                ["text"] = text,
            }, CancellationToken.None);
            if (!sent.Ok)
            {
                Log.ReplyFailed(_logger, sent.Error ?? "");
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
        {
            Log.ReplyFailed(_logger, ex.Message);
        }
    }

    /// <summary>
    /// An Acknowledge button of a page: the clicking Slack user, mapped to a member by email like an answer, acknowledges the
    /// escalation via slack (the service lets in whoever the escalation paged, or holds tasks:respond). The clicked message is
    /// updated to say who acknowledged; the person is told the outcome (or who acknowledged first) in an ephemeral reply. An
    /// unmapped person gets the "link your account" reply, and nothing is recorded.
    /// </summary>
    private async Task AcknowledgeAsync(HttpRequest request, JsonObject payload, JsonObject? action, CancellationToken ct)
    {
        var responseUrl = Str(payload, "response_url");
        var slackUser = Str(payload["user"] as JsonObject, "id");
        if (SlackAckAction.TryParse(Str(action, "value")) is not { } ack || slackUser is null || !IsResponseUrl(responseUrl, Settings.ApiBaseUrl))
        {
            throw Problems.BadRequest("slack-payload", "The callback does not name a Clarity escalation, the Slack user, or a response_url.");
        }

        string reply;
        Escalation? acked = null;
        var org = await _identity.FindOrgAsync(ack.OrgId, ct);
        var orgName = SlackMessages.Mrkdwn(org?.Slug ?? "the org");
        var info = await _api.UserInfoAsync(slackUser, ct);
        if (!info.Ok)
        {
            Log.LookupFailed(_logger, slackUser, info.Error ?? "");
            reply = $"Clarity could not look up your Slack account ({SlackMessages.Mrkdwn(info.Error ?? "error")}), so nothing was recorded. Try again, or acknowledge in Clarity.";
        }
        else
        {
            var email = MappableEmail(info.Body?["user"] as JsonObject);
            var user = email is null ? null : await _identity.FindCredentialsAsync(email, ct);
            var scope = user is null || org is null ? null : await _access.ResolveAsync(new Caller(user.Id, null), org.Id, org.Slug, ct);
            if (scope is null)
            {
                Log.UnmappedAck(_logger, slackUser, ack.EscalationId);
                reply = $"Your Slack account is not linked to a member of *{orgName}* in Clarity, so nothing was recorded. " +
                    "Clarity links people by email: use the same (verified) email address in Slack and in Clarity, or ask an admin of " +
                    $"*{orgName}* to invite the email your Slack profile shows. Meanwhile you can acknowledge in Clarity.";
            }
            else
            {
                try
                {
                    acked = await _escalations.AcknowledgeAsync(scope, ack.EscalationId, new AcknowledgeRequest(NotificationChannels.Slack), ct);
                    Log.Acknowledged(_logger, user!.Id, ack.EscalationId);
                    reply = "You acknowledged the page. The escalation stopped.";
                }
                catch (ApiException ex) when (ex.Status is 403 or 404 or 409)
                {
                    reply = SlackMessages.Mrkdwn(ex.Message);
                }
            }
        }

        // As for answers: the message's update and the ephemeral reply go out once the 200 has been sent (Slack's 3 s).
        request.HttpContext.Response.OnCompleted(async () =>
        {
            if (acked is not null)
            {
                try
                {
                    await MarkAcknowledgedAsync(payload, acked, CancellationToken.None);
                }
                catch (Exception ex)
                {
                    // After the response: nothing to answer with; the person is still told the outcome below.
                    Log.ReplyFailed(_logger, ex.Message);
                }
            }

            await ReplyAsync(responseUrl!, reply);
        });
    }

    /// <summary>
    /// Updates the clicked page message at once: its buttons go, and a line says who acknowledged, via what and when. The
    /// escalation's other page messages (the other people paged) are updated by <see cref="SlackMessageUpdater"/>.
    /// </summary>
    private async Task MarkAcknowledgedAsync(JsonObject payload, Escalation acked, CancellationToken ct)
    {
        var channel = Str(payload["container"] as JsonObject, "channel_id") ?? Str(payload["channel"] as JsonObject, "id");
        var ts = Str(payload["container"] as JsonObject, "message_ts") ?? Str(payload["message"] as JsonObject, "ts");
        var message = payload["message"] as JsonObject;
        if (channel is null || ts is null || message?["blocks"] is not JsonArray blocks)
        {
            return;
        }

        var kept = new JsonArray();
        foreach (var block in blocks)
        {
            if (block is JsonObject b && Str(b, "type") != "actions")
            {
                kept.Add(b.DeepClone());
            }
        }

        var line = SlackMessages.PageOutcome(acked) ?? "";
        var updated = await _api.UpdateMessageAsync(channel, ts, Str(message, "text") ?? line, SlackMessages.Settled(kept, line), ct);
        if (!updated.Ok)
        {
            Log.ReplyFailed(_logger, updated.Error ?? "");
        }
    }

    /// <summary>Answers the question for the Slack user when they may; returns what to tell them (mrkdwn).</summary>
    private async Task<string> AnswerAsync(SlackAnswerAction action, string slackUser, CancellationToken ct)
    {
        var question = await _clarifications.GetAsync(action.OrgId, action.ClarificationId, ct);
        var options = question?.Options is { } json ? JsonSerializer.Deserialize<List<string>>(json) : null;
        if (question is null || options is null || action.Option >= options.Count)
        {
            return "This question no longer exists in Clarity.";
        }

        var org = await _identity.FindOrgAsync(action.OrgId, ct);
        var orgName = SlackMessages.Mrkdwn(org?.Slug ?? "the org");
        var info = await _api.UserInfoAsync(slackUser, ct);
        if (!info.Ok)
        {
            Log.LookupFailed(_logger, slackUser, info.Error ?? "");
            return $"Clarity could not look up your Slack account ({SlackMessages.Mrkdwn(info.Error ?? "error")}), so nothing was recorded. Try again, or answer in Clarity.";
        }

        var email = MappableEmail(info.Body?["user"] as JsonObject);
        var user = email is null ? null : await _identity.FindCredentialsAsync(email, ct);
        var scope = user is null || org is null ? null : await _access.ResolveAsync(new Caller(user.Id, null), org.Id, org.Slug, ct);
        if (scope is null)
        {
            // The same words whether or not the email has an account: nobody learns that from Slack.
            Log.Unmapped(_logger, slackUser, action.ClarificationId);
            return $"Your Slack account is not linked to a member of *{orgName}* in Clarity, so nothing was recorded. " +
                "Clarity links people by email: use the same (verified) email address in Slack and in Clarity, or ask an admin of " +
                $"*{orgName}* to invite the email your Slack profile shows. Meanwhile you can answer in Clarity.";
        }

        if (!scope.Can(Permissions.TasksRespond))
        {
            Log.NotAllowed(_logger, user!.Id, action.ClarificationId);
            return $"Your role in *{orgName}* ({SlackMessages.Mrkdwn(scope.Role.Name)}) does not allow answering questions, so nothing was recorded.";
        }

        var choice = options[action.Option];
        try
        {
            await _answers.AnswerAsync(action.OrgId, action.ClarificationId, new AnswerRequest(choice),
                new Answerer(Actor.User(user!.Id), user.Id, null, AnswerChannels.Slack), ct);
            Log.Answered(_logger, user.Id, action.ClarificationId);
            return $"You answered *{SlackMessages.Mrkdwn(choice)}*. Clarity passed it on.";
        }
        catch (ApiException ex) when (ex.Status == 409)
        {
            return SlackMessages.Mrkdwn(ex.Message);
        }
    }

    /// <summary>The email Slack holds for the user, when it can identify them: a person (no bot, not deleted) whose email Slack has confirmed.</summary>
    private static string? MappableEmail(JsonObject? user)
    {
        if (user is null || Flag(user, "deleted") || Flag(user, "is_bot") || (user["is_email_confirmed"] is JsonValue confirmed && confirmed.TryGetValue<bool>(out var c) && !c))
        {
            return null;
        }

        var email = Str(user["profile"] as JsonObject, "email")?.Trim();
        return email is { Length: > 3 and <= 320 } && email.Contains('@', StringComparison.Ordinal) ? email.ToLowerInvariant() : null;
    }

    /// <summary>The host Slack's <c>response_url</c>s are on.</summary>
    public const string ResponseHost = "hooks.slack.com";

    /// <summary>
    /// Whether the callback's <c>response_url</c> may be called: an https URL on <see cref="ResponseHost"/>, or one on the
    /// configured API base's own scheme, host and port (a stand-in for Slack). Any other address is refused, so a callback
    /// can never make the server post somewhere else.
    /// </summary>
    public static bool IsResponseUrl(string? url, string apiBaseUrl)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !string.IsNullOrEmpty(uri.UserInfo))
        {
            return false;
        }

        if (uri.Scheme == Uri.UriSchemeHttps && uri.IsDefaultPort && string.Equals(uri.Host, ResponseHost, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        return Uri.TryCreate(apiBaseUrl, UriKind.Absolute, out var api)
            && uri.Scheme == api.Scheme && string.Equals(uri.Host, api.Host, StringComparison.OrdinalIgnoreCase) && uri.Port == api.Port;
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken ct)
    {
        if (request.ContentLength > MaxBodyBytes)
        {
            throw Problems.TooLarge($"A Slack callback is at most {MaxBodyBytes} bytes.");
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
            {
                throw Problems.TooLarge($"A Slack callback is at most {MaxBodyBytes} bytes.");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    /// <summary>The JSON of the form field <c>payload</c> (Slack posts <c>application/x-www-form-urlencoded</c>).</summary>
    private static JsonObject Parse(byte[] body)
    {
        try
        {
            var form = QueryHelpers.ParseQuery(new UTF8Encoding(false, true).GetString(body));
            if (form.TryGetValue("payload", out var payload) && payload.Count == 1 && JsonNode.Parse(payload[0]!) is JsonObject json)
            {
                return json;
            }
        }
        catch (Exception ex) when (ex is JsonException or DecoderFallbackException or InvalidOperationException)
        {
        }

        throw Problems.BadRequest("slack-payload", "A Slack callback is a form with one field 'payload' holding a JSON object.");
    }

    private static string? Str(JsonObject? json, string property) =>
        json?[property] is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    private static bool Flag(JsonObject json, string property) =>
        json[property] is JsonValue value && value.TryGetValue<bool>(out var flag) && flag;

    public void Dispose() => _limiter.Dispose();

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Slack callback refused: {Reason}")]
        public static partial void Refused(ILogger logger, string reason);

        [LoggerMessage(2, LogLevel.Information, "Slack user {SlackUser} is not linked to a member of the org of question {ClarificationId}; nothing recorded")]
        public static partial void Unmapped(ILogger logger, string slackUser, Guid clarificationId);

        [LoggerMessage(3, LogLevel.Information, "User {UserId} may not answer question {ClarificationId} from Slack (no tasks:respond); nothing recorded")]
        public static partial void NotAllowed(ILogger logger, Guid userId, Guid clarificationId);

        [LoggerMessage(4, LogLevel.Information, "User {UserId} answered question {ClarificationId} from Slack")]
        public static partial void Answered(ILogger logger, Guid userId, Guid clarificationId);

        [LoggerMessage(5, LogLevel.Warning, "Slack: could not look up Slack user {SlackUser}: {Error}")]
        public static partial void LookupFailed(ILogger logger, string slackUser, string error);

        [LoggerMessage(6, LogLevel.Warning, "Slack: the ephemeral reply could not be sent: {Error}")]
        public static partial void ReplyFailed(ILogger logger, string error);

        [LoggerMessage(7, LogLevel.Information, "Slack user {SlackUser} is not linked to a member of the org of escalation {EscalationId}; nothing recorded")]
        public static partial void UnmappedAck(ILogger logger, string slackUser, Guid escalationId);

        [LoggerMessage(8, LogLevel.Information, "User {UserId} acknowledged escalation {EscalationId} from Slack")]
        public static partial void Acknowledged(ILogger logger, Guid userId, Guid escalationId);
    }
}
