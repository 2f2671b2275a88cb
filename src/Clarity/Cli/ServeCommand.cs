using System.CommandLine;
using Clarity.Features.Identity;
using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Cli;

public static class ServeCommand
{
    public static Command Create()
    {
        var options = new ClarityCli.ServerOptions();
        var command = new Command("serve", "Run the Clarity server (API, sweeps) on SQLite or PostgreSQL.");
        options.AddTo(command, withUrls: true);
        command.SetAction(async (result, ct) =>
        {
            ClarityServer server;
            try
            {
                server = ClarityServer.Create(options.Settings(result));
            }
            catch (OptionsValidationException ex)
            {
                await Console.Error.WriteLineAsync($"clarity: invalid settings: {string.Join("; ", ex.Failures)}");
                return ExitCodes.BadUsage;
            }

            await using (server)
            {
                try
                {
                    await server.StartAsync(ct);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    await Console.Error.WriteLineAsync($"clarity: could not start: {ex.Message}");
                    return ExitCodes.Unavailable;
                }

                await PrintBannerAsync(server, ct);
                await server.App.WaitForShutdownAsync(ct);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task PrintBannerAsync(ClarityServer server, CancellationToken ct)
    {
        var url = server.Urls.FirstOrDefault() ?? server.Options.Urls;
        var db = server.Services.GetRequiredService<Database>();
        Console.WriteLine($"Clarity is listening on {string.Join(", ", server.Urls)}");
        Console.WriteLine($"Database: {db.Describe()}");
        if (!await server.Services.GetRequiredService<IdentityStore>().IsSetUpAsync(ct))
        {
            Console.WriteLine();
            Console.WriteLine($"First run: open {url}/ in a browser to create the first org and its owner, or use the API:");
            Console.WriteLine($"  curl -s -X POST {url}/api/v1/setup -H 'Content-Type: application/json' \\");
            Console.WriteLine("       -d '{\"org\":\"acme\",\"orgName\":\"Acme\",\"email\":\"you@example.com\",\"password\":\"choose-a-long-password\"}'");
            Console.WriteLine($"then sign in at {url}/login or with POST /api/v1/auth/login. See README.md for the 5-minute tour.");
        }

        Console.WriteLine("Press Ctrl+C to stop.");
    }
}
