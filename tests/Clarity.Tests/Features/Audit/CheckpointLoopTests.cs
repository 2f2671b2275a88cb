using Clarity.Features.Audit;
using Clarity.Storage;
using Dapper;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Audit;

/// <summary>Scheduled checkpoints: written to a folder, signed with the key file, and shown on the dashboard's Audit page.</summary>
public abstract class CheckpointLoopTests(Backend backend)
{
    [Fact]
    public async Task Schedule_EveryFiveEntries_WritesSignedCheckpointsToTheFolder_AndTheAuditPageShowsTheLast()
    {
        var dir = TestDatabases.NewTempDirectory();
        var keyFile = Path.Combine(dir, "audit.key");
        using (var signer = NoteSigner.Generate("clarity-test"))
        {
            File.WriteAllText(keyFile, signer.Export() + "\n");
        }

        var folder = Path.Combine(dir, "checkpoints");
        var host = await ClarityHost.StartAsync(backend, new Dictionary<string, string?>
        {
            ["Clarity:Audit:Checkpoints:KeyFile"] = keyFile,
            ["Clarity:Audit:Checkpoints:Folder"] = folder,
            ["Clarity:Audit:Checkpoints:EveryEntries"] = "5",
            ["Clarity:Audit:Checkpoints:EverySeconds"] = "3600",
        });
        try
        {
            var org = await host.SetupAsync("acme");
            var id = await host.OrgIdAsync("acme");
            await host.WriteEntriesAsync(id, 12);
            var head = await host.Services.GetRequiredService<AuditVerifyStore>().HeadAsync(id, CancellationToken.None);

            var latest = Path.Combine(folder, id.ToString("D"), "latest.checkpoint");
            AuditCheckpoint? checkpoint = null;
            var verifier = NoteSigner.Parse(File.ReadAllText(keyFile)).Verifier;
            // The schedule checkpoints a chain once it has grown by 5 entries since its last checkpoint; where the passes
            // fall among the writes decides which seq that is, so wait until the newest checkpoint is within 5 of the head.
            for (var i = 0; i < 300 && !(checkpoint?.Size > head.Seq - 5); i++)
            {
                await Task.Delay(100);
                if (File.Exists(latest))
                {
                    checkpoint = AuditCheckpoint.Open(File.ReadAllText(latest), verifier);
                }
            }

            Assert.NotNull(checkpoint);
            Assert.InRange(checkpoint.Size, head.Seq - 4, head.Seq);
            Assert.Equal(await HashAtAsync(host, id, checkpoint.Size), checkpoint.Hash);
            Assert.Equal("acme", checkpoint.OrgSlug);
            Assert.True(File.Exists(Path.Combine(folder, id.ToString("D"), $"{checkpoint.Size:D12}.checkpoint")));

            using var page = host.CreateCookieClient(org.OwnerToken);
            var html = await (await page.GetAsync("o/acme/audit")).EnsureSuccessStatusCode().Content.ReadAsStringAsync();
            Assert.Contains($"<span data-checkpoint-seq>{checkpoint.Size}</span>", html, StringComparison.Ordinal);
        }
        finally
        {
            await host.DisposeAsync();
            TestDatabases.DeleteDirectory(dir);
        }
    }

    [Fact]
    public async Task Start_WithKeyFileButNowhereToWrite_FailsWithOneClearLine()
    {
        var dir = TestDatabases.NewTempDirectory();
        var keyFile = Path.Combine(dir, "audit.key");
        File.WriteAllText(keyFile, "x");
        var error = await Assert.ThrowsAnyAsync<Exception>(() => ClarityHost.StartAsync(backend, new Dictionary<string, string?>
        {
            ["Clarity:Audit:Checkpoints:KeyFile"] = keyFile,
        }));
        Assert.Contains("name a Folder or a Url", error.Message, StringComparison.Ordinal);
        TestDatabases.DeleteDirectory(dir);
    }

    private static async Task<byte[]> HashAtAsync(ClarityHost host, Guid chainId, long seq)
    {
        await using var c = await host.Services.GetRequiredService<Database>().OpenReadAsync();
        return await c.ExecuteScalarAsync<byte[]>("SELECT hash FROM audit_entries WHERE chain_id = @chainId AND seq = @seq", new { chainId, seq }) ?? [];
    }
}

public sealed class SqliteCheckpointLoopTests() : CheckpointLoopTests(Backend.Sqlite);

public sealed class PostgresCheckpointLoopTests() : CheckpointLoopTests(Backend.Postgres);
