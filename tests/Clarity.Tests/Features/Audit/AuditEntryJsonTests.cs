using System.Text;
using System.Text.Json;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Hosting.Compliance;
using Microsoft.Extensions.Compliance.Redaction;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Audit;

/// <summary>The canonical entry JSON and its masking, without a host.</summary>
public sealed class AuditEntryJsonTests
{
    private static AuditEntryJson Writer()
    {
        var services = new ServiceCollection().AddClarityRedaction().BuildServiceProvider();
        return new AuditEntryJson(services.GetRequiredService<IRedactorProvider>());
    }

    [Fact]
    public void Write_ErasesSecretValues_KeepsPersonalOnes_AndWritesTheContractsMembersInOrder()
    {
        var org = Guid.CreateVersion7();
        var actor = Actor.User(Guid.CreateVersion7());
        var record = new AuditRecord(org, "apikey.created", new AuditTarget("apikey", Guid.Empty, "ada@example.com") { LabelClass = ClarityTaxonomy.Personal },
            After: new AuditFields().Add("name", "ci").Secret("secret", "cl_live_supersecret").Personal("email", "ada@example.com").Add("labels", new[] { "gpu" }).Add("n", 3L));
        var bytes = Writer().Write(record, actor, 1_767_225_600_123, "corr-1", new RequestClient("203.0.113.7", "curl/8"));
        var text = Encoding.UTF8.GetString(bytes);

        Assert.DoesNotContain("supersecret", text, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(bytes);
        var root = json.RootElement;
        Assert.Equal(["v", "org", "at", "actor", "action", "target", "before", "after", "outcome", "correlationId", "ip", "userAgent"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(1, root.GetProperty("v").GetInt32());
        Assert.Equal("2026-01-01T00:00:00.123Z", root.GetProperty("at").GetString());
        Assert.Equal("", root.GetProperty("after").GetProperty("secret").GetString());
        Assert.Equal("ada@example.com", root.GetProperty("after").GetProperty("email").GetString());
        Assert.Equal("ada@example.com", root.GetProperty("target").GetProperty("label").GetString());
        Assert.Equal(("user", actor.Id.ToString()), (root.GetProperty("actor").GetProperty("kind").GetString(), root.GetProperty("actor").GetProperty("id").GetString()));
        Assert.Equal(("success", "203.0.113.7", "curl/8"), (root.GetProperty("outcome").GetString(), root.GetProperty("ip").GetString(), root.GetProperty("userAgent").GetString()));
        Assert.Equal(JsonValueKind.Null, root.GetProperty("before").ValueKind);
    }

    [Fact]
    public void Hash_IsSha256OfThePreviousHashTheSeqBigEndianAndTheDigest()
    {
        var digest = AuditChain.Digest("{\"v\":1}"u8);
        var input = new byte[72];
        input[39] = 7;
        digest.CopyTo(input, 40);
        Assert.Equal(System.Security.Cryptography.SHA256.HashData(input), AuditChain.Hash(new byte[32], 7, digest));
    }
}
