using System.Security.Cryptography;
using System.Text;
using Clarity.Features.Notifications.WebPush;
using Clarity.Hosting;
using Xunit;
using Base64Url = System.Buffers.Text.Base64Url;

namespace Clarity.Tests.Features.Notifications.WebPush;

/// <summary>
/// The loopback push service's decryption checked against RFC 8291's worked example (§5, Appendix A), so that the
/// channel's tests prove something; and the key and endpoint rules, without a host.
/// </summary>
public sealed class WebPushCryptoTests
{
    // RFC 8291 Appendix A.
    private const string Plaintext = "When I grow up, I want to be a watermelon";
    private const string UaPublic = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    private const string UaPrivate = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    private const string AuthSecret = "BTBZMqHH6r4Tts7J_aSIgg";
    private const string Message =
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    [Fact]
    public void LoopbackDecryption_OfRfc8291AppendixA_GivesItsPlaintext()
    {
        var ua = Base64Url.DecodeFromChars(UaPublic);
        using var device = ECDiffieHellman.Create(new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP256,
            Q = new ECPoint { X = ua[1..33], Y = ua[33..] },
            D = Base64Url.DecodeFromChars(UaPrivate),
        });

        var plaintext = LoopbackPushService.Decrypt(Base64Url.DecodeFromChars(Message), device, Base64Url.DecodeFromChars(AuthSecret));

        Assert.Equal(Plaintext, Encoding.UTF8.GetString(plaintext));
    }

    [Fact]
    public void LoopbackDecryption_OfATamperedMessage_Fails()
    {
        var ua = Base64Url.DecodeFromChars(UaPublic);
        using var device = ECDiffieHellman.Create(new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP256,
            Q = new ECPoint { X = ua[1..33], Y = ua[33..] },
            D = Base64Url.DecodeFromChars(UaPrivate),
        });
        var body = Base64Url.DecodeFromChars(Message);
        body[^1] ^= 1;

        Assert.ThrowsAny<CryptographicException>(() => LoopbackPushService.Decrypt(body, device, Base64Url.DecodeFromChars(AuthSecret)));
    }

    [Fact]
    public void GeneratedKeyPair_PassesTheCheck_AndAPrivateKeyOfAnotherPairDoesNot()
    {
        var one = VapidKeyPair.Generate();
        var two = VapidKeyPair.Generate();
        Assert.Null(VapidKeyPair.Check(one.PublicKey, one.PrivateKey));
        Assert.Equal(87, one.PublicKey.Length);
        Assert.Equal(43, one.PrivateKey.Length);
        Assert.Contains("does not belong", VapidKeyPair.Check(one.PublicKey, two.PrivateKey), StringComparison.Ordinal);
        Assert.Contains("65 bytes", VapidKeyPair.Check(one.PublicKey[..40], one.PrivateKey), StringComparison.Ordinal);
        Assert.Contains("base64url", VapidKeyPair.Check("!!!", one.PrivateKey), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("mailto:ops@example.com", true)]
    [InlineData("https://clarity.example.com", true)]
    [InlineData("http://clarity.example.com", false)]
    [InlineData("ops@example.com", false)]
    [InlineData("mailto:", false)]
    public void Subject_MustBeMailtoOrHttps(string subject, bool valid) =>
        Assert.Equal(valid, VapidKeyPair.CheckSubject(subject) is null);

    [Theory]
    [InlineData("http://127.0.0.1:9/push/x")]
    [InlineData("https://[::1]:9/push/x")]
    [InlineData("https://localhost:9/push/x")]
    public async Task LoopbackEndpoint_IsRefused_UnlessAllowed(string endpoint)
    {
        var refused = await Assert.ThrowsAsync<ApiException>(() => PushSubscriptionService.CheckEndpointAsync(endpoint, allowLoopback: false, CancellationToken.None));
        Assert.Equal(400, refused.Status);
        Assert.Contains("loopback", refused.Message, StringComparison.Ordinal);
        Assert.True(refused.Errors!.ContainsKey("endpoint"));
        Assert.Equal(endpoint, await PushSubscriptionService.CheckEndpointAsync(endpoint, allowLoopback: true, CancellationToken.None));
    }

    [Fact]
    public void Options_WithHalfAKeyPairOrABadSubject_FailValidation()
    {
        var pair = VapidKeyPair.Generate();
        var validator = new ClarityOptionsValidatorProbe();
        Assert.Empty(validator.Failures(new WebPushOptions { PublicKey = pair.PublicKey, PrivateKey = pair.PrivateKey, Subject = "mailto:a@b.example" }));
        Assert.Contains(validator.Failures(new WebPushOptions { PublicKey = pair.PublicKey }), f => f.Contains("PrivateKey", StringComparison.Ordinal));
        Assert.Contains(validator.Failures(new WebPushOptions { Subject = "ops@example.com" }), f => f.Contains("Subject", StringComparison.Ordinal));
        var failures = validator.Failures(new WebPushOptions { PublicKey = pair.PublicKey, PrivateKey = VapidKeyPair.Generate().PrivateKey });
        Assert.Contains(failures, f => f.Contains("does not belong", StringComparison.Ordinal));
        Assert.DoesNotContain(failures, f => f.Contains(pair.PublicKey, StringComparison.Ordinal));
    }

    private sealed class ClarityOptionsValidatorProbe
    {
        public IReadOnlyList<string> Failures(WebPushOptions webPush)
        {
            var result = new WebPushOptionsValidator().Validate(null, new ClarityOptions { WebPush = webPush });
            return result.Failed ? [.. result.Failures] : [];
        }
    }
}
