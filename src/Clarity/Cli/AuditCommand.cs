using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Audit;
using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Cli;

/// <summary>
/// <c>clarity audit keygen | checkpoint | verify | export</c>: the tamper-evident audit log from the command line. Each
/// command that reads the database takes the same --data/--database options as <c>serve</c>.
/// </summary>
public static class AuditCommand
{
    /// <summary>The key name of checkpoints unless --name says otherwise.</summary>
    public const string DefaultKeyName = "clarity-audit";

    public static Command Create()
    {
        var command = new Command("audit", "The audit log: signing keys, checkpoints, verification and export.");
        command.Subcommands.Add(Keygen());
        command.Subcommands.Add(Checkpoint());
        command.Subcommands.Add(Verify());
        command.Subcommands.Add(AuditExportCommand.Create());
        return command;
    }

    private static Command Keygen()
    {
        var options = new ClarityCli.ServerOptions();
        var outFile = new Option<string>("--out") { Description = "Where to write the private key (mode 0600); the verifier key goes to FILE.pub.", Required = true };
        var name = new Option<string>("--name") { Description = $"The key's name in signatures (default {DefaultKeyName}).", DefaultValueFactory = _ => DefaultKeyName };
        var command = new Command("keygen", "Make an Ed25519 key for signing audit checkpoints (C2SP signed notes); prints its verifier key.");
        command.Options.Add(outFile);
        command.Options.Add(name);
        options.AddTo(command, withUrls: false);
        command.SetAction(async (result, ct) =>
        {
            var path = result.GetValue(outFile)!;
            try
            {
                using var signer = NoteSigner.Generate(result.GetValue(name)!);
                await KeyFiles.WritePrivateAsync(path, signer.Export(), ct);
                await File.WriteAllTextAsync(path + ".pub", signer.Verifier + "\n", ct);
                Console.WriteLine(signer.Verifier.ToString());
                await Console.Error.WriteLineAsync($"Wrote the private key to {path} (keep it away from the database) and the verifier key to {path}.pub.");
                return ExitCodes.Ok;
            }
            catch (SignedNoteException ex)
            {
                return await FailAsync(ex.Message, ExitCodes.BadUsage);
            }
            catch (IOException ex)
            {
                return await FailAsync($"cannot write {path}: {ex.Message}", ExitCodes.BadUsage);
            }
            catch (UnauthorizedAccessException ex)
            {
                return await FailAsync($"cannot write {path}: {ex.Message}", ExitCodes.BadUsage);
            }
        });
        return command;
    }

    private static Command Checkpoint()
    {
        var options = new ClarityCli.ServerOptions();
        var org = new Option<string>("--org") { Description = "The org (slug or id) whose chain to sign.", Required = true };
        var key = new Option<string>("--key") { Description = "The private key file made by 'clarity audit keygen'.", Required = true };
        var outFile = new Option<string?>("--out") { Description = "Where to write the signed checkpoint (default: standard output)." };
        var command = new Command("checkpoint", "Verify an org's audit chain and write a signed checkpoint of its head (org, sequence number, hash, time).");
        command.Options.Add(org);
        command.Options.Add(key);
        command.Options.Add(outFile);
        options.AddTo(command, withUrls: false);
        command.SetAction(async (result, ct) =>
        {
            NoteSigner signer;
            try
            {
                signer = NoteSigner.Parse(await KeyFiles.ReadAsync(result.GetValue(key)!, ct));
            }
            catch (Exception ex) when (ex is SignedNoteException or IOException or UnauthorizedAccessException)
            {
                return await FailAsync($"cannot use the key {result.GetValue(key)}: {ex.Message}", ExitCodes.BadUsage);
            }

            using (signer)
            {
                return await WithDatabaseAsync(options, result, async (services, ct) =>
                {
                    var verification = services.GetRequiredService<AuditVerification>();
                    if (await verification.Store.FindOrgAsync(result.GetValue(org)!, ct) is not { } found)
                    {
                        return await FailAsync($"no org '{result.GetValue(org)}'.", ExitCodes.BadUsage);
                    }

                    var checkpoints = services.GetRequiredService<AuditCheckpoints>();
                    var (checkpoint, verdict) = await checkpoints.TakeAsync(found.Id, found.Slug, ct);
                    if (checkpoint is null)
                    {
                        return await FailAsync($"refusing to sign a damaged chain: {Describe(verdict)}", ExitCodes.AuditDamaged);
                    }

                    var note = checkpoint.Sign(signer);
                    if (result.GetValue(outFile) is { } path)
                    {
                        await File.WriteAllTextAsync(path, note, ct);
                        await Console.Error.WriteLineAsync($"Checkpoint of {found.Slug} at seq {checkpoint.Size} written to {path}.");
                    }
                    else
                    {
                        Console.Write(note);
                    }

                    return ExitCodes.Ok;
                }, ct);
            }
        });
        return command;
    }

