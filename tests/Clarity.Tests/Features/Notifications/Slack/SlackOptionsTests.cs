using Clarity.Hosting;
using Microsoft.Extensions.Options;
using Xunit;

namespace Clarity.Tests.Features.Notifications.Slack;

public sealed class SlackOptionsTests
{
    [Fact]
    public void BadSlackSettings_StopTheStart_NamingTheSetting_WithoutEchoingTheSecrets()
    {
        var error = Assert.Throws<OptionsValidationException>(() => ClarityServer.Create(new Dictionary<string, string?>
        {
            ["Clarity:Slack:SigningSecret"] = "secret with spaces in it",
            ["Clarity:Slack:ApiBaseUrl"] = "ftp://slack.example/api",
            ["Clarity:Slack:IncomingWebhookUrl"] = "not a url",
        }));
        Assert.Contains(error.Failures, f => f.StartsWith("Clarity:Slack:SigningSecret:", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("Clarity:Slack:ApiBaseUrl:", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("Clarity:Slack:IncomingWebhookUrl:", StringComparison.Ordinal));
        Assert.DoesNotContain(error.Failures, f => f.Contains("secret with spaces", StringComparison.Ordinal));
    }

    [Fact]
    public void ASigningSecretWithoutABotToken_IsRefused()
    {
        var error = Assert.Throws<OptionsValidationException>(() => ClarityServer.Create(new Dictionary<string, string?>
        {
            ["Clarity:Slack:SigningSecret"] = "0123456789abcdef0123456789abcdef",
        }));
        Assert.Contains(error.Failures, f => f.StartsWith("Clarity:Slack:SigningSecret:", StringComparison.Ordinal) && f.Contains("BotToken", StringComparison.Ordinal));
    }
}
