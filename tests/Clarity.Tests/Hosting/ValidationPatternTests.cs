using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Text.RegularExpressions;
using Clarity.Hosting;
using Xunit;

namespace Clarity.Tests.Hosting;

/// <summary>
/// Every validation pattern matches the whole value: <c>$</c> also matches before a final newline, so an anchored
/// pattern must end with <c>\z</c>. Found by reflection, so that a pattern added later is checked too.
/// </summary>
public sealed class ValidationPatternTests
{
    /// <summary>A value each [GeneratedRegex] of the server accepts, by method name. A new pattern needs an entry here.</summary>
    private static readonly Dictionary<string, string> s_samples = new()
    {
        ["QueuePattern"] = "team/build:linux-x64.v2",
        ["SlugPattern"] = "acme-2",
        ["ActionPattern"] = "member.role_changed",
        ["ActionPrefixPattern"] = "task.*",
        ["TypePattern"] = "apikey",
        ["Identifier"] = "draft_2-final",
        ["Name"] = "team.writer:v2",
        ["IntegerPattern"] = "0x1F",
        ["FloatPattern"] = "-1.5e3",
        ["NamePattern"] = "#agents-on_call",
        ["IdPattern"] = "C0123ABCD",
        ["WorkflowPattern"] = "nightly triage_2.v1",
        ["ClockPattern"] = "22:30",
    };

    public static TheoryData<string> GeneratedPatterns =>
        [.. GeneratedRegexMethods().Select(m => $"{m.DeclaringType!.Name}.{m.Name}")];

    [Theory]
    [MemberData(nameof(GeneratedPatterns))]
    public void GeneratedPattern_AcceptsItsSample_ButNotWithATrailingNewline(string name)
    {
        var method = GeneratedRegexMethods().Single(m => $"{m.DeclaringType!.Name}.{m.Name}" == name);
        Assert.True(s_samples.TryGetValue(method.Name, out var sample), $"Add a sample value for {name} to this test.");
        var regex = (Regex)method.Invoke(null, null)!;
        Assert.Matches(regex, sample);
        Assert.DoesNotMatch(regex, sample + "\n");
        Assert.DoesNotMatch(regex, sample + "\r\n");
        Assert.DoesNotMatch(regex, "\n" + sample);
        Assert.False(regex.ToString().EndsWith('$'), $"{name} ends with $; anchor it with \\z.");
    }

    [Fact]
    public void OptionPatterns_AcceptTheirDefault_ButNotWithATrailingNewline()
    {
        var checkedAny = false;
        foreach (var (owner, property) in OptionProperties(typeof(ClarityOptions), new ClarityOptions()))
        {
            if (property.GetCustomAttribute<RegularExpressionAttribute>() is not { } pattern)
            {
                continue;
            }

            checkedAny = true;
            var value = (string)property.GetValue(owner)!;
            Assert.True(pattern.IsValid(value), $"{property.Name}: the default '{value}' does not match.");
            Assert.False(pattern.IsValid(value + "\n"), $"{property.Name}: accepts a trailing newline.");
        }

        Assert.True(checkedAny);
    }

    private static IEnumerable<MethodInfo> GeneratedRegexMethods() =>
        typeof(ClarityServer).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.DeclaredOnly))
            .Where(m => m.GetCustomAttribute<GeneratedRegexAttribute>() is not null && m.GetParameters().Length == 0);

    private static IEnumerable<(object Owner, PropertyInfo Property)> OptionProperties(Type type, object owner)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            yield return (owner, property);
            if (property.PropertyType.IsClass && property.PropertyType.Namespace == typeof(ClarityOptions).Namespace && property.GetValue(owner) is { } nested)
            {
                foreach (var inner in OptionProperties(property.PropertyType, nested))
                {
                    yield return inner;
                }
            }
        }
    }
}

/// <summary>The new settings are checked at start-up, with a line naming each bad one.</summary>
public sealed class HardeningOptionsTests
{
    [Theory]
    [InlineData("PublicUrl", "not a url")]
    [InlineData("PublicUrl", "ftp://clarity.example")]
    [InlineData("PublicUrl", "https://clarity.example/?q=1")]
    [InlineData("AllowedHosts", " ; ")]
    [InlineData("Limits:MaxUrlBytes", "100")]
    [InlineData("Limits:MaxUrlBytes", "65536")]
    [InlineData("Limits:MaxRequestHeadersBytes", "1048576")]
    [InlineData("Limits:MaxRequestHeaderCount", "5000")]
    [InlineData("SqliteSynchronous", "FULL\n")]
    [InlineData("Otlp:Protocol", "grpc\n")]
    public void AnInvalidSetting_IsRefusedAtStartUp_NamingIt(string setting, string value)
    {
        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => ClarityServer.Create(new Dictionary<string, string?>
        {
            ["Clarity:Urls"] = "http://127.0.0.1:0",
            ["Clarity:DataDirectory"] = Path.GetTempPath(),
            ["Clarity:" + setting] = value,
        }));
        var leaf = setting.Split(':')[^1];
        Assert.Contains(error.Failures, f => f.Contains(leaf, StringComparison.Ordinal));
    }
}