    private static Command Verify()
    {
        var options = new ClarityCli.ServerOptions();
        var org = new Option<string?>("--org") { Description = "Verify only this org's chain (slug or id); default: every chain." };
        var checkpointFile = new Option<string?>("--checkpoint") { Description = "A signed checkpoint to verify against (also detects truncation and a recomputed tail)." };
        var key = new Option<string?>("--key") { Description = "The verifier key (FILE.pub from keygen) that signed the checkpoint." };
        var command = new Command("verify", "Recompute the audit hash chain(s); exit 0 when intact, non-zero with the first bad sequence number when damaged.");
        command.Options.Add(org);
        command.Options.Add(checkpointFile);
        command.Options.Add(key);
        options.AddTo(command, withUrls: false);
        command.SetAction(async (result, ct) =>
        {
            AuditCheckpoint? checkpoint = null;
            if (result.GetValue(checkpointFile) is { } cpPath)
            {
                if (result.GetValue(key) is not { } keyPath)
                {
                    return await FailAsync("--checkpoint needs --key, the verifier key that signed it.", ExitCodes.BadUsage);
                }

                try
                {
                    var verifier = await KeyFiles.ReadVerifierAsync(keyPath, ct);
                    checkpoint = AuditCheckpoint.Open(await File.ReadAllTextAsync(cpPath, ct), verifier);
                }
                catch (Exception ex) when (ex is SignedNoteException or IOException or UnauthorizedAccessException)
                {
                    return await FailAsync($"the checkpoint {cpPath} cannot be used: {ex.Message}", ExitCodes.BadUsage);
                }
            }
            else if (result.GetValue(key) is not null)
            {
                return await FailAsync("--key is only used with --checkpoint.", ExitCodes.BadUsage);
            }

            return await WithDatabaseAsync(options, result, async (services, ct) =>
            {
                var verification = services.GetRequiredService<AuditVerification>();
                var slugs = await verification.Store.OrgSlugsAsync(ct);
                IReadOnlyList<Guid>? chains = null;
                if (result.GetValue(org) is { } orgText)
                {
                    if (await verification.Store.FindOrgAsync(orgText, ct) is not { } found)
                    {
                        return await FailAsync($"no org '{orgText}'.", ExitCodes.BadUsage);
                    }

                    if (checkpoint is not null && checkpoint.ChainId != found.Id)
                    {
                        return await FailAsync(
                            $"the checkpoint is for another chain ({checkpoint.Origin}{(checkpoint.OrgSlug is { } s ? $", org {s}" : "")}), not org {found.Slug}.", ExitCodes.BadUsage);
                    }

                    chains = [found.Id];
                }
                else if (checkpoint is not null)
                {
                    chains = [checkpoint.ChainId];
                }

                var lastReport = Stopwatch.StartNew();
                var report = await verification.VerifyAsync(chains, checkpoint is null ? null : new Dictionary<Guid, AuditCheckpoint> { [checkpoint.ChainId] = checkpoint },
                    Actor.System, (chain, n) =>
                    {
                        if (lastReport.Elapsed >= TimeSpan.FromSeconds(1))
                        {
                            lastReport.Restart();
                            Console.Error.WriteLine($"  verifying {Label(chain, slugs)}: {n:N0} entries …");
                        }
                    }, ct);

                foreach (var v in report.Chains)
                {
                    Console.WriteLine(v.Intact
                        ? $"{Label(v.ChainId, slugs)}: intact, {v.Entries:N0} entries, verified through seq {v.VerifiedSeq}{(v.CheckpointSize is { } size ? $", matches the checkpoint at seq {size}" : "")}"
                        : $"{Label(v.ChainId, slugs)}: DAMAGED at seq {v.FirstBadSeq}: {AuditVerification.Name(v.Damage!.Value)} ({v.Detail}); intact through seq {v.VerifiedSeq}");
                }

                if (report.Chains.Count == 0)
                {
                    Console.WriteLine("No audit entries yet.");
                }

                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"Verified {report.Entries:N0} entries in {report.Elapsed.TotalSeconds:0.00} s ({report.EntriesPerSecond:N0} entries/s)."));
                if (checkpoint is null)
                {
                    Console.WriteLine("Without a checkpoint, verification cannot see truncation (the newest entries deleted) or a tail rewritten with recomputed hashes; pass --checkpoint and --key.");
                }

                return report.Intact ? ExitCodes.Ok : ExitCodes.AuditDamaged;
            }, ct);
        });
        return command;
    }

    internal static string Label(Guid chain, IReadOnlyDictionary<Guid, string> slugs) =>
        chain == AuditChain.InstanceChain ? "instance chain" : slugs.TryGetValue(chain, out var slug) ? $"org {slug}" : $"chain {chain}";

    private static string Describe(ChainVerdict v) =>
        $"{AuditVerification.Name(v.Damage!.Value)} at seq {v.FirstBadSeq} ({v.Detail})";

    internal static async Task<int> FailAsync(string message, int code)
    {
        await Console.Error.WriteLineAsync($"clarity: {message}");
        return code;
    }

    /// <summary>Opens the database named by --data/--database (never creating one), checks its schema, and runs <paramref name="work"/>.</summary>
    internal static async Task<int> WithDatabaseAsync(ClarityCli.ServerOptions options, ParseResult result, Func<IServiceProvider, CancellationToken, Task<int>> work, CancellationToken ct)
    {
        try
        {
            await using var server = ClarityServer.Create(options.Settings(result), logging => logging.SetMinimumLevel(LogLevel.Warning));
            if (string.IsNullOrWhiteSpace(server.Options.Database))
            {
                var file = Path.Combine(Path.GetFullPath(server.Options.DataDirectory), "clarity.db");
                if (!File.Exists(file))
                {
                    return await FailAsync($"no database at {file} (pass --data or --database).", ExitCodes.BadUsage);
                }
            }

            if (!await server.Services.GetRequiredService<Migrator>().IsCurrentAsync(ct))
            {
                return await FailAsync("the database schema is not up to date; run 'clarity migrate' first.", ExitCodes.Unavailable);
            }

            return await work(server.Services, ct);
        }
        catch (OptionsValidationException ex)
        {
            return await FailAsync($"invalid settings: {string.Join("; ", ex.Failures)}", ExitCodes.BadUsage);
        }
        catch (Exception ex) when (ex is not OperationCanceledException && ex is System.Data.Common.DbException or InvalidOperationException or IOException)
        {
            return await FailAsync($"cannot read the database: {ex.Message}", ExitCodes.Unavailable);
        }
    }
}

/// <summary>Key files: the private key is written 0600 and never overwritten; a verifier key is read from a .pub file or derived from a private key file.</summary>
internal static class KeyFiles
{
    public static async Task WritePrivateAsync(string path, string key, CancellationToken ct)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        await using var stream = new FileStream(path, options);
        await using var writer = new StreamWriter(stream);
        await writer.WriteAsync((key + "\n").AsMemory(), ct);
    }

    public static async Task<string> ReadAsync(string path, CancellationToken ct)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new IOException($"{path} does not exist");
        }

        if (info.Length > 4096)
        {
            throw new IOException($"{path} is too large to be a key");
        }

        return (await File.ReadAllTextAsync(path, ct)).Trim();
    }

    public static async Task<NoteVerifier> ReadVerifierAsync(string path, CancellationToken ct)
    {
        var text = await ReadAsync(path, ct);
        if (text.StartsWith("PRIVATE+KEY+", StringComparison.Ordinal))
        {
            using var signer = NoteSigner.Parse(text);
            return signer.Verifier;
        }

        return NoteVerifier.Parse(text);
    }
}
