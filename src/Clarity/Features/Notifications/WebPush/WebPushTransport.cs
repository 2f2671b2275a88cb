using System.Net.Http.Headers;
using Clarity.Features.Webhooks;
using Clarity.Hosting;
using Lib.Net.Http.WebPush.Authentication;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Notifications.WebPush;

/// <summary>
/// The HTTP connection to push services, shared by every send: no proxy, no redirects, no cookies, and a connect step
/// that checks every address the push service's host resolves to against the webhook address rules
/// (<see cref="WebhookSender.SafeConnect"/>), so a subscription saved with a public host cannot be pointed at an internal
/// address later (DNS rebinding).
/// </summary>
public sealed class WebPushTransport : IDisposable
{
    private readonly SocketsHttpHandler _handler;

    public WebPushTransport(IOptions<ClarityOptions> options)
    {
        var settings = options.Value.WebPush;
        _handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(settings.TimeoutSeconds),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            MaxResponseHeadersLength = 64,
            // Loopback push services (tests, development) also open private networks at connect time: the rules that
            // refuse them when a subscription is saved stay strict.
            ConnectCallback = WebhookSender.SafeConnect(settings.AllowLoopbackEndpoints),
        };
    }

    /// <summary>A client for one send, signing with <paramref name="vapid"/>. Dispose it; the connections stay pooled.</summary>
    public HttpClient CreateClient(VapidAuthentication vapid) =>
        new(new VapidAudience(vapid) { InnerHandler = _handler }, disposeHandler: false)
        {
            Timeout = Timeout.InfiniteTimeSpan,
            // What a push service answers is read whole only for an error's reason: bounded.
            MaxResponseContentBufferSize = 64 * 1024,
        };

    public void Dispose() => _handler.Dispose();

    /// <summary>
    /// The VAPID token's <c>aud</c> must be the origin of the push resource (RFC 8292 §2), port included when it is not
    /// the scheme's default; Lib.Net.Http.WebPush leaves the port out. Real push services listen on 443, where the two
    /// agree; for any other port the token is signed again for the right origin.
    /// </summary>
    private sealed class VapidAudience(VapidAuthentication vapid) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri is { IsDefaultPort: false } uri && string.Equals(request.Headers.Authorization?.Scheme, "vapid", StringComparison.OrdinalIgnoreCase))
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("vapid", vapid.GetVapidSchemeAuthenticationHeaderValueParameter(uri.GetLeftPart(UriPartial.Authority)));
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}
