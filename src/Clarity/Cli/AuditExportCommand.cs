using System.CommandLine;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Audit;

namespace Clarity.Cli;

/// <summary><c>clarity audit export [--org X] [--format csv|jsonl] [--out FILE]</c>: the API's exporter, straight from the database.</summary>
public static class AuditExportCommand
{
    public static Command Create()
    {
        var options = new ClarityCli.ServerOptions();
        var org = new Option<string?>("--org") { Description = "The org (slug or id) whose entries to export; default: every org's, one after another." };
        var format = new Option<string>("--format") { Description = "csv or jsonl (default jsonl).", DefaultValueFactory = _ => AuditExport.Jsonl };
        var outFile = new Option<string?>("--out") { Description = "Where to write the export (default: standard output)." };
        var command = new Command("export", "Export audit entries, oldest first, as CSV or JSON Lines (streamed). The export is itself audited.");
        command.Options.Add(org);
        command.Options.Add(format);
        command.Options.Add(outFile);
        options.AddTo(command, withUrls: false);
        command.SetAction(async (result, ct) =>
        {
            var kind = result.GetValue(format)!.ToLowerInvariant();
            if (kind is not (AuditExport.Csv or AuditExport.Jsonl))
            {
                return await AuditCommand.FailAsync($"--format must be csv or jsonl, not '{result.GetValue(format)}'.", ExitCodes.BadUsage);
            }

            if (kind == AuditExport.Csv && result.GetValue(org) is null)
            {
                return await AuditCommand.FailAsync("a CSV export is one table of one org: pass --org (JSON Lines can hold every org's entries).", ExitCodes.BadUsage);
            }

            return await AuditCommand.WithDatabaseAsync(options, result, async (services, ct) =>
            {
                var verify = services.GetRequiredService<AuditVerifyStore>();
                var orgs = (await verify.OrgSlugsAsync(ct)).OrderBy(o => o.Value, StringComparer.Ordinal).ToList();
                if (result.GetValue(org) is { } orgText)
                {
                    if (await verify.FindOrgAsync(orgText, ct) is not { } found)
                    {
                        return await AuditCommand.FailAsync($"no org '{orgText}'.", ExitCodes.BadUsage);
                    }

                    orgs = [new KeyValuePair<Guid, string>(found.Id, found.Slug)];
                }

                // Audited before the first byte, as the API's export is: an export that cannot be audited does not happen.
                await services.GetRequiredService<Changes>().RunAsync(Actor.System, change =>
                {
                    foreach (var (id, slug) in orgs)
                    {
                        change.Audit(new AuditRecord(id, AuditActions.AuditExported, new AuditTarget("audit", id, slug),
                            After: new AuditFields().Add("format", kind).Add("via", "cli")));
                    }

                    return Task.CompletedTask;
                }, ct);

                var store = services.GetRequiredService<AuditStore>();
                await using var output = result.GetValue(outFile) is { } path ? File.Create(path) : Console.OpenStandardOutput();
                foreach (var (id, _) in orgs)
                {
                    var rows = store.StreamAsync(AuditService.Parse(id, new AuditFilter()), ct);
                    if (kind == AuditExport.Csv)
                    {
                        await AuditExport.WriteCsvAsync(output, rows, ct);
                    }
                    else
                    {
                        await AuditExport.WriteJsonlAsync(output, rows, ct);
                    }
                }

                return ExitCodes.Ok;
            }, ct);
        });
        return command;
    }
}
