using System.CommandLine;
using Clarity.Features.Logs;
using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Cli;

public static class MigrateCommand
{
    public static Command Create()
    {
        var options = new ClarityCli.ServerOptions();
        var command = new Command("migrate", "Apply pending schema migrations and exit.");
        options.AddTo(command, withUrls: false);
        command.SetAction(async (result, ct) =>
        {
            try
            {
                // Warnings only, except the progress of migration steps that may take a while (the per-org search tables).
                await using var server = ClarityServer.Create(options.Settings(result), logging => logging
                    .SetMinimumLevel(LogLevel.Warning)
                    .AddFilter(typeof(SqliteSearchIndexes).FullName, LogLevel.Information));
                var db = server.Services.GetRequiredService<Database>();
                Console.WriteLine($"Migrating {db.Describe()} …");
                var report = await server.Services.GetRequiredService<Migrator>().MigrateAsync(ct);
                foreach (var m in report.Applied)
                {
                    Console.WriteLine($"  applied {m.Version:D4}_{m.Name}");
                }

                Console.WriteLine(report.Applied.Count == 0
                    ? $"Schema is up to date ({report.AlreadyApplied} migrations)."
                    : $"Applied {report.Applied.Count} migration(s); {report.AlreadyApplied} were already applied.");
                return ExitCodes.Ok;
            }
            catch (OptionsValidationException ex)
            {
                await Console.Error.WriteLineAsync($"clarity: invalid settings: {string.Join("; ", ex.Failures)}");
                return ExitCodes.BadUsage;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                await Console.Error.WriteLineAsync($"clarity: migration failed: {ex.Message}");
                return ExitCodes.Unavailable;
            }
        });
        return command;
    }
}
