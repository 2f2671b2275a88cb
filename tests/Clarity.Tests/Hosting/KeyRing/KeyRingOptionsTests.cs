using Clarity.Hosting;
using Microsoft.Extensions.Options;
using Xunit;

namespace Clarity.Tests.Hosting.KeyRing;

public sealed class KeyRingOptionsTests
{
    [Fact]
    public void BadKeyRingSettings_StopTheStart_NamingTheSetting()
    {
        var error = Assert.Throws<OptionsValidationException>(() => ClarityServer.Create(new Dictionary<string, string?>
        {
            ["Clarity:KeyRing:KeyFile"] = Path.Combine(Path.GetTempPath(), "clarity-no-such-key-" + Guid.NewGuid().ToString("N")),
            ["Clarity:KeyRing:PreviousKeys:0"] = "not-a-key",
            ["Clarity:KeyRing:KeyLifetime"] = "2.00:00:00",
        }));
        Assert.Contains(error.Failures, f => f.StartsWith("Clarity:KeyRing:KeyFile:", StringComparison.Ordinal) && f.Contains("does not exist", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("Clarity:KeyRing:PreviousKeys:0:", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("Clarity:KeyRing:KeyLifetime", StringComparison.Ordinal));
    }

    [Fact]
    public void AKeyThatIsNot32BytesOfBase64_IsRefused_AndSoIsAKeyWithAKeyFile()
    {
        var error = Assert.Throws<OptionsValidationException>(() => ClarityServer.Create(new Dictionary<string, string?>
        {
            ["Clarity:KeyRing:Key"] = Convert.ToBase64String(new byte[16]),
            ["Clarity:KeyRing:KeyFile"] = "/dev/null",
        }));
        Assert.Contains(error.Failures, f => f.StartsWith("Clarity:KeyRing:Key:", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("Clarity:KeyRing: set Key or KeyFile, not both", StringComparison.Ordinal));
    }
}
