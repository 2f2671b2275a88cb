using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Clarity.Tests.Infrastructure;

public enum Backend
{
    Sqlite,
    Postgres,
}

/// <summary>
/// A real Clarity server on 127.0.0.1 with a free port, against a temp SQLite file or a fresh PostgreSQL database.
/// Sweeps run every 100 ms so that lease and expiry tests finish quickly.
/// </summary>
public sealed class ClarityHost : IAsyncDisposable
{
    public const string OwnerPassword = "owner-password-123";

    private ClarityHost(ClarityServer server, Backend backend, string dataDirectory, string? postgres)
    {
        Server = server;
        Backend = backend;
        DataDirectory = dataDirectory;
        PostgresConnectionString = postgres;
        BaseAddress = new Uri(server.Urls.First(u => u.StartsWith("http://", StringComparison.Ordinal)) + "/");
    }

    public ClarityServer Server { get; }

    public Backend Backend { get; }

    public string DataDirectory { get; }

    public string? PostgresConnectionString { get; }

    public Uri BaseAddress { get; }

    public IServiceProvider Services => Server.Services;

    /// <summary>The settings a host uses; a test may pass overrides.</summary>
    public static async Task<Dictionary<string, string?>> SettingsForAsync(Backend backend, string dataDirectory, IDictionary<string, string?>? overrides = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Clarity:Urls"] = "http://127.0.0.1:0",
            ["Clarity:DataDirectory"] = dataDirectory,
            ["Clarity:Tasks:SweepIntervalMilliseconds"] = "100",
        };
        if (backend == Backend.Postgres)
        {
            settings["Clarity:Database"] = await TestDatabases.CreatePostgresAsync();
        }

        foreach (var (k, v) in overrides ?? new Dictionary<string, string?>())
        {
            settings[k] = v;
        }

        return settings;
    }

    public static async Task<ClarityHost> StartAsync(Backend backend, IDictionary<string, string?>? overrides = null)
    {
        var dir = TestDatabases.NewTempDirectory();
        var settings = await SettingsForAsync(backend, dir, overrides);
        var server = ClarityServer.Create(settings, logging => logging.SetMinimumLevel(LogLevel.Warning));
        await server.StartAsync();
        return new ClarityHost(server, backend, dir, settings.GetValueOrDefault("Clarity:Database"));
    }

    public HttpClient CreateClient(string? bearer = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    /// <summary>Runs first-run setup for <paramref name="org"/>, signs the owner in and makes one API key per role.</summary>
    public async Task<OrgSession> SetupAsync(string org = "acme")
    {
        using var anonymous = CreateClient();
        var email = $"owner@{org}.example";
        var setup = await anonymous.PostAsJsonAsync("api/v1/setup", new { org, orgName = org.ToUpperInvariant(), email, password = OwnerPassword });
        setup.EnsureSuccessStatusCode();
        return await SessionForAsync(org, email);
    }

    /// <summary>Creates another org (owned by a new user added through an existing session) and returns its session.</summary>
    public async Task<OrgSession> CreateOrgAsync(OrgSession existing, string org)
    {
        using var owner = CreateClient(existing.OwnerToken);
        (await owner.PostAsJsonAsync("api/v1/orgs", new { slug = org, name = org })).EnsureSuccessStatusCode();
        return await SessionForAsync(org, existing.OwnerEmail);
    }

    private async Task<OrgSession> SessionForAsync(string org, string email)
    {
        using var anonymous = CreateClient();
        var login = await anonymous.PostAsJsonAsync("api/v1/auth/login", new { email, password = OwnerPassword });
        login.EnsureSuccessStatusCode();
        var token = (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
        using var owner = CreateClient(token);
        var keys = new Dictionary<string, string>();
        foreach (var role in Roles.All)
        {
            var created = await owner.PostAsJsonAsync($"api/v1/orgs/{org}/api-keys", new { name = $"{role}-key", role });
            created.EnsureSuccessStatusCode();
            keys[role] = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("secret").GetString()!;
        }

        return new OrgSession(org, email, token, keys);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.StopAsync();
        await Server.DisposeAsync();
        SqliteConnection.ClearAllPools();
        TestDatabases.DeleteDirectory(DataDirectory);
    }
}

/// <summary>An org with a signed-in owner and an API key for each built-in role.</summary>
public sealed record OrgSession(string Org, string OwnerEmail, string OwnerToken, IReadOnlyDictionary<string, string> Keys)
{
    public string MemberKey => Keys[Roles.Member];

    public string Api(string path) => $"api/v1/orgs/{Org}/{path}";
}
