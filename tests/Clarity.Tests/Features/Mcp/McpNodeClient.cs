using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using Clarity.Tests.Infrastructure;

namespace Clarity.Tests.Features.Mcp;

/// <summary>
/// The official TypeScript MCP SDK as a child process (client/client.mjs): it connects over Streamable HTTP or over
/// stdio (spawning <c>dotnet clarity.dll mcp</c>), lists the tools, makes the scripted calls and reports each event as
/// a JSON line. test.sh installs its npm packages (npm ci in client/).
/// </summary>
public sealed class McpNodeClient : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<JsonElement> _events = Channel.CreateUnbounded<JsonElement>();
    private readonly List<string> _stderr = [];

    private McpNodeClient(Process process)
    {
        _process = process;
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_stderr)
                {
                    _stderr.Add(e.Data);
                }
            }
        };
        _process.BeginErrorReadLine();
        _ = PumpAsync();
    }

    /// <summary>Streamable HTTP to the host's /mcp with the key (and X-Clarity-Org when <paramref name="org"/> is given).</summary>
    public static Task<McpNodeClient> HttpAsync(ClarityHost host, string key, object calls, string? org = null) => HttpAsync(host.BaseAddress, key, calls, org);

    /// <summary>Streamable HTTP to the server at <paramref name="server"/> (a <see cref="ClarityHost"/> or a <see cref="ServerProcess"/>).</summary>
    public static Task<McpNodeClient> HttpAsync(Uri server, string key, object calls, string? org = null) =>
        StartAsync(["http", new Uri(server, "mcp").ToString(), key, .. org is null ? Array.Empty<string>() : [org]], calls);

    /// <summary>stdio: the client spawns <c>dotnet clarity.dll mcp --server URL --key KEY</c>.</summary>
    public static Task<McpNodeClient> StdioAsync(ClarityHost host, string key, object calls) => StdioAsync(host.BaseAddress, key, calls);

    /// <summary>stdio to the server at <paramref name="server"/>.</summary>
    public static Task<McpNodeClient> StdioAsync(Uri server, string key, object calls) =>
        StartAsync(["stdio", "dotnet", ServerProcess.ClarityDll, server.ToString().TrimEnd('/'), key], calls);

    private static async Task<McpNodeClient> StartAsync(string[] args, object calls)
    {
        var dir = FindClientDirectory();
        if (!Directory.Exists(Path.Combine(dir, "node_modules", "@modelcontextprotocol", "sdk")))
        {
            throw new InvalidOperationException($"The MCP test client's npm packages are missing: run 'npm ci' in {dir} (test.sh does).");
        }

        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = dir,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("client.mjs");
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        await process.StandardInput.WriteAsync(JsonSerializer.Serialize(new { calls }));
        process.StandardInput.Close();
        return new McpNodeClient(process);
    }

    /// <summary>What the client printed on standard error (the relay's log lines, too), for failure messages.</summary>
    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return string.Join(Environment.NewLine, _stderr.TakeLast(40));
            }
        }
    }

    /// <summary>The next event of the kind <paramref name="name"/> (earlier events of other kinds are skipped); fails on an error event.</summary>
    public async Task<JsonElement> NextAsync(string name, int? index = null)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        while (true)
        {
            JsonElement e;
            try
            {
                e = await _events.Reader.ReadAsync(timeout.Token);
            }
            catch (Exception ex) when (ex is ChannelClosedException or OperationCanceledException)
            {
                throw new InvalidOperationException($"The MCP client ended (or went quiet) before a '{name}' event. Its stderr:\n{Stderr}", ex);
            }

            var kind = e.GetProperty("event").GetString();
            if (kind == "error")
            {
                throw new InvalidOperationException($"The MCP client failed: {e.GetProperty("message").GetString()}\n{Stderr}");
            }

            if (kind == name && (index is null || e.GetProperty("index").GetInt32() == index))
            {
                return e;
            }
        }
    }

    private async Task PumpAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.StartsWith('{'))
            {
                await _events.Writer.WriteAsync(JsonDocument.Parse(line).RootElement.Clone());
            }
        }

        _events.Writer.Complete();
    }

    private static string FindClientDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "Clarity.Tests", "Features", "Mcp", "client");
            if (File.Exists(Path.Combine(candidate, "client.mjs")))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("Could not find tests/Clarity.Tests/Features/Mcp/client above " + AppContext.BaseDirectory);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
