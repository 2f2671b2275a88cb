using System.CommandLine;
using System.Text;
using Clarity.Features.Workflows.Definitions;

namespace Clarity.Cli;

/// <summary>
/// <c>clarity workflow validate | docs | init</c>: workflow definitions offline, with no server and no database.
/// Problems print like a compiler's, <c>FILE:LINE:COLUMN: CODE: message</c>, one a line.
/// </summary>
public static class WorkflowCommand
{
    public static Command Create()
    {
        var command = new Command("workflow", "Workflow definitions: validate a YAML file, document it, or start one from a template.");
        command.Subcommands.Add(Validate());
        command.Subcommands.Add(Docs());
        command.Subcommands.Add(Init());
        return command;
    }

    private static Command Validate()
    {
        var file = new Argument<string>("FILE") { Description = "The workflow's YAML file." };
        var roles = RolesOption();
        var command = new Command("validate", "Check a workflow file; print 'ok: NAME (N steps)', or every problem as FILE:LINE:COLUMN: CODE: message (exit 1).");
        command.Arguments.Add(file);
        command.Options.Add(roles);
        command.SetAction(async (result, ct) =>
        {
            var path = result.GetValue(file)!;
            var (parsed, exit) = await LoadAsync(path, Roles(result.GetValue(roles)), ct);
            if (parsed?.Definition is { } definition)
            {
                Console.WriteLine($"ok: {definition.Name} ({definition.Steps.Count} step{(definition.Steps.Count == 1 ? "" : "s")})");
            }

            return exit;
        });
        return command;
    }

    private static Command Docs()
    {
        var file = new Argument<string>("FILE") { Description = "The workflow's YAML file." };
        var outFile = new Option<string?>("--out") { Description = "Where to write the Markdown (default: standard output)." };
        var command = new Command("docs", "Document a workflow in Markdown: summary, inputs, steps, a Mermaid graph, approvals and roles.");
        command.Arguments.Add(file);
        command.Options.Add(outFile);
        command.SetAction(async (result, ct) =>
        {
            var (parsed, exit) = await LoadAsync(result.GetValue(file)!, null, ct);
            if (parsed?.Definition is not { } definition)
            {
                return exit;
            }

            var markdown = WorkflowDocs.Render(definition);
            if (result.GetValue(outFile) is { } target)
            {
                try
                {
                    await File.WriteAllTextAsync(target, markdown, ct);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    return await AuditCommand.FailAsync($"cannot write {target}: {ex.Message}", ExitCodes.BadUsage);
                }

                await Console.Error.WriteLineAsync($"Wrote {target}.");
            }
            else
            {
                Console.Write(markdown);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Init()
    {
        var template = new Option<string>("--template") { Description = $"The template to start from: {string.Join(", ", WorkflowTemplates.Names)}.", Required = true };
        var outFile = new Option<string?>("--out") { Description = "Where to write it (default: NAME.yaml in the current folder); an existing file is never overwritten." };
        var command = new Command("init", "Write one of the shipped workflow templates to a file, to edit and validate.");
        command.Options.Add(template);
        command.Options.Add(outFile);
        command.SetAction(async (result, ct) =>
        {
            var name = result.GetValue(template)!;
            if (WorkflowTemplates.Read(name) is not { } yaml)
            {
                return await AuditCommand.FailAsync($"no template '{name}'; the templates are: {string.Join(", ", WorkflowTemplates.Names)}.", ExitCodes.BadUsage);
            }

            var target = result.GetValue(outFile) ?? name + ".yaml";
            try
            {
                await using var stream = new FileStream(target, FileMode.CreateNew, FileAccess.Write);
                await stream.WriteAsync(Encoding.UTF8.GetBytes(yaml), ct);
            }
            catch (IOException) when (File.Exists(target))
            {
                return await AuditCommand.FailAsync($"{target} already exists; pass --out with another name.", ExitCodes.BadUsage);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return await AuditCommand.FailAsync($"cannot write {target}: {ex.Message}", ExitCodes.BadUsage);
            }

            Console.WriteLine($"Wrote {target} from the template {name}; check it with 'clarity workflow validate {target}'.");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Option<string?> RolesOption() => new("--roles")
    {
        Description = "Comma-separated role names: check each task role and approval 'from' names one of them or a permission (default: not checked).",
    };

    private static HashSet<string>? Roles(string? roles) =>
        roles is null ? null : new HashSet<string>(roles.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), StringComparer.Ordinal);

    /// <summary>Reads and parses the file; prints its problems. The exit code is Ok, Failure (problems) or BadUsage (no file).</summary>
    private static async Task<(WorkflowParseResult? Result, int Exit)> LoadAsync(string path, IReadOnlySet<string>? roles, CancellationToken ct)
    {
        string yaml;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                return (null, await AuditCommand.FailAsync($"no such file: {path}", ExitCodes.BadUsage));
            }

            if (info.Length > WorkflowDefinitionParser.MaxBytes * 4L)
            {
                Console.WriteLine($"{path}:1:1: {DefinitionProblemCodes.TooLarge}: the definition is larger than {WorkflowDefinitionParser.MaxBytes / 1024} KiB");
                return (null, ExitCodes.Failure);
            }

            yaml = await File.ReadAllTextAsync(path, ct);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return (null, await AuditCommand.FailAsync($"cannot read {path}: {ex.Message}", ExitCodes.BadUsage));
        }

        var result = WorkflowDefinitionParser.Parse(yaml, new WorkflowValidationOptions { KnownRoles = roles });
        foreach (var p in result.Problems)
        {
            Console.WriteLine($"{path}:{p.Line}:{p.Column}: {p.Code}: {p.Message}");
        }

        return (result, result.IsValid ? ExitCodes.Ok : ExitCodes.Failure);
    }
}
