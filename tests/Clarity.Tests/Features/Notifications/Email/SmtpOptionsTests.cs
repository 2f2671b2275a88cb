using Clarity.Features.Notifications.Email;
using Clarity.Hosting;
using Xunit;

namespace Clarity.Tests.Features.Notifications.Email;

public sealed class SmtpOptionsTests
{
    [Fact]
    public void NoHost_IsValid_AndEmailIsOff()
    {
        var options = new ClarityOptions();
        Assert.False(options.Smtp.Enabled);
        Assert.True(new ClarityOptionsValidator().Validate(null, options).Succeeded);
    }

    [Fact]
    public void AHostWithASenderAndCredentials_IsValid()
    {
        var options = new ClarityOptions { Smtp = new SmtpOptions { Host = "smtp.example.com", From = "Clarity <clarity@example.com>", User = "u", Password = "p" } };
        Assert.True(new ClarityOptionsValidator().Validate(null, options).Succeeded);
    }

    [Theory]
    [InlineData(null, "Clarity:Smtp:From")]
    [InlineData("not an address", "Clarity:Smtp:From")]
    public void AHostWithoutAUsableSender_FailsNamingFrom(string? from, string expected)
    {
        var options = new ClarityOptions { Smtp = new SmtpOptions { Host = "smtp.example.com", From = from } };
        var result = new ClarityOptionsValidator().Validate(null, options);
        Assert.True(result.Failed);
        Assert.Contains(result.Failures, f => f.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void AUserWithoutAPassword_Fails_AndNoMessageRepeatsAPassword()
    {
        var withoutPassword = new ClarityOptions { Smtp = new SmtpOptions { Host = "smtp.example.com", From = "clarity@example.com", User = "mailer" } };
        Assert.Contains(new ClarityOptionsValidator().Validate(null, withoutPassword).Failures ?? [], f => f.StartsWith("Clarity:Smtp:Password", StringComparison.Ordinal));

        var bad = new ClarityOptions { Smtp = new SmtpOptions { Host = "smtp.example.com:587", From = "nope", Password = "hunter2-secret", Port = 0 } };
        var failures = new ClarityOptionsValidator().Validate(null, bad).Failures ?? [];
        Assert.NotEmpty(failures);
        Assert.DoesNotContain(failures, f => f.Contains("hunter2-secret", StringComparison.Ordinal));
    }
}
