using System.Net;
using Clarity.Hosting.RateLimiting;
using Xunit;

namespace Clarity.Tests.Hosting.RateLimiting;

public sealed class ClientAddressTests
{
    [Theory]
    [InlineData("203.0.113.7", "203.0.113.7")]
    [InlineData("::ffff:203.0.113.7", "203.0.113.7")]
    [InlineData("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64")]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:2::/64")]
    [InlineData("::1", "::/64")]
    public void Normalize_CountsIPv6ByItsSlash64AndMappedIPv4AsIPv4(string address, string expected) =>
        Assert.Equal(expected, ClientAddress.Normalize(IPAddress.Parse(address)));

    [Fact]
    public void Normalize_WithoutAnAddress_IsOneSharedKey() => Assert.Equal("unknown", ClientAddress.Normalize(null));
}
