using System.Collections.Concurrent;
using System.Net.Sockets;
using Clarity.Hosting;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;

namespace Clarity.Features.Notifications.Email;

/// <summary>
/// The email channel: renders a notification from the <c>email/</c> templates (subject, text and HTML, sent as
/// multipart/alternative) and sends it through the configured SMTP server with MailKit (STARTTLS and authentication as
/// configured). A connection is kept after a send and reused by the next one within <see cref="ReuseFor"/> (a burst of
/// mails pays for one handshake per concurrent send, not one per mail); a kept connection the server has closed meanwhile
/// is replaced by a new one for the same message. A question's mail carries a one-time answer link, and its options as
/// buttons that open the answer page with that option chosen (the page's POST answers, never a GET). Transient failures
/// (network, timeouts, 4xx replies) answer Retry; permanent ones (5xx replies, refused credentials, a bad address) Fail.
/// </summary>
public sealed partial class EmailChannel(
    NotificationTemplates templates, EmailAnswerLinkStore links, IOptions<ClarityOptions> options, TimeProvider clock, ILogger<EmailChannel> logger,
    EscalationAckLinkStore? ackLinks = null)
    : INotificationChannel, IDisposable
{
    /// <summary>How many of the task's last log lines a mail shows.</summary>
    public const int LogLinesShown = 5;

    /// <summary>How long a connection left open after a send is reused; an older one is closed (QUIT) when next taken.</summary>
    public static readonly TimeSpan ReuseFor = TimeSpan.FromSeconds(15);

    /// <summary>At most this many connections are kept open between sends.</summary>
    private const int MaxKept = 16;

    private readonly ConcurrentStack<(SmtpClient Client, DateTimeOffset Since)> _kept = new();

    public string Type => NotificationChannels.Email;

    public async Task<DeliveryOutcome> SendAsync(NotificationDelivery delivery, NotificationView view, CancellationToken ct)
    {
        var smtp = options.Value.Smtp;
        if (!smtp.Enabled)
        {
            return DeliveryOutcome.Fail("Email is not configured: set Clarity:Smtp:Host and Clarity:Smtp:From.");
        }

        if (!MailboxAddress.TryParse(delivery.Recipient, out var to) || to.Address.IndexOf('@', StringComparison.Ordinal) <= 0)
        {
            return DeliveryOutcome.Fail($"'{delivery.Recipient}' is not an email address.");
        }

        MimeMessage message;
        try
        {
            message = await ComposeAsync(delivery, view, to, smtp, ct);
        }
        catch (Exception ex) when (ex is HandlebarsDotNet.HandlebarsException or InvalidOperationException)
        {
            Log.RenderFailed(logger, delivery.Id, ex);
            return DeliveryOutcome.Fail("The email could not be rendered: " + ex.Message);
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or TimeoutException)
        {
            Log.LinkFailed(logger, delivery.Id, ex);
            return DeliveryOutcome.Retry("The answer link could not be stored: " + ex.Message);
        }

        var outcome = await TransmitAsync(message, smtp, ct);
        if (outcome.Sent)
        {
            Log.Sent(logger, delivery.Id, view.EventType, outcome.ExternalId);
        }
        else
        {
            Log.NotSent(logger, delivery.Id, view.EventType, outcome.Retryable, outcome.Detail);
        }

        return outcome;
    }

    /// <summary>Builds the message: headers, the rendered parts, and (for a question) its answer link.</summary>
    public async Task<MimeMessage> ComposeAsync(NotificationDelivery delivery, NotificationView view, MailboxAddress to, SmtpOptions smtp, CancellationToken ct)
    {
        var from = MailboxAddress.Parse(smtp.From ?? "");
        var extra = new Dictionary<string, object?>
        {
            ["Recipient"] = to.Address,
            ["LogLines"] = view.RecentLogLines.Count > LogLinesShown ? view.RecentLogLines.Skip(view.RecentLogLines.Count - LogLinesShown).ToList() : view.RecentLogLines,
        };

        // A page carries its one-time Acknowledge link, bound to the escalation and the person paged.
        if (view.Page is { } page && ackLinks is not null && delivery.RecipientUserId is { } paged && BaseUrl(view) is { } ackSite)
        {
            extra["AckUrl"] = $"{ackSite}/ack/{await ackLinks.CreateAsync(delivery, page, paged, to.Address, ct)}";
        }

        if (view.Question is { } question && view.EventType is NotificationEvents.ClarificationAsked or NotificationEvents.ClarificationExpiring or NotificationEvents.EscalationPage
            && view.Digest is not { Count: > 1 } && BaseUrl(view) is { } site && question.ExpiresAt > clock.GetUtcNow())
        {
            var token = await links.CreateAsync(delivery, view, question, to.Address, ct);
            var answerUrl = $"{site}/answer/{token}";
            extra["AnswerUrl"] = answerUrl;
            extra["Options"] = question.Options?.Select((text, i) => new AnswerOption(text, $"{answerUrl}?option={i}")).ToList();
        }

        var name = view.Digest is { Count: > 1 } ? "digest" : view.EventType;
        var subject = OneLine(templates.Render(Type, name, "subject", view, extra));
        var message = new MimeMessage();
        message.From.Add(from);
        message.To.Add(to);
        message.Subject = subject;
        message.Date = clock.GetUtcNow();
        // One id per attempt: a retry carries a new answer link, so a receiver must not drop it as a duplicate.
        message.MessageId = $"{delivery.Id:N}.{delivery.Attempt}@{Domain(from)}";
        message.Headers.Add("Auto-Submitted", "auto-generated");
        message.Headers.Add("X-Auto-Response-Suppress", "All");
        message.Headers.Add("X-Clarity-Event", view.Digest is { Count: > 1 } ? "digest" : view.EventType);
        message.Headers.Add("X-Clarity-Correlation-Id", OneLine(delivery.CorrelationId));
        message.Body = new BodyBuilder
        {
            TextBody = templates.Render(Type, name, "text", view, extra),
            HtmlBody = templates.Render(Type, name, "html", view, extra),
        }.ToMessageBody();
        return message;
    }

    /// <summary>
    /// Sends on a kept connection when there is one, else on a new one (connect, STARTTLS, AUTH), and keeps the connection
    /// afterwards. A kept connection that fails at the connection level (the server closed it while idle) is dropped and
    /// the message sent on a new one; a connection that saw any other error is dropped, never kept.
    /// </summary>
    private async Task<DeliveryOutcome> TransmitAsync(MimeMessage message, SmtpOptions smtp, CancellationToken ct, bool mayReuse = true)
    {
        var client = mayReuse ? await TakeKeptAsync() : null;
        var reused = client is not null;
        try
        {
            if (client is null)
            {
                client = new SmtpClient { Timeout = smtp.TimeoutSeconds * 1000 };
                if (smtp.AcceptAnyCertificate)
                {
                    client.ServerCertificateValidationCallback = (_, _, _, _) => true;
                }

                var security = smtp.UseStartTls ? SecureSocketOptions.StartTls : smtp.Port == 465 ? SecureSocketOptions.SslOnConnect : SecureSocketOptions.None;
                await client.ConnectAsync(smtp.Host!, smtp.Port, security, ct);
                if (!string.IsNullOrEmpty(smtp.User))
                {
                    await client.AuthenticateAsync(smtp.User, smtp.Password ?? "", ct);
                }
            }

            await client.SendAsync(message, ct);
            await KeepAsync(client);
            client = null;
            return DeliveryOutcome.Ok(message.MessageId);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (reused && ex is SmtpProtocolException or IOException or SocketException or ServiceNotConnectedException
            or SmtpCommandException { StatusCode: SmtpStatusCode.ServiceNotAvailable })
        {
            client?.Dispose();
            client = null;
            return await TransmitAsync(message, smtp, ct, mayReuse: false);
        }
        catch (AuthenticationException ex)
        {
            return DeliveryOutcome.Fail($"The SMTP server refused the credentials of Clarity:Smtp:User: {ex.Message}");
        }
        catch (ServiceNotAuthenticatedException ex)
        {
            return DeliveryOutcome.Fail($"The SMTP server requires authentication (set Clarity:Smtp:User and Password): {ex.Message}");
        }
        catch (SmtpCommandException ex)
        {
            var detail = $"The SMTP server answered {(int)ex.StatusCode} ({ex.ErrorCode}): {ex.Message}";
            return (int)ex.StatusCode >= 500 ? DeliveryOutcome.Fail(detail) : DeliveryOutcome.Retry(detail);
        }
        catch (SslHandshakeException ex)
        {
            return DeliveryOutcome.Retry($"The TLS handshake with the SMTP server failed (is its certificate trusted?): {ex.Message}");
        }
        catch (NotSupportedException ex)
        {
            // E.g. STARTTLS required but not offered, or no authentication mechanism in common.
            return DeliveryOutcome.Fail($"The SMTP server does not support what Clarity:Smtp asks for: {ex.Message}");
        }
        catch (Exception ex) when (ex is SmtpProtocolException or IOException or SocketException or TimeoutException or OperationCanceledException or ServiceNotConnectedException)
        {
            return DeliveryOutcome.Retry($"Could not talk to the SMTP server {smtp.Host}:{smtp.Port}: {ex.Message}");
        }
        finally
        {
            client?.Dispose();
        }
    }

    /// <summary>The most recently kept connection still young enough to reuse; older ones are closed on the way.</summary>
    private async Task<SmtpClient?> TakeKeptAsync()
    {
        while (_kept.TryPop(out var kept))
        {
            if (kept.Client.IsConnected && clock.GetUtcNow() - kept.Since < ReuseFor)
            {
                return kept.Client;
            }

            await DisconnectQuietlyAsync(kept.Client);
            kept.Client.Dispose();
        }

        return null;
    }

    private async Task KeepAsync(SmtpClient client)
    {
        if (client.IsConnected && _kept.Count < MaxKept)
        {
            _kept.Push((client, clock.GetUtcNow()));
            return;
        }

        await DisconnectQuietlyAsync(client);
        client.Dispose();
    }

    public void Dispose()
    {
        while (_kept.TryPop(out var kept))
        {
            kept.Client.Dispose();
        }
    }

    /// <summary>QUIT, waiting at most 5 s for the answer (a server that vanished must not hold up the next send).</summary>
    private static async Task DisconnectQuietlyAsync(SmtpClient client)
    {
        try
        {
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await client.DisconnectAsync(true, bound.Token);
        }
        catch (Exception ex) when (ex is IOException or SocketException or SmtpProtocolException or SmtpCommandException or TimeoutException or OperationCanceledException)
        {
            // The messages were accepted; a failed QUIT changes nothing.
        }
    }

    /// <summary>Where links point: Clarity:PublicUrl, else the origin of the view's (absolute) dashboard link; null when neither is known.</summary>
    private string? BaseUrl(NotificationView view)
    {
        if (options.Value.PublicUrl is { Length: > 0 } configured)
        {
            return configured.TrimEnd('/');
        }

        return Uri.TryCreate(view.Url, UriKind.Absolute, out var url) && url.Scheme is "http" or "https" ? url.GetLeftPart(UriPartial.Authority) : null;
    }

    private static string Domain(MailboxAddress from) => from.Domain is { Length: > 0 } domain ? domain : "clarity.invalid";

    private static string OneLine(string value) =>
        string.Join(' ', value.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>An option's button: its text, and the answer page with it chosen.</summary>
    public sealed record AnswerOption(string Text, string Url);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Email delivery {DeliveryId} ({Event}) sent as {MessageId}")]
        public static partial void Sent(ILogger logger, Guid deliveryId, string @event, string? messageId);

        [LoggerMessage(2, LogLevel.Warning, "Email delivery {DeliveryId} ({Event}) not sent (retryable: {Retryable}): {Detail}")]
        public static partial void NotSent(ILogger logger, Guid deliveryId, string @event, bool retryable, string? detail);

        [LoggerMessage(3, LogLevel.Error, "Email delivery {DeliveryId}: a template failed to render")]
        public static partial void RenderFailed(ILogger logger, Guid deliveryId, Exception error);

        [LoggerMessage(4, LogLevel.Warning, "Email delivery {DeliveryId}: the answer link could not be stored")]
        public static partial void LinkFailed(ILogger logger, Guid deliveryId, Exception error);
    }
}
