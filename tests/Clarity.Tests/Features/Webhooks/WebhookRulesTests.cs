using System.Net;
using System.Text;
using Clarity.Events;
using Clarity.Features.Webhooks;
using Clarity.Hosting;
using Xunit;

namespace Clarity.Tests.Features.Webhooks;

/// <summary>The pure rules of webhooks: which addresses may be reached, the signature, the retry schedule and the event catalogue.</summary>
public sealed class WebhookRulesTests
{
    [Theory]
    // Public addresses pass either way.
    [InlineData("93.184.215.14", null, null)]
    [InlineData("8.8.8.8", null, null)]
    [InlineData("2606:4700::1111", null, null)]
    [InlineData("::ffff:93.184.215.14", null, null)]
    [InlineData("172.32.0.1", null, null)]
    [InlineData("100.128.0.1", null, null)]
    [InlineData("11.0.0.1", null, null)]
    // Loopback and private: refused unless private networks are allowed.
    [InlineData("127.0.0.1", "loopback", null)]
    [InlineData("127.255.255.254", "loopback", null)]
    [InlineData("::1", "loopback", null)]
    [InlineData("::ffff:127.0.0.1", "loopback", null)]
    [InlineData("64:ff9b::7f00:1", "loopback", null)]
    [InlineData("10.0.0.1", "private", null)]
    [InlineData("172.16.0.1", "private", null)]
    [InlineData("172.31.255.255", "private", null)]
    [InlineData("192.168.1.1", "private", null)]
    [InlineData("100.64.0.1", "private", null)]
    [InlineData("100.127.255.255", "private", null)]
    [InlineData("fc00::1", "private", null)]
    [InlineData("fd12:3456::1", "private", null)]
    [InlineData("::ffff:10.1.2.3", "private", null)]
    // Never reachable.
    [InlineData("169.254.169.254", "cloud-metadata", "cloud-metadata")]
    [InlineData("::ffff:169.254.169.254", "cloud-metadata", "cloud-metadata")]
    [InlineData("fd00:ec2::254", "cloud-metadata", "cloud-metadata")]
    [InlineData("169.254.0.1", "link-local", "link-local")]
    [InlineData("fe80::1", "link-local", "link-local")]
    [InlineData("febf::1", "link-local", "link-local")]
    [InlineData("224.0.0.1", "multicast", "multicast")]
    [InlineData("239.255.255.250", "multicast", "multicast")]
    [InlineData("ff02::1", "multicast", "multicast")]
    [InlineData("0.0.0.0", "unspecified", "unspecified")]
    [InlineData("0.1.2.3", "unspecified", "unspecified")]
    [InlineData("::", "unspecified", "unspecified")]
    [InlineData("255.255.255.255", "reserved", "reserved")]
    [InlineData("240.0.0.1", "reserved", "reserved")]
    [InlineData("198.18.0.1", "reserved", "reserved")]
    [InlineData("::0.0.0.2", "reserved", "reserved")]
    public void AddressRules_RefuseWhatTheyShould(string address, string? rule, string? ruleWhenPrivateAllowed)
    {
        Assert.Equal(rule, WebhookAddressRules.Violation(IPAddress.Parse(address), allowPrivateNetworks: false));
        Assert.Equal(ruleWhenPrivateAllowed, WebhookAddressRules.Violation(IPAddress.Parse(address), allowPrivateNetworks: true));
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080/hook", "loopback")]
    [InlineData("http://localhost/hook", "loopback")]
    [InlineData("http://[::1]/hook", "loopback")]
    [InlineData("http://10.0.0.5/hook", "private")]
    [InlineData("https://169.254.169.254/", "cloud-metadata")]
    [InlineData("gopher://example.com/", "scheme")]
    [InlineData("https://me:secret@example.com/", "credentials")]
    [InlineData("https://example.com/#frag", "fragment")]
    public async Task CheckUrl_RefusesNamingTheRule(string url, string rule)
    {
        var error = await Assert.ThrowsAsync<ApiException>(() => WebhookAddressRules.CheckUrlAsync(url, allowPrivateNetworks: false, CancellationToken.None));
        Assert.Equal(400, error.Status);
        Assert.Contains($"rule: {rule}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckUrl_AcceptsAPublicAddress_AndLoopbackWhenAllowed()
    {
        Assert.Equal("https://93.184.215.14/hook", (await WebhookAddressRules.CheckUrlAsync("https://93.184.215.14/hook", false, CancellationToken.None)).OriginalString);
        Assert.Equal(8080, (await WebhookAddressRules.CheckUrlAsync("http://127.0.0.1:8080/hook", true, CancellationToken.None)).Port);
    }

    [Fact]
    public void Signature_MatchesTheStandardWebhooksTestVector()
    {
        // The vector published with the Standard Webhooks reference libraries.
        var key = WebhookSignature.KeyOf("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        var signature = WebhookSignature.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, Encoding.UTF8.GetBytes("{\"test\": 2432232314}"));
        Assert.Equal("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", signature);
    }

    [Fact]
    public void SignatureHeader_HoldsOneSignaturePerSecret()
    {
        var a = WebhookSignature.KeyOf(WebhookSignature.NewSecret());
        var b = WebhookSignature.KeyOf(WebhookSignature.NewSecret());
        var header = WebhookSignature.Header([a, b], "msg_1", 1, "{}"u8);
        Assert.Equal([WebhookSignature.Sign(a, "msg_1", 1, "{}"u8), WebhookSignature.Sign(b, "msg_1", 1, "{}"u8)], header.Split(' '));
    }

    [Theory]
    [InlineData("5s,5m,30m,2h,5h,10h,10h", 7)]
    [InlineData("200ms, 1.5s", 2)]
    [InlineData("", -1)]
    [InlineData("5x", -1)]
    [InlineData("-1s", -1)]
    [InlineData("8d", -1)]
    public void RetrySchedule_Parses(string text, int count)
    {
        var waits = WebhookOptions.ParseSchedule(text);
        Assert.Equal(count, waits?.Count ?? -1);
    }

    [Fact]
    public void DefaultRetrySchedule_SpansAboutADay()
    {
        var total = new WebhookOptions().Retries.Aggregate(TimeSpan.Zero, (a, b) => a + b);
        Assert.InRange(total, TimeSpan.FromHours(20), TimeSpan.FromHours(36));
    }

    [Fact]
    public void PublicEvents_MapTheInternalEvents()
    {
        var org = Guid.NewGuid();
        var task = Guid.NewGuid();
        Assert.Equal("task.created", PublicEvents.TypeOf(new TaskChanged(org, task, "q", "queued", false)));
        Assert.Equal("task.requeued", PublicEvents.TypeOf(new TaskChanged(org, task, "q", "queued", false) { Attempts = 1 }));
        Assert.Equal("task.started", PublicEvents.TypeOf(new TaskChanged(org, task, "q", "running", false) { Attempts = 1 }));
        Assert.Equal("task.succeeded", PublicEvents.TypeOf(new TaskChanged(org, task, "q", "succeeded", false)));
        Assert.Equal("task.failed", PublicEvents.TypeOf(new TaskChanged(org, task, "q", "failed", false)));
        Assert.Equal("task.cancelled", PublicEvents.TypeOf(new TaskChanged(org, task, "q", "cancelled", false)));
        Assert.Equal("clarification.asked", PublicEvents.TypeOf(new ClarificationChanged(org, Guid.NewGuid(), task, "pending")));
        Assert.Equal("clarification.answered", PublicEvents.TypeOf(new ClarificationChanged(org, Guid.NewGuid(), task, "answered")));
        Assert.Equal("clarification.expired", PublicEvents.TypeOf(new ClarificationChanged(org, Guid.NewGuid(), task, "expired")));
        Assert.Equal("webhook.disabled", PublicEvents.TypeOf(new WebhookDisabled(org, Guid.NewGuid(), "http://x", 3, "r")));
        Assert.Null(PublicEvents.TypeOf(new LogsAppended(org, task, 1, 2)));
        Assert.Null(PublicEvents.TypeOf(new AgentSeen(org, Guid.NewGuid(), "a")));
        Assert.All(PublicEvents.Catalogue, c => Assert.Matches(@"^[a-z]+\.[a-z_]+$", c.Type));
    }
}
