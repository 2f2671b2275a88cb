using System.ComponentModel.DataAnnotations;

namespace Clarity.Features.Notifications.Slack;

/// <summary>
/// The Slack app notifications are posted through (Clarity:Slack; CLARITY_SLACK__BOTTOKEN and so on). With a bot token,
/// messages go through the Web API (<c>chat.postMessage</c>, then <c>chat.update</c> once a question is settled) and
/// questions carry their options as buttons; people answer them when <see cref="SigningSecret"/> is set too. With only an
/// incoming webhook, notices go to the webhook's channel, without buttons. Neither: Slack is off. The token and the
/// secrets are never logged.
/// </summary>
public sealed class SlackOptions : IValidatableObject
{
    /// <summary>The app's bot token (<c>xoxb-…</c>), with the scopes chat:write, users:read and users:read.email.</summary>
    public string? BotToken { get; set; }

    /// <summary>The app's signing secret, which verifies Slack's interactivity callbacks (button clicks).</summary>
    public string? SigningSecret { get; set; }

    /// <summary>An incoming webhook (https://hooks.slack.com/services/…) for notices only, when there is no bot token.</summary>
    public string? IncomingWebhookUrl { get; set; }

    /// <summary>Where the Web API lives; only a test stand-in changes it.</summary>
    public string ApiBaseUrl { get; set; } = "https://slack.com/api/";

    /// <summary>How long one call to Slack may take, in seconds.</summary>
    [Range(1, 60)]
    public int TimeoutSeconds { get; set; } = 10;

    /// <summary>How old a callback's timestamp may be (either way), in seconds; Slack's guidance is 5 minutes.</summary>
    [Range(30, 900)]
    public int SignatureToleranceSeconds { get; set; } = 300;

    /// <summary>Interactivity callbacks this node accepts per minute (a token bucket), before it answers 429.</summary>
    [Range(1, 100_000)]
    public int InteractivityPerMinute { get; set; } = 600;

    /// <summary>True when messages go through the Web API.</summary>
    public bool UsesBotToken => !string.IsNullOrWhiteSpace(BotToken);

    /// <summary>True when Slack is configured in one way or the other.</summary>
    public bool IsEnabled => UsesBotToken || !string.IsNullOrWhiteSpace(IncomingWebhookUrl);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!IsHttpUrl(ApiBaseUrl, requireHttps: false) || !ApiBaseUrl.EndsWith('/'))
        {
            yield return new ValidationResult("must be an http(s) URL ending with '/' (default https://slack.com/api/).", [nameof(ApiBaseUrl)]);
        }

        if (!string.IsNullOrWhiteSpace(IncomingWebhookUrl) && !IsHttpUrl(IncomingWebhookUrl, requireHttps: false))
        {
            yield return new ValidationResult("must be an http(s) URL (https://hooks.slack.com/services/…).", [nameof(IncomingWebhookUrl)]);
        }

        if (BotToken is { } token && (token.Length is 0 or > 512 || token.Any(char.IsWhiteSpace)))
        {
            yield return new ValidationResult("must be a bot token (xoxb-…) without spaces.", [nameof(BotToken)]);
        }

        if (SigningSecret is { } secret && (secret.Length is < 8 or > 512 || secret.Any(char.IsWhiteSpace)))
        {
            yield return new ValidationResult("must be the app's signing secret (Basic Information → App Credentials).", [nameof(SigningSecret)]);
        }

        if (!string.IsNullOrWhiteSpace(SigningSecret) && !UsesBotToken)
        {
            yield return new ValidationResult("needs BotToken too: answering from Slack looks the person up through the Web API.", [nameof(SigningSecret)]);
        }
    }

    private static bool IsHttpUrl(string? value, bool requireHttps) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || (!requireHttps && uri.Scheme == Uri.UriSchemeHttp));
}
