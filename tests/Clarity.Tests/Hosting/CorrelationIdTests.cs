using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Events;
using Clarity.Hosting;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Clarity.Tests.Hosting;

/// <summary>Every request has a correlation id (the caller's when it is acceptable, else a new one) in its log lines, its events and its error bodies.</summary>
public sealed class CorrelationIdTests : IAsyncLifetime
{
    private readonly CapturingLoggerProvider _logs = new();
    private readonly string _dir = TestDatabases.NewTempDirectory();
    private ClarityServer _server = null!;
    private HttpClient _client = null!;
    private string _memberKey = null!;

    public async Task InitializeAsync()
    {
        var settings = await ClarityHost.SettingsForAsync(Backend.Sqlite, _dir);
        _server = ClarityServer.Create(settings, logging =>
        {
            logging.AddProvider(_logs);
            logging.AddFilter<CapturingLoggerProvider>(null, LogLevel.Trace);
        });
        await _server.StartAsync();
        _client = new HttpClient { BaseAddress = new Uri(_server.Urls.First() + "/") };
        (await _client.PostAsJsonAsync("api/v1/setup", new { org = "acme", orgName = "Acme", email = "o@acme.example", password = ClarityHost.OwnerPassword })).EnsureSuccessStatusCode();
        var login = await _client.PostAsJsonAsync("api/v1/auth/login", new { email = "o@acme.example", password = ClarityHost.OwnerPassword }).ExpectAsync(HttpStatusCode.OK);
        using var owner = new HttpRequestMessage(HttpMethod.Post, "api/v1/orgs/acme/api-keys") { Content = JsonContent.Create(new { name = "member", role = "member" }) };
        owner.Headers.Authorization = new("Bearer", login.Str("token"));
        _memberKey = (await (await _client.SendAsync(owner)).ReadJsonAsync()).Str("secret");
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.StopAsync();
        await _server.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        TestDatabases.DeleteDirectory(_dir);
    }

    [Fact]
    public async Task AcceptedId_AppearsInTheLogScope_TheEvent_TheResponseHeader_AndAnErrorBody()
    {
        var events = new ConcurrentQueue<ClarityEvent>();
        using var subscription = _server.Services.GetRequiredService<IEventBus>().Subscribe(events.Enqueue);

        var created = await SendAsync(HttpMethod.Post, "api/v1/orgs/acme/tasks", "agent-run.42_a", new { queue = "corr", title = "correlated" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("agent-run.42_a", created.Headers.GetValues(CorrelationId.Header).Single());
        var taskId = Guid.Parse((await created.ReadJsonAsync()).Str("id"));
        Assert.Contains(events, e => e is TaskChanged t && t.TaskId == taskId && t.CorrelationId == "agent-run.42_a");
        Assert.Contains(_logs.Entries, e => e.Scopes.Contains(("CorrelationId", "agent-run.42_a")));

        var missing = await SendAsync(HttpMethod.Get, $"api/v1/orgs/acme/tasks/{Guid.NewGuid()}", "lookup-7");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("lookup-7", (await missing.ReadJsonAsync()).Str("correlationId"));
        Assert.Equal("lookup-7", missing.Headers.GetValues(CorrelationId.Header).Single());
        Assert.Contains(_logs.Entries, e => e.Scopes.Contains(("CorrelationId", "lookup-7")));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("has spaces and ! marks")]
    [InlineData("semicolon;injection")]
    [InlineData("0123456789012345678901234567890123456789012345678901234567890123456789")]
    public async Task MissingOrUnacceptableId_IsReplacedByAGeneratedOne_UsedEverywhere(string? sent)
    {
        var response = await SendAsync(HttpMethod.Get, $"api/v1/orgs/acme/tasks/{Guid.NewGuid()}", sent);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var id = response.Headers.GetValues(CorrelationId.Header).Single();
        Assert.Matches("^[0-9a-f]{32}$", id);
        Assert.NotEqual(sent, id);
        Assert.Equal(id, (await response.ReadJsonAsync()).Str("correlationId"));
        Assert.Contains(_logs.Entries, e => e.Scopes.Contains(("CorrelationId", id)));
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? correlationId, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new("Bearer", _memberKey);
        if (correlationId is not null)
        {
            request.Headers.TryAddWithoutValidation(CorrelationId.Header, correlationId);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return await _client.SendAsync(request);
    }
}

/// <summary>Records every log entry with the scopes active when it was written (it takes the host's scope provider).</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public ConcurrentQueue<(string Category, string Message, IReadOnlyList<(string Key, string? Value)> Scopes)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => provider._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var scopes = new List<(string, string?)>();
            provider._scopes.ForEachScope((scope, list) =>
            {
                if (scope is IEnumerable<KeyValuePair<string, object>> pairs)
                {
                    list.AddRange(pairs.Select(p => (p.Key, p.Value?.ToString())));
                }
            }, scopes);
            provider.Entries.Enqueue((category, formatter(state, exception), scopes));
        }
    }
}
