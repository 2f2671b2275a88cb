using System.Net;
using System.Net.Sockets;
using Clarity.Hosting;

namespace Clarity.Features.Webhooks;

/// <summary>
/// Where webhooks may be sent (SSRF). A URL must be http(s) without credentials, and every address its host resolves to
/// must be public: never loopback, private (RFC 1918, 100.64/10 shared, fc00::/7 unique local), link-local (169.254/16,
/// fe80::/10, which holds the cloud metadata service 169.254.169.254), multicast, unspecified, broadcast or reserved.
/// IPv4-mapped and NAT64 (64:ff9b::/96) IPv6 addresses are judged by the IPv4 address inside. <c>AllowPrivateNetworks</c>
/// allows loopback and private addresses (tests, an intranet); the others stay refused. The rules run when an endpoint
/// is saved and again at connect time for every address the host resolves to then (DNS rebinding).
/// </summary>
public static class WebhookAddressRules
{
    public const int MaxUrlLength = 2048;

    /// <summary>The rule an address breaks, or null when it may be reached.</summary>
    public static string? Violation(IPAddress address, bool allowPrivateNetworks)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        else if (address.AddressFamily == AddressFamily.InterNetworkV6 && InPrefix(address, s_nat64, 96))
        {
            address = new IPAddress(address.GetAddressBytes()[12..]);
        }

        var bytes = address.GetAddressBytes();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var (a, b) = (bytes[0], bytes[1]);
            if (address.Equals(IPAddress.Parse("169.254.169.254")) || address.Equals(IPAddress.Parse("100.100.100.200")))
            {
                return "cloud-metadata";
            }

            if (a == 0)
            {
                return "unspecified";
            }

            if (a == 169 && b == 254)
            {
                return "link-local";
            }

            if (a >= 224 && a <= 239)
            {
                return "multicast";
            }

            if (a >= 240)
            {
                return "reserved";
            }

            if (a == 127)
            {
                return allowPrivateNetworks ? null : "loopback";
            }

            if (a == 10 || (a == 172 && b >= 16 && b <= 31) || (a == 192 && b == 168) || (a == 100 && b >= 64 && b <= 127))
            {
                return allowPrivateNetworks ? null : "private";
            }

            if ((a == 192 && b == 0 && bytes[2] == 0) || (a == 198 && (b == 18 || b == 19)))
            {
                return "reserved";
            }

            return null;
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return "unsupported-address";
        }

        if (address.Equals(IPAddress.IPv6None) || address.Equals(IPAddress.IPv6Any))
        {
            return "unspecified";
        }

        if (InPrefix(address, s_awsMetadataV6, 128))
        {
            return "cloud-metadata";
        }

        if (address.IsIPv6Multicast)
        {
            return "multicast";
        }

        if ((bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80) || address.IsIPv6SiteLocal)
        {
            return "link-local";
        }

        if (address.Equals(IPAddress.IPv6Loopback))
        {
            return allowPrivateNetworks ? null : "loopback";
        }

        if ((bytes[0] & 0xfe) == 0xfc)
        {
            return allowPrivateNetworks ? null : "private";
        }

        // ::/96 (IPv4-compatible, deprecated) and the other reserved low addresses.
        if (bytes.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0)
        {
            return "reserved";
        }

        return null;
    }

    /// <summary>What each rule means, for the 400 that names it.</summary>
    public static string Explain(string rule) => rule switch
    {
        "loopback" => "loopback addresses (127.0.0.0/8, ::1) are refused unless Webhooks:AllowPrivateNetworks is set",
        "private" => "private addresses (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) are refused unless Webhooks:AllowPrivateNetworks is set",
        "link-local" => "link-local addresses (169.254/16, fe80::/10) are refused",
        "cloud-metadata" => "cloud metadata addresses (169.254.169.254, fd00:ec2::254) are refused",
        "multicast" => "multicast addresses are refused",
        "unspecified" => "unspecified addresses (0.0.0.0/8, ::) are refused",
        "reserved" => "reserved and special-purpose addresses are refused",
        _ => "this kind of address is refused",
    };

    /// <summary>
    /// Checks a URL as given by a client: http(s), absolute, no credentials, no fragment, and a host whose every address
    /// passes <see cref="Violation"/>. Throws a 400 naming the rule.
    /// </summary>
    public static async Task<Uri> CheckUrlAsync(string? url, bool allowPrivateNetworks, CancellationToken ct)
    {
        var (uri, addresses) = await ResolveAsync(Check.Required(url, "url", MaxUrlLength), Refused, ct);
        foreach (var address in addresses)
        {
            if (Violation(address, allowPrivateNetworks) is { } rule)
            {
                throw Refused(rule, $"resolves to {address}: {Explain(rule)}.");
            }
        }

        return uri;
    }

    /// <summary>
    /// The checks every URL the server will call for a client starts with: absolute, http(s), no credentials, no
    /// fragment, and the addresses of its host (a literal address, or what DNS answers within 5 s), for the caller to
    /// judge with <see cref="Violation"/>. A URL that fails one is refused with <paramref name="refuse"/>(rule, message).
    /// </summary>
    public static async Task<(Uri Uri, IPAddress[] Addresses)> ResolveAsync(string text, Func<string, string, ApiException> refuse, CancellationToken ct)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri))
        {
            throw refuse("not-absolute", "must be an absolute http(s) URL.");
        }

        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
        {
            throw refuse("scheme", $"must use http or https, not '{uri.Scheme}'.");
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            throw refuse("credentials", "must not carry credentials (user:password@).");
        }

        if (!string.IsNullOrEmpty(uri.Fragment))
        {
            throw refuse("fragment", "must not have a fragment (#…).");
        }

        if (IPAddress.TryParse(uri.DnsSafeHost, out var literal))
        {
            return (uri, [literal]);
        }

        IPAddress[] addresses;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            addresses = await Dns.GetHostAddressesAsync(uri.DnsSafeHost, timeout.Token);
        }
        catch (Exception ex) when (ex is SocketException or ArgumentException || (ex is OperationCanceledException && !ct.IsCancellationRequested))
        {
            // No such host, a name DNS cannot carry (too long, bad characters), or no answer in time.
            addresses = [];
        }

        return addresses.Length > 0 ? (uri, addresses) : throw refuse("unresolvable", $"the host '{uri.DnsSafeHost}' does not resolve.");
    }

    private static ApiException Refused(string rule, string message) =>
        new(400, "webhook-url", "Webhook URL refused", $"url: {message} (rule: {rule})", new Dictionary<string, string[]> { ["url"] = [message], ["rule"] = [rule] });

    private static readonly IPAddress s_nat64 = IPAddress.Parse("64:ff9b::");
    private static readonly IPAddress s_awsMetadataV6 = IPAddress.Parse("fd00:ec2::254");

    private static bool InPrefix(IPAddress address, IPAddress prefix, int bits)
    {
        var a = address.GetAddressBytes();
        var p = prefix.GetAddressBytes();
        if (a.Length != p.Length)
        {
            return false;
        }

        for (var i = 0; i < bits / 8; i++)
        {
            if (a[i] != p[i])
            {
                return false;
            }
        }

        return true;
    }
}
