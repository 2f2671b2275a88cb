using Clarity.Hosting;
using Clarity.Hosting.KeyRing;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Notifications.WebPush;

/// <summary>
/// The server's VAPID identity (RFC 8292): the key pair that signs every push request, and the subject that names who to
/// contact. The pair comes from settings (<c>Clarity:WebPush:PublicKey</c> and <c>PrivateKey</c>) or, when they are not
/// set, is generated once and kept in <c>server_secrets</c> encrypted with the Data Protection key ring (the first node
/// to start writes it; every other node reads the same pair). Browsers subscribe with the public key, and a push
/// service accepts only messages signed by the pair a subscription was made with: changing the pair silently ends
/// every existing subscription (see docs/operations.md, "Web push").
/// </summary>
public sealed partial class VapidKeys(ServerSecrets secrets, IOptions<ClarityOptions> options, ILogger<VapidKeys> logger) : IHostedService
{
    internal const string SecretName = "webpush-vapid-keys";

    private readonly SemaphoreSlim _gate = new(1, 1);
    private VapidKeyPair? _pair;

    /// <summary>The key pair (read or generated on first use, then kept in memory).</summary>
    public async ValueTask<VapidKeyPair> GetAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _pair) is { } cached)
        {
            return cached;
        }

        await _gate.WaitAsync(ct);
        try
        {
            if (_pair is { } again)
            {
                return again;
            }

            var settings = options.Value.WebPush;
            VapidKeyPair pair;
            if (!string.IsNullOrWhiteSpace(settings.PublicKey) && !string.IsNullOrWhiteSpace(settings.PrivateKey))
            {
                pair = new VapidKeyPair(settings.PublicKey.Trim().TrimEnd('='), settings.PrivateKey.Trim().TrimEnd('='));
                Log.Configured(logger, pair.PublicKey);
            }
            else
            {
                var stored = await secrets.GetOrCreateAsync(SecretName, () => Serialize(VapidKeyPair.Generate()), ct);
                pair = Deserialize(stored);
                Log.FromDatabase(logger, pair.PublicKey);
            }

            Volatile.Write(ref _pair, pair);
            return pair;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// The VAPID subject: <c>Clarity:WebPush:Subject</c>, else <c>Clarity:PublicUrl</c> when it is https, else null
    /// (the token then has no <c>sub</c> claim).
    /// </summary>
    public string? Subject
    {
        get
        {
            var o = options.Value;
            if (!string.IsNullOrWhiteSpace(o.WebPush.Subject))
            {
                return o.WebPush.Subject.Trim();
            }

            return o.PublicUrl is { Length: > 0 } url && Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttps
                ? uri.GetLeftPart(UriPartial.Authority)
                : null;
        }
    }

    // The pair is read (or made) at start, so that the first notification does not wait for it and a key ring that
    // cannot decrypt it shows at once.
    public async Task StartAsync(CancellationToken cancellationToken) => await GetAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static string Serialize(VapidKeyPair pair) => pair.PublicKey + "." + pair.PrivateKey;

    private static VapidKeyPair Deserialize(string stored)
    {
        var parts = stored.Split('.');
        if (parts.Length != 2 || VapidKeyPair.Check(parts[0], parts[1]) is not null)
        {
            throw new KeyRingException($"the stored web push key pair ('{SecretName}' in server_secrets) is not a valid P-256 key pair.");
        }

        return new VapidKeyPair(parts[0], parts[1]);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Web push signs with the configured VAPID key pair (public key {PublicKey})")]
        public static partial void Configured(ILogger logger, string publicKey);

        [LoggerMessage(2, LogLevel.Information, "Web push signs with the VAPID key pair kept in the database (public key {PublicKey})")]
        public static partial void FromDatabase(ILogger logger, string publicKey);
    }
}
