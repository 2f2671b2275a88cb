using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;

namespace Clarity.Tests.Infrastructure;

/// <summary>
/// The real built server as a child process (<c>dotnet clarity.dll serve</c>) on a free loopback port, so that a
/// test can kill it with SIGKILL and start it again on the same data.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private ServerProcess(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    /// <summary>clarity.dll sits next to the test assembly: the test project references src/Clarity.</summary>
    public static string ClarityDll
    {
        get
        {
            var path = Path.Combine(AppContext.BaseDirectory, "clarity.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException($"clarity.dll was not found next to the tests in {AppContext.BaseDirectory}; build the solution first.", path);
        }
    }

    /// <summary>The last lines the server printed, for failure messages.</summary>
    public string OutputTail => string.Join(Environment.NewLine, _output.TakeLast(40));

    /// <summary>First-run setup of org <c>acme</c> over HTTP, the owner's sign-in, then a member API key: returns its secret.</summary>
    public static async Task<string> SetupAsync(Uri baseAddress, string keyName) => (await SetupOrgAsync(baseAddress, keyName)).MemberKey;

    /// <summary>As <see cref="SetupAsync"/>, and also returns the owner's sign-in token.</summary>
    public static async Task<(string OwnerToken, string MemberKey)> SetupOrgAsync(Uri baseAddress, string keyName)
    {
        using var anonymous = ClarityHost.ClientFor(baseAddress, null);
        await anonymous.PostAsJsonAsync("api/v1/setup", new { org = "acme", orgName = "Acme", email = "owner@acme.example", password = ClarityHost.OwnerPassword })
            .ExpectAsync(HttpStatusCode.Created);
        var login = await anonymous.PostAsJsonAsync("api/v1/auth/login", new { email = "owner@acme.example", password = ClarityHost.OwnerPassword })
            .ExpectAsync(HttpStatusCode.OK);
        using var owner = ClarityHost.ClientFor(baseAddress, login.Str("token"));
        var key = (await owner.PostAsJsonAsync("api/v1/orgs/acme/api-keys", new { name = keyName, role = "member" }).ExpectAsync(HttpStatusCode.Created)).Str("secret");
        return (login.Str("token"), key);
    }

    /// <summary>Whether one of the last lines the server printed contains <paramref name="text"/>.</summary>
    public bool Printed(string text) => _output.Any(line => line.Contains(text, StringComparison.Ordinal));

    /// <summary>
    /// Settings for nodes that share one PostgreSQL database: one key-encryption key for the key ring, as every node of a
    /// deployment has (each data folder would otherwise make its own, and the second node could not read the ring).
    /// </summary>
    public static IReadOnlyDictionary<string, string> SharedKeyRing() =>
        new Dictionary<string, string> { ["CLARITY_KEYRING__KEY"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) };

    /// <param name="environment">Extra environment variables for the child (e.g. the standard OTEL_* ones).</param>
    public static async Task<ServerProcess> StartAsync(string dataDirectory, string? database, IReadOnlyDictionary<string, string>? environment = null)
    {
        var port = FreePort();
        var url = $"http://127.0.0.1:{port}";
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { ClarityDll, "serve", "--urls", url, "--data", dataDirectory })
        {
            start.ArgumentList.Add(arg);
        }

        if (database is not null)
        {
            start.ArgumentList.Add("--database");
            start.ArgumentList.Add(database);
        }

        // Only the command line configures the child: drop any CLARITY_* settings of the test run.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("CLARITY_", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var process = new Process { StartInfo = start };
        var server = new ServerProcess(process, new Uri(url + "/"));
        process.OutputDataReceived += (_, e) => server.Record(e.Data);
        process.ErrorDataReceived += (_, e) => server.Record(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await server.WaitUntilHealthyAsync();
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>SIGKILL: no shutdown hooks, no flushing, exactly like a crash or an OOM kill.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync();
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }

        _process.Dispose();
    }

    private void Record(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        while (_output.Count > 200)
        {
            _output.TryDequeue(out _);
        }
    }

    private async Task WaitUntilHealthyAsync()
    {
        using var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The server exited with code {_process.ExitCode}:{Environment.NewLine}{OutputTail}");
            }

            try
            {
                using var response = await client.GetAsync("healthz");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"The server did not become healthy within 90 s:{Environment.NewLine}{OutputTail}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
