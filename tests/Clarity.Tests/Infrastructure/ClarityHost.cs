using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Clarity.Tests.Infrastructure;

/// <summary>
/// A real Clarity server on 127.0.0.1 with a free port, against a temp SQLite file or a fresh PostgreSQL database.
/// Sweeps run every 100 ms so that lease and expiry tests finish quickly.
/// </summary>
public sealed class ClarityHost : IAsyncDisposable
{
    public const string OwnerPassword = "owner-password-123";

    public const string MemberPassword = "member-password-123";

    private bool _stopped;
    private bool _ownsData = true;

    private ClarityHost(ClarityServer server, Backend backend, string dataDirectory, Dictionary<string, string?> settings)
    {
        Server = server;
        Backend = backend;
        DataDirectory = dataDirectory;
        Settings = settings;
        PostgresConnectionString = settings.GetValueOrDefault("Clarity:Database");
        BaseAddress = AddressOf(server);
    }

    public ClarityServer Server { get; private set; }

    /// <summary>The settings this host started with (a restart reuses them, so it opens the same database).</summary>
    public IReadOnlyDictionary<string, string?> Settings { get; private set; }

    public Backend Backend { get; }

    public string DataDirectory { get; }

    public string? PostgresConnectionString { get; }

    public Uri BaseAddress { get; private set; }

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
        var server = await StartServerAsync(settings);
        return new ClarityHost(server, backend, dir, settings);
    }

    /// <summary>
    /// Starts another node on the same PostgreSQL database (or SQLite file) as <paramref name="first"/>, as a
    /// second machine would. Disposing it stops only that node; the first host owns the data.
    /// <paramref name="overrides"/> change settings for that node (its own data folder, say).
    /// </summary>
    public static async Task<ClarityHost> StartNodeAsync(ClarityHost first, IDictionary<string, string?>? overrides = null)
    {
        var settings = new Dictionary<string, string?>(first.Settings);
        foreach (var (k, v) in overrides ?? new Dictionary<string, string?>())
        {
            settings[k] = v;
        }

        var server = await StartServerAsync(settings);
        return new ClarityHost(server, first.Backend, first.DataDirectory, settings) { _ownsData = false };
    }

    /// <summary>
    /// Stops the server, runs <paramref name="whileStopped"/> while nothing is serving, then starts a new server on the
    /// same SQLite file or PostgreSQL database (on a new port). <paramref name="overrides"/> change settings for the new server.
    /// </summary>
    public async Task RestartAsync(Func<Task>? whileStopped = null, IDictionary<string, string?>? overrides = null)
    {
        await StopServerAsync();
        if (whileStopped is not null)
        {
            await whileStopped();
        }

        var settings = new Dictionary<string, string?>(Settings);
        foreach (var (k, v) in overrides ?? new Dictionary<string, string?>())
        {
            settings[k] = v;
        }

        Server = await StartServerAsync(settings);
        Settings = settings;
        BaseAddress = AddressOf(Server);
        _stopped = false;
    }

    private static async Task<ClarityServer> StartServerAsync(IDictionary<string, string?> settings)
    {
        var server = ClarityServer.Create(settings, logging => logging.SetMinimumLevel(LogLevel.Warning));
        await server.StartAsync();
        return server;
    }

    private static Uri AddressOf(ClarityServer server) =>
        new(server.Urls.First(u => u.StartsWith("http://", StringComparison.Ordinal)) + "/");

    private async Task StopServerAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        await Server.StopAsync();
        await Server.DisposeAsync();
        SqliteConnection.ClearAllPools();
    }

    public HttpClient CreateClient(string? bearer = null) => ClientFor(BaseAddress, bearer);

    /// <summary>A client that behaves like a browser towards the dashboard: signed in by the session cookie, redirects not followed.</summary>
    public HttpClient CreateCookieClient(string? session)
    {
        var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (session is not null)
        {
            client.DefaultRequestHeaders.Add("Cookie", "clarity_session=" + session);
        }

        return client;
    }

    /// <summary>An HTTP client for a server at <paramref name="baseAddress"/> (this host or a <see cref="ServerProcess"/>).</summary>
    public static HttpClient ClientFor(Uri baseAddress, string? bearer)
    {
        var client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
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

    /// <summary>
    /// Brings a new person into <paramref name="org"/> the only way there is: the owner invites the email with the role,
    /// and the person accepts through the invitation's link, creating their account with <see cref="MemberPassword"/>.
    /// </summary>
    public async Task<Person> AddPersonAsync(OrgSession org, string role, string? email = null)
    {
        email ??= Work.Unique(role) + "@example.com";
        var invitation = await InviteAsync(org, email, role);
        using var anonymous = CreateClient();
        var accepted = await anonymous.PostAsJsonAsync("api/v1/invitations/accept", new { token = TokenOf(invitation), password = MemberPassword })
            .ExpectAsync(System.Net.HttpStatusCode.OK);
        return new Person(Guid.Parse(accepted.GetProperty("user").Str("id")), email, accepted.Str("token"));
    }

    /// <summary>The owner of <paramref name="org"/> invites <paramref name="email"/>; returns the invitation (with its acceptUrl).</summary>
    public async Task<JsonElement> InviteAsync(OrgSession org, string email, string role)
    {
        using var owner = CreateClient(org.OwnerToken);
        return await owner.PostAsJsonAsync(org.Api("invitations"), new { email, role }).ExpectAsync(System.Net.HttpStatusCode.Created);
    }

    /// <summary>The token at the end of an invitation's acceptUrl.</summary>
    public static string TokenOf(JsonElement invitation) => invitation.Str("acceptUrl").Split("/invite/")[1];

    /// <summary>Signs a person in again (a new session) and returns the token.</summary>
    public async Task<string> LoginAsync(string email, string password = MemberPassword)
    {
        using var anonymous = CreateClient();
        return (await anonymous.PostAsJsonAsync("api/v1/auth/login", new { email, password }).ExpectAsync(System.Net.HttpStatusCode.OK)).Str("token");
    }

    private async Task<OrgSession> SessionForAsync(string org, string email)
    {
        using var anonymous = CreateClient();
        var login = await anonymous.PostAsJsonAsync("api/v1/auth/login", new { email, password = OwnerPassword });
        login.EnsureSuccessStatusCode();
        var token = (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
        using var owner = CreateClient(token);
        var keys = new Dictionary<string, string>();
        foreach (var role in BuiltInRoles.All)
        {
            var created = await owner.PostAsJsonAsync($"api/v1/orgs/{org}/api-keys", new { name = $"{role}-key", role });
            created.EnsureSuccessStatusCode();
            keys[role] = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("secret").GetString()!;
        }

        return new OrgSession(org, email, token, keys);
    }

    public async ValueTask DisposeAsync()
    {
        await StopServerAsync();
        if (_ownsData)
        {
            TestDatabases.DeleteDirectory(DataDirectory);
        }
    }
}

/// <summary>A person with an account: their user id, email and a sign-in token.</summary>
public sealed record Person(Guid UserId, string Email, string Token);

/// <summary>An org with a signed-in owner and an API key for each built-in role.</summary>
public sealed record OrgSession(string Org, string OwnerEmail, string OwnerToken, IReadOnlyDictionary<string, string> Keys)
{
    public string MemberKey => Keys[BuiltInRoles.Member];

    public string Api(string path) => $"api/v1/orgs/{Org}/{path}";
}
