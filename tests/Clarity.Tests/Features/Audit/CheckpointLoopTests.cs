using Clarity.Features.Audit;
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
            for (var i = 0; i < 300 && checkpoint?.Size != head.Seq; i++)
            {
                await Task.Delay(100);
                if (File.Exists(latest))
                {
                    checkpoint = AuditCheckpoint.Open(File.ReadAllText(latest), verifier);
                }
            }

            Assert.NotNull(checkpoint);
            Assert.Equal(head.Seq, checkpoint.Size);
            Assert.Equal(head.Hash, checkpoint.Hash);
            Assert.Equal("acme", checkpoint.OrgSlug);
            Assert.True(File.Exists(Path.Combine(folder, id.ToString("D"), $"{head.Seq:D12}.checkpoint")));

            using var page = host.CreateCookieClient(org.OwnerToken);
            var html = await (await page.GetAsync("o/acme/audit")).EnsureSuccessStatusCode().Content.ReadAsStringAsync();
            Assert.Contains($"<span data-checkpoint-seq>{head.Seq}</span>", html, StringComparison.Ordinal);
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
}

public sealed class SqliteCheckpointLoopTests() : CheckpointLoopTests(Backend.Sqlite);

public sealed class PostgresCheckpointLoopTests() : CheckpointLoopTests(Backend.Postgres);
