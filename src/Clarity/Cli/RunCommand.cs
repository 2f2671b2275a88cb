using System.CommandLine;

namespace Clarity.Cli;

public static class RunCommand
{
    public static Command Create()
    {
        var command = new Command("run", "Run a command as an agent task: stream its output as logs and report its exit code.");
        command.SetAction(_ =>
        {
            Console.Error.WriteLine("clarity: run is not available yet.");
            return ExitCodes.Failure;
        });
        return command;
    }
}
