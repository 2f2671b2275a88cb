using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Clarity.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Clarity.Bench.Harness;

public enum Backend
{
    Sqlite,
    Postgres,

    /// <summary>Not Clarity: the in-memory floor server (<see cref="FloorServer"/>).</summary>
    Floor,
}

/// <summary>
/// A real Clarity server started in this process on 127.0.0.1:0 (temp SQLite file, or a fresh database on the
/// PostgreSQL server given with --postgres), set up over HTTP like a first run, with a member API key. With
/// --server-process it is instead its own process (`dotnet clarity.dll serve` with the same settings), so the load
/// generator and the server do not share a process, and the server's CPU time can be read on its own.
/// </summary>
public sealed class BenchServer : IAsyncDisposable
{
    public const string Org = "bench";

    private readonly string _dataDirectory;
    private readonly ClarityServer? _inProcess;
    private readonly ServerProcess? _process;

    private BenchServer(ClarityServer? inProcess, ServerProcess? process, string url, Backend backend, string dataDirectory, string? database)
    {
        _inProcess = inProcess;
        _process = process;
        Backend = backend;
        _dataDirectory = dataDirectory;
        Database = database;
        BaseAddress = new Uri(url.TrimEnd('/') + "/");
        Http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 256,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
        })
        {
            BaseAddress = BaseAddress,
            Timeout = TimeSpan.FromSeconds(120),
        };
    }

    /// <summary>The in-process server, for scenarios that reach into its services (not with --server-process).</summary>
    public ClarityServer Server => _inProcess ?? throw new InvalidOperationException("This scenario needs the server in-process; it does not run with --server-process.");

    /// <summary>The server's own CPU time so far when it runs as its own process (--server-process), else null.</summary>
    public TimeSpan? ServerCpu => _process?.Cpu;

    /// <summary>The server's process id when it runs as its own process (--server-process), else null.</summary>
    public int? ServerProcessId => _process?.Id;

    /// <summary>
    /// The SQLite writer thread's CPU time so far, in this process or in the server's own (--server-process); zero on
    /// PostgreSQL, which has no such thread.
    /// </summary>
    public TimeSpan WriterCpu => ThreadCpu.Of(ThreadCpu.SqliteWriter, ServerProcessId);

    /// <summary>The PostgreSQL server of the PostgreSQL backend when it runs on this machine, for its own CPU; else null.</summary>
    public PostgresCpu? Postgres { get; private init; }

    /// <summary>The server process's resident set (VmRSS) in KB; only when it runs as its own process.</summary>
    public long ServerRssKb => (_process ?? throw new InvalidOperationException("Only a server in its own process has an RSS of its own.")).RssKb;

    public Backend Backend { get; }

    /// <summary>The PostgreSQL connection string of this server's database (null on SQLite).</summary>
    public string? Database { get; }

    public Uri BaseAddress { get; }

    /// <summary>One shared client, authenticated with the member API key after <see cref="StartAsync"/>.</summary>
    public HttpClient Http { get; }

    public string ApiKey { get; private set; } = "";

    /// <summary>The owner's session token (owns the bench org and any org made with <see cref="CreateOrgAsync"/>).</summary>
    public string OwnerToken { get; private set; } = "";

    public static string Api(string path) => $"api/v1/orgs/{Org}/{path}";

    /// <summary>
    /// On PostgreSQL, brings the database's planner statistics up to date (<c>ANALYZE</c>), as autovacuum has long since
    /// done on a server that has been running for a while. A bench database starts empty and fills within seconds, and
    /// until autovacuum's first pass (up to a minute, <c>autovacuum_naptime</c>) the plans PostgreSQL caches for the
    /// server's prepared statements were made for empty tables: a task's update by its id then scanned every task of the org.
    /// Returns how long it took; zero on SQLite.
    /// </summary>
    public async Task<TimeSpan> AnalyzeAsync()
    {
        if (Database is null)
        {
            return TimeSpan.Zero;
        }

        var started = Stopwatch.GetTimestamp();
        await using var connection = new NpgsqlConnection(Database);
        await connection.OpenAsync();
        await using var analyze = new NpgsqlCommand("ANALYZE", connection) { CommandTimeout = 600 };
        await analyze.ExecuteNonQueryAsync();
        return Stopwatch.GetElapsedTime(started);
    }

    public static async Task<BenchServer> StartAsync(Backend backend, string? postgresServer, string? postgresSetupSql = null, IDictionary<string, string?>? overrides = null,
        string? serverProcessDll = null)
    {
        var dir = Path.Combine(Path.GetTempPath(), "clarity-bench", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var settings = new Dictionary<string, string?>
        {
            ["Clarity:Urls"] = "http://127.0.0.1:0",
            ["Clarity:DataDirectory"] = dir,
            // Thousands of requests per second go through one API key here: the API's rate limits are off.
            ["Clarity:RateLimits:User:PermitsPerSecond"] = "0",
            ["Clarity:RateLimits:ApiKey:PermitsPerSecond"] = "0",
            ["Clarity:RateLimits:Org:PermitsPerSecond"] = "0",
        };
        string? database = null;
        if (backend == Backend.Postgres)
        {
            database = await CreatePostgresDatabaseAsync(postgresServer ?? throw new InvalidOperationException("PostgreSQL needs --postgres <connection string>."), "clarity_bench");
            settings["Clarity:Database"] = database;
        }

        foreach (var (k, v) in overrides ?? new Dictionary<string, string?>())
        {
            settings[k] = v;
        }

        ClarityServer? inProcess = null;
        ServerProcess? process = null;
        string url;
        if (serverProcessDll is null)
        {
            inProcess = ClarityServer.Create(settings, logging => logging.SetMinimumLevel(LogLevel.Warning));
            await inProcess.StartAsync();
            url = inProcess.Urls.First(u => u.StartsWith("http://", StringComparison.Ordinal));
        }
        else
        {
            process = await ServerProcess.StartAsync(serverProcessDll, settings);
            url = process.Url;
        }

        if (database is not null && !string.IsNullOrWhiteSpace(postgresSetupSql))
        {
            await using var connection = new NpgsqlConnection(database);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(postgresSetupSql, connection);
            await command.ExecuteNonQueryAsync();
        }

        var bench = new BenchServer(inProcess, process, url, backend, dir, database) { Postgres = await PostgresCpu.ForAsync(database) };
        await bench.SetupAsync();
        return bench;
    }

    /// <summary>
    /// The floor server (<see cref="FloorServer"/>) as its own process, this harness's own dll with
    /// <c>floor-serve</c>: nothing to set up, no API key.
    /// </summary>
    public static async Task<BenchServer> StartFloorAsync()
    {
        var dir = Path.Combine(Path.GetTempPath(), "clarity-bench", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var process = await ServerProcess.StartAsync(typeof(FloorServer).Assembly.Location, new Dictionary<string, string?>(), FloorServer.Command);
        return new BenchServer(null, process, process.Url, Backend.Floor, dir, null);
    }

    /// <summary>Creates an empty database on the server and returns its connection string.</summary>
    public static async Task<string> CreatePostgresDatabaseAsync(string server, string prefix)
    {
        var name = prefix + "_" + Guid.NewGuid().ToString("N")[..12];
        await using (var admin = new NpgsqlConnection(server))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", admin);
            await create.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(server) { Database = name, Pooling = true, MaxPoolSize = 100 }.ConnectionString;
    }

    /// <summary>First-run setup, owner sign-in and a member API key, all over HTTP.</summary>
    private async Task SetupAsync()
    {
        const string email = "owner@bench.example";
        const string password = "bench-password-123";
        (await PostJsonAsync("api/v1/setup", new { org = Org, orgName = "Bench", email, password })).EnsureSuccessStatusCode();
        var login = await PostJsonAsync("api/v1/auth/login", new { email, password });
        login.EnsureSuccessStatusCode();
        OwnerToken = (await ReadJsonAsync(login)).GetProperty("token").GetString()!;
        ApiKey = await CreateMemberKeyAsync(Org);
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
    }

    /// <summary>Creates another org owned by the bench owner and returns a member API key for it.</summary>
    public async Task<string> CreateOrgAsync(string slug)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/orgs") { Content = Json(new { slug, name = slug }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", OwnerToken);
        using var created = await Http.SendAsync(request);
        created.EnsureSuccessStatusCode();
        return await CreateMemberKeyAsync(slug);
    }

    private async Task<string> CreateMemberKeyAsync(string org)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"api/v1/orgs/{org}/api-keys")
        {
            Content = Json(new { name = "bench", role = "member" }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", OwnerToken);
        using var created = await Http.SendAsync(request);
        created.EnsureSuccessStatusCode();
        return (await ReadJsonAsync(created)).GetProperty("secret").GetString()!;
    }

    private Task<HttpResponseMessage> PostJsonAsync(string path, object body) => Http.PostAsync(path, Json(body));

    public static ByteArrayContent Json(object body) => JsonBytes(JsonSerializer.SerializeToUtf8Bytes(body, JsonDefaults.Options));

    public static ByteArrayContent JsonBytes(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    public static ByteArrayContent JsonText(string body) => JsonBytes(Encoding.UTF8.GetBytes(body));

    public static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response)
    {
        var bytes = await response.Content.ReadAsByteArrayAsync();
        using var doc = JsonDocument.Parse(bytes);
        return doc.RootElement.Clone();
    }

    /// <summary>Throws with the problem body when the status is not the expected one.</summary>
    public static async Task ExpectAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        if (response.StatusCode != status)
        {
            var body = await response.Content.ReadAsStringAsync();
            throw new InvalidOperationException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.PathAndQuery}: expected {(int)status}, got {(int)response.StatusCode}: {body}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (_inProcess is not null)
        {
            await _inProcess.StopAsync();
            await _inProcess.DisposeAsync();
        }

        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        SqliteConnection.ClearAllPools();
        NpgsqlConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// `dotnet clarity.dll serve` as a child process on a free loopback port, with the harness's settings as CLARITY_*
/// environment variables, its output kept for error messages. Its CPU time is read from /proc/&lt;pid&gt;/stat.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Queue<string> _output = new();

    private ServerProcess(Process process, string url)
    {
        _process = process;
        Url = url;
    }

    public string Url { get; }

    /// <summary>utime + stime of the server process (all its threads), from /proc/&lt;pid&gt;/stat.</summary>
    public TimeSpan Cpu => ThreadCpu.FromStat(File.ReadAllText($"/proc/{_process.Id}/stat"));

    /// <summary>The server's process id, for its threads' CPU (<see cref="ThreadCpu"/>).</summary>
    public int Id => _process.Id;

    /// <summary>The process's resident set size in KB, from /proc/&lt;pid&gt;/status (VmRSS).</summary>
    public long RssKb
    {
        get
        {
            var line = File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    public static async Task<ServerProcess> StartAsync(string dll, IReadOnlyDictionary<string, string?> settings, string command = "serve")
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var url = $"http://127.0.0.1:{port}";
        var start = new ProcessStartInfo("dotnet", [dll, command])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // Clarity:RateLimits:User:PermitsPerSecond → CLARITY_RATELIMITS__USER__PERMITSPERSECOND (ClarityServer's own mapping).
        foreach (var (key, value) in settings.Where(s => s.Key.StartsWith("Clarity:", StringComparison.Ordinal)))
        {
            start.Environment["CLARITY_" + key["Clarity:".Length..].Replace(":", "__", StringComparison.Ordinal).ToUpperInvariant()] = value;
        }

        start.Environment["CLARITY_URLS"] = url;
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start dotnet.");
        var server = new ServerProcess(process, url);
        process.OutputDataReceived += (_, e) => server.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => server.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.GetTimestamp() + (Stopwatch.Frequency * 120);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{Path.GetFileName(dll)} {command} exited with {process.ExitCode}: {server.Output}");
            }

            try
            {
                using var response = await probe.GetAsync(url + "/api/v1/setup");
                return server;
            }
            catch (HttpRequestException) when (Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(200);
            }
            catch (TaskCanceledException) when (Stopwatch.GetTimestamp() < deadline)
            {
            }
        }
    }

    private string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output);
            }
        }
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > 50)
            {
                _output.Dequeue();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
