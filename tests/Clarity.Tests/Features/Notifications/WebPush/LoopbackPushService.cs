using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Base64Url = System.Buffers.Text.Base64Url;

namespace Clarity.Tests.Features.Notifications.WebPush;

/// <summary>
/// A push service on loopback (Kestrel), strict the way a real one is: it accepts <c>POST /push/{id}</c> (201), verifies
/// the <c>Authorization: vapid t=&lt;jwt&gt;, k=&lt;key&gt;</c> header (RFC 8292: ES256 signature with the key in
/// <c>k</c>, <c>aud</c> = this service's origin, <c>exp</c> in the future and at most 24 hours away, <c>sub</c> present)
/// and decrypts the aes128gcm body (RFC 8291 / RFC 8188) with the subscription's private key and auth secret, which the
/// test made (<see cref="NewSubscription"/>) as a browser would. What it received is recorded, with the reason when it
/// refused (400/401/403). A subscription can be told to answer another status (410: gone).
/// </summary>
public sealed class LoopbackPushService : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, Device> _devices = new();
    private readonly ConcurrentQueue<Received> _received = new();

    private LoopbackPushService(WebApplication app) => _app = app;

    /// <summary>http://127.0.0.1:{port}, the audience a VAPID token must name.</summary>
    public string Origin { get; private set; } = "";

    /// <summary>Every request, in arrival order.</summary>
    public IReadOnlyList<Received> Received => [.. _received];

    public static async Task<LoopbackPushService> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrelCore().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var service = new LoopbackPushService(app);
        app.MapPost("/push/{id}", service.HandleAsync);
        await app.StartAsync();
        service.Origin = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
        return service;
    }

    /// <summary>A new device: its P-256 key pair and 16-byte auth secret, and the subscription JSON a browser would post.</summary>
    public Device NewSubscription()
    {
        var id = Guid.NewGuid().ToString("N");
        var key = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        var device = new Device(id, $"{Origin}/push/{id}", key, RandomNumberGenerator.GetBytes(16));
        _devices[id] = device;
        return device;
    }

    /// <summary>The messages a device received and could decrypt.</summary>
    public IReadOnlyList<Received> For(Device device) => [.. _received.Where(r => r.DeviceId == device.Id)];

    private async Task<IResult> HandleAsync(string id, HttpRequest request)
    {
        using var body = new MemoryStream();
        await request.Body.CopyToAsync(body);
        var headers = request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        if (!_devices.TryGetValue(id, out var device))
        {
            return Record(new Received(id, 404, "unknown subscription", null, headers, null));
        }

        if (device.AnswerStatus is { } status)
        {
            return Record(new Received(id, status, "told to answer " + status, null, headers, null));
        }

        if (VerifyVapid(request.Headers.Authorization.ToString(), Origin) is { Error: { } vapidError })
        {
            return Record(new Received(id, 401, vapidError, null, headers, null));
        }

        if (!request.Headers.TryGetValue("TTL", out var ttl) || !int.TryParse(ttl, out _))
        {
            return Record(new Received(id, 400, "TTL header missing", null, headers, null));
        }

        if (!string.Equals(request.Headers.ContentEncoding, "aes128gcm", StringComparison.Ordinal))
        {
            return Record(new Received(id, 415, $"Content-Encoding '{request.Headers.ContentEncoding}' is not aes128gcm", null, headers, null));
        }

        string plaintext;
        try
        {
            plaintext = Encoding.UTF8.GetString(Decrypt(body.ToArray(), device.Key, device.AuthSecret));
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException or ArgumentException)
        {
            return Record(new Received(id, 400, "cannot decrypt: " + ex.Message, null, headers, null));
        }

        var vapid = VerifyVapid(request.Headers.Authorization.ToString(), Origin);
        return Record(new Received(id, 201, null, plaintext, headers, vapid.Claims));
    }

    private IResult Record(Received received)
    {
        _received.Enqueue(received);
        return received.Status == 201 ? Results.StatusCode(201) : Results.Text(received.Error ?? "", statusCode: received.Status);
    }

    /// <summary>Checks a <c>vapid t=…, k=…</c> header against RFC 8292; the token's claims, or what is wrong.</summary>
    public static (string? Error, JsonElement? Claims, string? PublicKey) VerifyVapid(string authorization, string origin)
    {
        if (!authorization.StartsWith("vapid ", StringComparison.Ordinal))
        {
            return ($"Authorization is not 'vapid t=…, k=…': '{authorization}'", null, null);
        }

        var parameters = authorization["vapid ".Length..].Split(',', StringSplitOptions.TrimEntries)
            .Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        if (!parameters.TryGetValue("t", out var token) || !parameters.TryGetValue("k", out var k))
        {
            return ("vapid header lacks t or k", null, null);
        }

        var parts = token.Split('.');
        if (parts.Length != 3)
        {
            return ("the token is not a JWS (three parts)", null, null);
        }

        var header = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[0])).RootElement;
        if (header.GetProperty("alg").GetString() != "ES256")
        {
            return ("alg is not ES256", null, null);
        }

        var key = Base64Url.DecodeFromChars(k);
        if (key.Length != 65 || key[0] != 4)
        {
            return ("k is not an uncompressed P-256 point", null, null);
        }

        using var ecdsa = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = new ECPoint { X = key[1..33], Y = key[33..] } });
        var signature = Base64Url.DecodeFromChars(parts[2]);
        if (!ecdsa.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
        {
            return ("the ES256 signature does not verify with k", null, null);
        }

        var claims = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[1])).RootElement.Clone();
        var aud = claims.TryGetProperty("aud", out var a) ? a.GetString() : null;
        if (aud != origin)
        {
            return ($"aud '{aud}' is not this push service's origin '{origin}'", claims, k);
        }

        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (!claims.TryGetProperty("exp", out var e) || !e.TryGetInt64(out var exp) || exp <= now || exp > now + 86_400)
        {
            return ("exp is missing, past, or more than 24 hours away", claims, k);
        }

        if (!claims.TryGetProperty("sub", out var sub) || string.IsNullOrEmpty(sub.GetString()))
        {
            return ("sub is missing", claims, k);
        }

        return (null, claims, k);
    }

    /// <summary>
    /// Decrypts an aes128gcm push message (RFC 8188 content coding with the RFC 8291 key schedule) with the receiving
    /// device's key pair and auth secret; the plaintext without its padding.
    /// </summary>
    public static byte[] Decrypt(byte[] body, ECDiffieHellman device, byte[] authSecret)
    {
        // Header: salt (16) | record size (4) | key id length (1) | key id (the sender's public key, 65).
        if (body.Length < 21)
        {
            throw new FormatException("the body is shorter than the aes128gcm header");
        }

        var salt = body[..16];
        var recordSize = (int)BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(16, 4));
        var idLength = body[20];
        if (idLength != 65 || body.Length < 21 + idLength || recordSize < 18)
        {
            throw new FormatException($"the key id is {idLength} bytes, not a 65-byte P-256 point, or the record size {recordSize} is too small");
        }

        var senderPublic = body[21..(21 + idLength)];
        var receiverPublic = PublicKeyOf(device);
        using var sender = ECDiffieHellman.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = new ECPoint { X = senderPublic[1..33], Y = senderPublic[33..] } });
        var ecdhSecret = device.DeriveRawSecretAgreement(sender.PublicKey);

        // RFC 8291 §3.4: IKM = HKDF(auth_secret, ecdh_secret, "WebPush: info" || 0x00 || ua_public || as_public, 32).
        var keyInfo = Encoding.ASCII.GetBytes("WebPush: info\0").Concat(receiverPublic).Concat(senderPublic).ToArray();
        var ikm = HKDF.DeriveKey(HashAlgorithmName.SHA256, ecdhSecret, 32, authSecret, keyInfo);
        // RFC 8188 §2.2: CEK and NONCE from HKDF(salt, IKM).
        var prk = HKDF.Extract(HashAlgorithmName.SHA256, ikm, salt);
        var cek = HKDF.Expand(HashAlgorithmName.SHA256, prk, 16, Encoding.ASCII.GetBytes("Content-Encoding: aes128gcm\0"));
        var nonce = HKDF.Expand(HashAlgorithmName.SHA256, prk, 12, Encoding.ASCII.GetBytes("Content-Encoding: nonce\0"));

        var plaintext = new List<byte>();
        using var aes = new AesGcm(cek, 16);
        var records = body[(21 + idLength)..];
        for (var seq = 0; records.Length > 0; seq++)
        {
            var record = records[..Math.Min(recordSize, records.Length)];
            records = records[record.Length..];
            var iv = (byte[])nonce.Clone();
            for (var i = 0; i < 8; i++)
            {
                iv[11 - i] ^= (byte)((long)seq >> (8 * i));
            }

            var decrypted = new byte[record.Length - 16];
            aes.Decrypt(iv, record[..^16], record[^16..], decrypted);
            var end = Array.FindLastIndex(decrypted, b => b != 0);
            var last = records.Length == 0;
            if (end < 0 || decrypted[end] != (last ? 2 : 1))
            {
                throw new FormatException("a record lacks its padding delimiter (0x02 for the last record, 0x01 before)");
            }

            plaintext.AddRange(decrypted[..end]);
        }

        return [.. plaintext];
    }

    public static byte[] PublicKeyOf(ECDiffieHellman key)
    {
        var p = key.ExportParameters(false);
        return [0x04, .. p.Q.X!, .. p.Q.Y!];
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        foreach (var device in _devices.Values)
        {
            device.Key.Dispose();
        }
    }

    /// <summary>A browser's side of a subscription.</summary>
    public sealed record Device(string Id, string Endpoint, ECDiffieHellman Key, byte[] AuthSecret)
    {
        /// <summary>Answer this status instead of accepting (e.g. 410 Gone, 429, 503).</summary>
        public int? AnswerStatus { get; set; }

        public string P256dh => Base64Url.EncodeToString(PublicKeyOf(Key));

        public string Auth => Base64Url.EncodeToString(AuthSecret);

        /// <summary>The body of POST /api/v1/me/push-subscriptions, as PushSubscription.toJSON() gives it.</summary>
        public object Json => new { endpoint = Endpoint, expirationTime = (long?)null, keys = new { p256dh = P256dh, auth = Auth } };
    }
}

/// <summary>One request the push service received: the status it answered, why it refused, the decrypted text, the headers and the VAPID claims.</summary>
public sealed record Received(string DeviceId, int Status, string? Error, string? Plaintext, IReadOnlyDictionary<string, string> Headers, JsonElement? Claims);
