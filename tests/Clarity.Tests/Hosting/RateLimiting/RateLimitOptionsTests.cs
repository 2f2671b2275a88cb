using Clarity.Hosting;
using Clarity.Hosting.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Xunit;

namespace Clarity.Tests.Hosting.RateLimiting;

public sealed class RateLimitOptionsTests
{
    private static IReadOnlyList<string> Failures(IDictionary<string, string?> settings)
    {
        var error = Assert.Throws<OptionsValidationException>(() => ClarityServer.Create(settings));
        return error.Failures.ToList();
    }

    [Fact]
    public void Defaults_AreValid_AndEveryBucketIsOn()
    {
        var options = new ClarityOptions();
        Assert.True(new ClarityOptionsValidator().Validate(null, options).Succeeded);
        Assert.NotNull(options.RateLimits.For(BucketKind.User, null));
        Assert.NotNull(options.RateLimits.For(BucketKind.ApiKey, "acme"));
        Assert.NotNull(options.RateLimits.For(BucketKind.Org, "acme"));
        Assert.Empty(options.Cors.AllowedOrigins);
        Assert.Empty(options.Http.TrustedProxies);
    }

    [Fact]
    public void PerOrgOverrides_KeepWhatTheyLeaveOut_AndZeroTurnsABucketOff()
    {
        var limits = new RateLimitOptions();
        limits.Orgs["acme"] = new OrgRateLimitOptions
        {
            Org = new BucketOverride { Burst = 7 },
            ApiKey = new BucketOverride { PermitsPerSecond = 0 },
        };

        var org = limits.For(BucketKind.Org, "ACME")!;
        Assert.Equal(limits.Org.PermitsPerSecond, org.PermitsPerSecond);
        Assert.Equal(7, org.Burst);
        Assert.Null(limits.For(BucketKind.ApiKey, "acme"));
        Assert.NotNull(limits.For(BucketKind.ApiKey, "other"));
    }

    [Fact]
    public void PerOrgOverrides_FromEnvironmentStyleKeys_MatchTheSlugInAnyCase()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["CLARITY:RATELIMITS:ORGS:ACME:ORG:BURST"] = "9",
        }).Build();
        var options = new ClarityOptions();
        configuration.GetSection(ClarityOptions.Section).Bind(options);
        Assert.Equal(9, options.RateLimits.For(BucketKind.Org, "acme")!.Burst);
    }

    [Fact]
    public void BadSettings_StopTheStart_NamingTheSetting()
    {
        var failures = Failures(new Dictionary<string, string?>
        {
            ["Clarity:RateLimits:ApiKey:Burst"] = "0",
            ["Clarity:RateLimits:Orgs:acme:Org:PermitsPerSecond"] = "-1",
            ["Clarity:RateLimits:SignIn:MaxDelay"] = "02:00:00",
            ["Clarity:Http:TrustedProxies:0"] = "not-an-address",
            ["Clarity:Cors:AllowedOrigins:0"] = "https://app.example/path",
        });
        Assert.Contains(failures, f => f.StartsWith("Clarity:RateLimits:ApiKey:Burst", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Clarity:RateLimits:Orgs:acme:Org:PermitsPerSecond", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Clarity:RateLimits:SignIn:ForgetAfter", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Clarity:Http:TrustedProxies", StringComparison.Ordinal) && f.Contains("not-an-address", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Clarity:Cors:AllowedOrigins", StringComparison.Ordinal) && f.Contains("/path", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("10.0.0.5")]
    [InlineData("10.0.0.0/8")]
    [InlineData("2001:db8::/32")]
    public void TrustedProxies_TakeAddressesAndNetworks(string proxy)
    {
        var options = new ClarityOptions { Http = new HttpOptions { TrustedProxies = [proxy] } };
        Assert.True(new ClarityOptionsValidator().Validate(null, options).Succeeded);
    }
}
