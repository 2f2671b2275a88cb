using System.CommandLine;

namespace Clarity.Cli;

/// <summary>Exit codes of every command, named in one place.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Failure = 1;
    public const int BadUsage = 2;
    public const int Unavailable = 3;
    public const int TaskFailed = 4;

    /// <summary>The task was cancelled, or its lease lost, while this process worked on it.</summary>
    public const int LeaseLost = 5;

    /// <summary><c>clarity audit verify</c>: an audit chain is damaged (or a checkpoint could not be taken of it).</summary>
    public const int AuditDamaged = 6;

    /// <summary><c>clarity run</c>: the command exited 0 but the output it wrote to CLARITY_OUTPUT is not a JSON object; the task failed.</summary>
    public const int BadOutput = 7;

    /// <summary><c>clarity run</c>: the command could not be started (the shell's convention).</summary>
    public const int CommandNotExecutable = 126;

    /// <summary><c>clarity run</c>: the command was not found (the shell's convention).</summary>
    public const int CommandNotFound = 127;

    /// <summary>Stopped by Ctrl+C (128 + SIGINT).</summary>
    public const int Interrupted = 130;
}

/// <summary>The <c>clarity</c> command line: <c>serve</c>, <c>migrate</c> and the client commands.</summary>
public static class ClarityCli
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("Clarity: a self-hosted control plane for AI-agent work.");
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(MigrateCommand.Create());
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(AuditCommand.Create());
        root.Subcommands.Add(WorkflowCommand.Create());
        root.Subcommands.Add(McpCommand.Create());
        root.Subcommands.Add(OnCallCommand.Create());

        if (args.Length == 0)
        {
            await root.Parse(["--help"]).InvokeAsync();
            return ExitCodes.BadUsage;
        }

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // One clear line, not a wall of help text; an unknown word says more than "command required".
            var error = parsed.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parsed.Errors[0];
            await Console.Error.WriteLineAsync($"clarity: {error.Message} (see 'clarity --help')");
            return ExitCodes.BadUsage;
        }

        return await parsed.InvokeAsync();
    }

    /// <summary>Options shared by the commands that open the database.</summary>
    internal sealed class ServerOptions
    {
        public Option<string?> Urls { get; } = new("--urls") { Description = "Where to listen, e.g. http://127.0.0.1:5080 (env CLARITY_URLS)." };

        public Option<string?> Data { get; } = new("--data") { Description = "Data folder for the embedded SQLite database (env CLARITY_DATA; default ./.clarity)." };

        public Option<string?> Database { get; } = new("--database") { Description = "PostgreSQL connection string; omit for embedded SQLite (env CLARITY_DATABASE)." };

        public void AddTo(Command command, bool withUrls)
        {
            if (withUrls)
            {
                command.Options.Add(Urls);
            }

            command.Options.Add(Data);
            command.Options.Add(Database);
        }

        public Dictionary<string, string?> Settings(ParseResult result)
        {
            var settings = new Dictionary<string, string?>();
            if (result.GetValue(Urls) is { } urls)
            {
                settings["Clarity:Urls"] = urls;
            }

            if (result.GetValue(Data) is { } data)
            {
                settings["Clarity:DataDirectory"] = data;
            }

            if (result.GetValue(Database) is { } database)
            {
                settings["Clarity:Database"] = database;
            }

            return settings;
        }
    }
}
