using System.CommandLine;
using System.Reflection;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Clarity.Cli;

/// <summary>
/// <c>clarity mcp --server URL --key KEY</c>: Clarity's MCP tools on standard input and output, for agents that start
/// their MCP servers as local processes. A thin relay: an MCP server on stdio whose tools/list and tools/call go to the
/// server's <c>/mcp</c> over Streamable HTTP (the SDK's client), progress notifications included, so both transports
/// share every tool and every permission check. The remote session opens on the first request, named after the agent
/// that connected here, and ends (its task closed) when standard input closes.
/// </summary>
public static class McpCommand
{
    public static Command Create()
    {
        var server = new Option<string?>("--server") { Description = "The Clarity server URL (env CLARITY_SERVER)." };
        var key = new Option<string?>("--key") { Description = "API key (env CLARITY_KEY)." };
        var org = new Option<string?>("--org") { Description = "Org slug (env CLARITY_ORG; default: the key's org)." };
        var command = new Command("mcp", "Serve Clarity's MCP tools on stdio (for local agents), relayed to the server's /mcp endpoint.");
        command.Options.Add(server);
        command.Options.Add(key);
        command.Options.Add(org);
        command.SetAction(async (result, ct) =>
        {
            var url = result.GetValue(server) ?? Env("CLARITY_SERVER");
            var secret = result.GetValue(key) ?? Env("CLARITY_KEY");
            if (url is null || secret is null || !Uri.TryCreate(url, UriKind.Absolute, out var baseUri) || baseUri.Scheme is not ("http" or "https"))
            {
                await Console.Error.WriteLineAsync("clarity mcp: give --server http(s)://HOST[:PORT] and --key KEY (or CLARITY_SERVER and CLARITY_KEY).");
                return ExitCodes.BadUsage;
            }

            await using var relay = new Relay(new Uri(baseUri, "mcp"), secret, result.GetValue(org) ?? Env("CLARITY_ORG"));
            return await relay.RunAsync(ct);
        });
        return command;
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;

    private sealed class Relay(Uri endpoint, string key, string? org) : IAsyncDisposable
    {
        // Standard output carries the protocol: every log line goes to standard error.
        private readonly ILoggerFactory _logging = LoggerFactory.Create(b =>
            b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning)
                .Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace));

        private readonly SemaphoreSlim _connecting = new(1, 1);
        private McpClient? _remote;

        public async Task<int> RunAsync(CancellationToken ct)
        {
            var options = new McpServerOptions
            {
                ServerInfo = new Implementation { Name = "clarity", Title = "Clarity", Version = Version },
                Capabilities = new ServerCapabilities { Tools = new ToolsCapability { ListChanged = false } },
                Handlers = new McpServerHandlers
                {
                    ListToolsHandler = async (request, token) =>
                        await (await RemoteAsync(request.Server, token)).ListToolsAsync(new ListToolsRequestParams { Cursor = request.Params?.Cursor }, token),
                    CallToolHandler = CallToolAsync,
                },
            };
            await using var server = McpServer.Create(new StdioServerTransport(options, _logging), options, _logging, null);
            await server.RunAsync(ct);
            return ExitCodes.Ok;
        }

        private async ValueTask<CallToolResult> CallToolAsync(RequestContext<CallToolRequestParams> request, CancellationToken ct)
        {
            try
            {
                var remote = await RemoteAsync(request.Server, ct);
                var call = request.Params!;
                IProgress<ProgressNotificationValue>? progress = call.ProgressToken is { } token ? new ForwardProgress(request.Server, token) : null;
                var arguments = call.Arguments?.ToDictionary(a => a.Key, a => (object?)a.Value);
                return await remote.CallToolAsync(call.Name, arguments, progress, cancellationToken: ct);
            }
            catch (Exception ex) when (ex is McpException or HttpRequestException or IOException)
            {
                // The agent gets a tool error with the reason; the relay keeps serving.
                return new CallToolResult { IsError = true, Content = [new TextContentBlock { Text = "Clarity could not be reached: " + ex.Message }] };
            }
        }

        /// <summary>The Streamable HTTP session to the server, opened on first use with the connected agent's name and version.</summary>
        private async Task<McpClient> RemoteAsync(McpServer local, CancellationToken ct)
        {
            if (_remote is { } ready)
            {
                return ready;
            }

            await _connecting.WaitAsync(ct);
            try
            {
                if (_remote is null)
                {
                    var headers = new Dictionary<string, string> { ["Authorization"] = "Bearer " + key };
                    if (org is not null)
                    {
                        headers["X-Clarity-Org"] = org;
                    }

                    // ask_human may wait for hours: no client-side timeout on a request (the server bounds every wait).
                    var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
                    var transport = new HttpClientTransport(
                        new HttpClientTransportOptions { Endpoint = endpoint, TransportMode = HttpTransportMode.StreamableHttp, AdditionalHeaders = headers, Name = "clarity" },
                        http, _logging, ownsHttpClient: true);
                    var client = local.ClientInfo ?? new Implementation { Name = "clarity-mcp-stdio", Version = Version };
                    // 2025-11-25 (the initialize handshake) rather than the SDK's default 2026-07-28: that gives a session, so
                    // the session's own task spans every call of this process and closes when it exits.
                    _remote = await McpClient.CreateAsync(transport, new McpClientOptions { ClientInfo = client, ProtocolVersion = SessionProtocolVersion }, _logging, ct);
                    // Fills the SDK's tool cache (it warns on every call of a tool it has not listed).
                    await _remote.ListToolsAsync(cancellationToken: ct);
                }

                return _remote;
            }
            finally
            {
                _connecting.Release();
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_remote is not null)
            {
                // Ends the remote session (HTTP DELETE): the server closes the session's task.
                await _remote.DisposeAsync();
            }

            _connecting.Dispose();
            _logging.Dispose();
        }

        /// <summary>The newest protocol revision with sessions.</summary>
        public const string SessionProtocolVersion = "2025-11-25";

        private static string Version { get; } =
            typeof(McpCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";
    }

    /// <summary>Passes a progress notification from the server on to the local agent, under the agent's own progress token.</summary>
    private sealed class ForwardProgress(McpServer local, ProgressToken token) : IProgress<ProgressNotificationValue>
    {
        public void Report(ProgressNotificationValue value) => _ = local.NotifyProgressAsync(token, value);
    }
}
