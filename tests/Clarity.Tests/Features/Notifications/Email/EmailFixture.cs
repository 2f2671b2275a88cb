using Clarity.Features.Notifications;
using Clarity.Features.Notifications.Email;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Notifications.Email;

/// <summary>
/// A loopback SMTP server (<see cref="SmtpSink"/>) and a real host that sends through it (STARTTLS, AUTH, the sink's
/// self-signed certificate accepted), with the org "acme". Links in mails point at <see cref="PublicUrl"/>; tests open
/// their path on the host.
/// </summary>
public abstract class EmailFixture(Backend backend) : IAsyncLifetime
{
    public const string PublicUrl = "https://clarity.example.test";

    public SmtpSink Sink { get; private set; } = null!;

    public ClarityHost Host { get; private set; } = null!;

    public OrgSession Org { get; private set; } = null!;

    /// <summary>The host's email channel, resolved from its services as the notification core resolves it.</summary>
    public EmailChannel Channel => (EmailChannel)Host.Services.GetServices<INotificationChannel>().Single(c => c.Type == NotificationChannels.Email);

    public async Task InitializeAsync()
    {
        Sink = await SmtpSink.StartAsync();
        Host = await ClarityHost.StartAsync(backend, Sink.Settings(PublicUrl));
        Org = await Host.SetupAsync("acme");
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        await Sink.DisposeAsync();
    }
}

public sealed class SqliteEmailFixture() : EmailFixture(Backend.Sqlite);

public sealed class PostgresEmailFixture() : EmailFixture(Backend.Postgres);
