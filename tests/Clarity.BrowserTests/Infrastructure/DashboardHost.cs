using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Hosting;
using Clarity.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Clarity.BrowserTests.Infrastructure;

/// <summary>
/// A real Clarity server, in process, on 127.0.0.1 with a free port, against a temp SQLite file or a fresh
/// PostgreSQL database on the server named by CLARITY_TEST_POSTGRES (see <see cref="TestDatabases"/>).
/// </summary>
public sealed class DashboardHost : IAsyncDisposable
{
    public const string OwnerEmail = "owner@acme.example";
    public const string OwnerPassword = "owner-password-123";

    private DashboardHost(ClarityServer server, Backend backend, string dataDirectory)
    {
        Server = server;
        Backend = backend;
        DataDirectory = dataDirectory;
        BaseAddress = new Uri(server.Urls.First(u => u.StartsWith("http://", StringComparison.Ordinal)) + "/");
    }

    public ClarityServer Server { get; }

    public Backend Backend { get; }

    public string DataDirectory { get; }

    /// <summary>http://127.0.0.1:{port}/</summary>
    public Uri BaseAddress { get; }

    public string Url(string path) => new Uri(BaseAddress, path.TrimStart('/')).ToString();

    public static async Task<DashboardHost> StartAsync(Backend backend, IDictionary<string, string?>? overrides = null)
    {
        var dir = TestDatabases.NewTempDirectory();
        var settings = new Dictionary<string, string?>
        {
            ["Clarity:Urls"] = "http://127.0.0.1:0",
            ["Clarity:DataDirectory"] = dir,
            ["Clarity:Tasks:SweepIntervalMilliseconds"] = "200",
        };
        if (backend == Backend.Postgres)
        {
            settings["Clarity:Database"] = await TestDatabases.CreatePostgresAsync();
        }

        foreach (var (k, v) in overrides ?? new Dictionary<string, string?>())
        {
            settings[k] = v;
        }

        var server = ClarityServer.Create(settings, logging => logging.SetMinimumLevel(LogLevel.Warning));
        await server.StartAsync();
        return new DashboardHost(server, backend, dir);
    }

    public HttpClient CreateClient(string? bearer = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(90) };
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    /// <summary>First-run setup through the API (org "acme"), then an API key with <paramref name="keyRole"/> for agents.</summary>
    public async Task<string> SetupWithKeyAsync(string org = "acme", string keyRole = "member")
    {
        using var anonymous = CreateClient();
        (await anonymous.PostAsJsonAsync("api/v1/setup", new { org, orgName = "Acme", email = OwnerEmail, password = OwnerPassword, displayName = "Olivia Owner" })).EnsureSuccessStatusCode();
        var token = await LoginTokenAsync();
        return await CreateApiKeyAsync(token, org, "agent-key", keyRole);
    }

    public async Task<string> LoginTokenAsync(string email = OwnerEmail, string password = OwnerPassword)
    {
        using var anonymous = CreateClient();
        var login = await anonymous.PostAsJsonAsync("api/v1/auth/login", new { email, password });
        login.EnsureSuccessStatusCode();
        return (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
    }

    /// <summary>Brings a person into <paramref name="org"/> the way the product does: the owner invites, the person accepts the link with a new account.</summary>
    public async Task AddPersonAsync(string org, string email, string password, string role)
    {
        using var owner = CreateClient(await LoginTokenAsync());
        var invited = await owner.PostAsJsonAsync($"api/v1/orgs/{org}/invitations", new { email, role });
        invited.EnsureSuccessStatusCode();
        var link = (await invited.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("acceptUrl").GetString()!;
        using var anonymous = CreateClient();
        (await anonymous.PostAsJsonAsync("api/v1/invitations/accept", new { token = link.Split("/invite/")[1], password })).EnsureSuccessStatusCode();
    }

    public async Task<string> CreateApiKeyAsync(string userToken, string org, string name, string role)
    {
        using var owner = CreateClient(userToken);
        var created = await owner.PostAsJsonAsync($"api/v1/orgs/{org}/api-keys", new { name, role });
        created.EnsureSuccessStatusCode();
        return (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("secret").GetString()!;
    }

    public async ValueTask DisposeAsync()
    {
        await Server.StopAsync();
        await Server.DisposeAsync();
        SqliteConnection.ClearAllPools();
        TestDatabases.DeleteDirectory(DataDirectory);
    }
}
