using System.Net;
using System.Net.Sockets;

namespace Clarity.Hosting.RateLimiting;

/// <summary>
/// The client address that sign-in limits count by: the connection's remote address (which the forwarded-headers
/// middleware has already replaced with the client's when the connection came from a trusted proxy). IPv4-mapped
/// IPv6 addresses count as IPv4; an IPv6 address counts by its /64 network, because one subscriber commonly holds
/// a whole /64 and could otherwise rotate through it.
/// </summary>
public static class ClientAddress
{
    public static string Of(HttpContext context) => Normalize(context.Connection.RemoteIpAddress);

    public static string Normalize(IPAddress? address)
    {
        if (address is null)
        {
            return "unknown";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }
}
