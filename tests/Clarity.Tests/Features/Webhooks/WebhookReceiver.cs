using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Webhooks;

/// <summary>
/// The loopback webhook receiver (receiver/receiver.js) as a child process: Node.js verifying every delivery with the
/// npm package standardwebhooks, the reference implementation. test.sh installs it (npm ci in receiver/).
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly Process _process;
    private readonly HttpClient _http;

    private WebhookReceiver(Process process, int port)
    {
        _process = process;
        Port = port;
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public int Port { get; }

    /// <summary>The URL of the hook <paramref name="name"/>.</summary>
    public string UrlOf(string name) => $"http://127.0.0.1:{Port}/hooks/{name}";

    public static async Task<WebhookReceiver> StartAsync()
    {
        var dir = FindReceiverDirectory();
        if (!Directory.Exists(Path.Combine(dir, "node_modules", "standardwebhooks")))
        {
            throw new InvalidOperationException($"The webhook receiver's npm packages are missing: run 'npm ci' in {dir} (test.sh does).");
        }

        var start = new ProcessStartInfo("node", "receiver.js")
        {
            WorkingDirectory = dir,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30))
            ?? throw new InvalidOperationException("The webhook receiver exited before it listened.");
        var port = JsonDocument.Parse(line).RootElement.GetProperty("port").GetInt32();
        return new WebhookReceiver(process, port);
    }

    /// <summary>Sets how the hook behaves: the secrets it verifies with (each on its own), failures to answer first, the status, or hanging.</summary>
    public async Task ConfigureAsync(string name, IReadOnlyList<string> secrets, int failFirst = 0, int status = 204, bool hang = false)
    {
        using var response = await _http.PutAsJsonAsync($"_config/{name}", new { secrets, failFirst, status, hang });
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Every delivery the hook has seen, in arrival order.</summary>
    public async Task<IReadOnlyList<JsonElement>> LogAsync(string name)
    {
        var log = await _http.GetFromJsonAsync<JsonElement>($"_log/{name}");
        return [.. log.EnumerateArray()];
    }

    /// <summary>Waits until the hook's log satisfies <paramref name="done"/> (or a generous deadline passes) and returns it.</summary>
    public async Task<IReadOnlyList<JsonElement>> WaitForAsync(string name, Func<IReadOnlyList<JsonElement>, bool> done, string what, int seconds = 90)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var log = await LogAsync(name);
            if (done(log))
            {
                return log;
            }

            Assert.True(DateTimeOffset.UtcNow < deadline, $"Gave up waiting for {what}; the hook '{name}' saw: {string.Join(Environment.NewLine, log)}");
            await Task.Delay(100);
        }
    }

    /// <summary>Verifies a captured delivery again, as if it arrived <paramref name="shiftSeconds"/> later: per secret, whether it verifies and why not.</summary>
    public async Task<(bool[] Verified, string?[] Errors)> VerifyAgainAsync(string name, JsonElement delivery, int shiftSeconds)
    {
        using var response = await _http.PostAsJsonAsync($"_verify/{name}", new { headers = delivery.GetProperty("headers"), body = delivery.Str("body"), shiftSeconds });
        var result = await response.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
        return ([.. result.GetProperty("verified").EnumerateArray().Select(v => v.GetBoolean())],
            [.. result.GetProperty("errors").EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Null ? null : v.GetString())]);
    }

    private static string FindReceiverDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "Clarity.Tests", "Features", "Webhooks", "receiver");
            if (File.Exists(Path.Combine(candidate, "receiver.js")))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("Could not find tests/Clarity.Tests/Features/Webhooks/receiver above " + AppContext.BaseDirectory);
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(5000))
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }
}
