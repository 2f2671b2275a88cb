using Clarity.Dashboard;
using Clarity.Events;
using Clarity.Features.Agents;
using Clarity.Features.Audit;
using Clarity.Features.Clarifications;
using Clarity.Features.Identity;
using Clarity.Features.Logs;
using Clarity.Features.Mcp;
using Clarity.Features.Notifications;
using Clarity.Features.Notifications.Email;
using Clarity.Features.Notifications.Slack;
using Clarity.Features.Notifications.WebPush;
using Clarity.Features.Notifications.OnCall;
using Clarity.Features.Overview;
using Clarity.Features.Stream;
using Clarity.Features.Tasks;
using Clarity.Features.Webhooks;
using Clarity.Features.Workflows;
using Clarity.Features.Workflows.Runs;
using Clarity.Hosting.Authorization;
using Clarity.Hosting.KeyRing;
using Clarity.Hosting.RateLimiting;
using Clarity.Hosting.Telemetry;
using Clarity.Storage;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Clarity.Hosting;

/// <summary>
/// The embeddable Clarity server: the CLI's <c>serve</c>, the tests and the benchmarks all start this class.
/// Settings come from the "Clarity" configuration section, CLARITY_* environment variables and the given overrides.
/// </summary>
public sealed class ClarityServer : IAsyncDisposable
{
    private ClarityServer(WebApplication app) => App = app;

    public WebApplication App { get; }

    public IServiceProvider Services => App.Services;

    public ClarityOptions Options => Services.GetRequiredService<IOptions<ClarityOptions>>().Value;

    /// <summary>The addresses Kestrel actually bound (port 0 resolved), available after <see cref="StartAsync"/>.</summary>
    public IReadOnlyList<string> Urls => App.Urls.ToList();

    public static ClarityServer Create(IDictionary<string, string?>? settings = null, Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            // The entry assembly is not always clarity (tests, benchmarks): name the app so that its static web asset manifests are found.
            ApplicationName = typeof(ClarityServer).Assembly.GetName().Name,
        });
        builder.Configuration.Sources.Clear();

        // Static assets behave as published in every environment: fingerprinted files cached for good, and no
        // development fallback endpoint that serves files the build did not list.
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ReloadStaticAssetsAtRuntime"] = "false" });
        ((IConfigurationBuilder)builder.Configuration).Add(new ClarityEnvironmentSource());
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }

        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.IncludeScopes = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        builder.Logging.AddFilter("ModelContextProtocol", LogLevel.Warning);

        // IHttpClientFactory logs four lines at Information for every outgoing request (webhooks, Slack, mail APIs, push):
        // at 1,000 webhook deliveries a second that was the console logger's busiest work. Failures are logged by Clarity.
        builder.Logging.AddFilter("System.Net.Http.HttpClient", LogLevel.Warning);
        logging?.Invoke(builder.Logging);

        var options = new ClarityOptions();
        builder.Configuration.GetSection(ClarityOptions.Section).Bind(options);
        var validation = new ClarityOptionsValidator().Validate(null, options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(ClarityOptions.Section, typeof(ClarityOptions), validation.Failures);
        }

        builder.Services.AddSingleton<IValidateOptions<ClarityOptions>, ClarityOptionsValidator>();
        builder.Services.AddOptions<ClarityOptions>().Bind(builder.Configuration.GetSection(ClarityOptions.Section)).ValidateOnStart();

        builder.WebHost.UseKestrelCore();

        // A build (not a publish) keeps the dashboard's assets in the project folders and lists them in
        // clarity.staticwebassets.runtime.json next to the binary: serve them from there in every environment
        // (dotnet run, the in-process test hosts). A published app has no such manifest, and this does nothing.
        builder.WebHost.UseStaticWebAssets();
        builder.WebHost.UseUrls(options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.Limits.MaxRequestBodyBytes;
            RequestGuard.ConfigureKestrel(k.Limits);
        });

        AddClarity(builder.Services, options);

        var app = builder.Build();
        Configure(app, options);
        return new ClarityServer(app);
    }

    private static void AddClarity(IServiceCollection services, ClarityOptions options)
    {
        services.AddSingleton(TimeProvider.System);
        services.Configure<JsonOptions>(o => JsonDefaults.Configure(o.SerializerOptions));
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddRouting();
        services.AddPublicHost(options);
        services.AddTelemetry(options);

        if (string.IsNullOrWhiteSpace(options.Database))
        {
            services.AddSingleton<Database>(sp => new SqliteDatabase(
                Path.Combine(Path.GetFullPath(options.DataDirectory), "clarity.db"), options.SqliteSynchronous, sp.GetRequiredService<ILogger<SqliteDatabase>>()));
        }
        else
        {
            services.AddSingleton(_ => new PostgresDatabase(options.Database));
            services.AddSingleton<Database>(sp => sp.GetRequiredService<PostgresDatabase>());
        }

        services.AddEvents(postgres: !string.IsNullOrWhiteSpace(options.Database));
        services.AddSingleton<Migrator>();
        services.AddKeyRing(options);
        services.AddIdentity();
        services.AddAccess();
        services.AddRateLimits(options);
        services.AddAgents();
        services.AddTasks();
        services.AddLogs();
        services.AddClarifications();
        services.AddOverview();
        services.AddStream();
        services.AddAudit();
        services.AddAuditVerification();
        services.AddWebhooks();
        services.AddWebPushNotifications();
        services.AddWorkflows();
        services.AddWorkflowRuns();
        services.AddMcp();
        services.AddNotifications();
        services.AddEmailNotifications();
        services.AddSlackNotifications();
        services.AddOnCall();
        services.AddSingleton<Sweeper>();
        services.AddHostedService(sp => sp.GetRequiredService<Sweeper>());
        services.AddDashboard();
    }

    private static void Configure(WebApplication app, ClarityOptions options)
    {
        app.UseTrustedProxies(options);
        app.Use(CorrelationId.Middleware);
        app.Use(Clarity.Events.Audit.RequestClient.Middleware);
        app.UseMiddleware<RequestGuard>();
        app.UseMiddleware<ErrorHandlingMiddleware>();
        app.UseStatusCodePages(ProblemWriter.StatusCodePage);
        app.UseHostFiltering();
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(30) });
        app.UseRouting();
        app.UseAllowedOrigins(options);
        app.UseDashboardHeaders();
        // Explicitly here, inside error handling and the request guard: left out, the framework would insert it ahead
        // of the whole pipeline (because authentication services are registered), where a failure escapes as a bare 500.
        app.UseAuthentication();
        app.UseMiddleware<AccessMiddleware>();
        app.UseDashboard();

        app.MapGet("/healthz", () => TypedResults.Text("ok")).Public().ExcludeFromDescription();
        app.MapGet("/readyz", ReadyAsync).Public().ExcludeFromDescription();
        app.MapOpenApi().Public();
        app.MapMetricsEndpoint();
        app.MapIdentityEndpoints();
        app.MapAgentEndpoints();
        app.MapTaskEndpoints();
        app.MapLogEndpoints();
        app.MapClarificationEndpoints();
        app.MapAuditEndpoints();
        app.MapDashboard();
        app.MapStreamEndpoints();
        app.MapAuditVerifyEndpoints();
        app.MapWebhookEndpoints();
        app.MapWebPushEndpoints();
        app.MapWorkflowEndpoints();
        app.MapRunEndpoints();
        app.MapMcpEndpoints();
        app.MapNotificationEndpoints();
        app.MapEmailEndpoints();
        app.MapSlackEndpoints();
        app.MapOnCallEndpoints();
    }

    private static async Task<IResult> ReadyAsync(Migrator migrator, CancellationToken ct)
    {
        try
        {
            return await migrator.IsCurrentAsync(ct)
                ? TypedResults.Text("ready")
                : TypedResults.Problem("The database schema is not up to date; run 'clarity migrate'.", statusCode: 503, type: "urn:clarity:problem:not-ready");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return TypedResults.Problem("The database is not reachable.", statusCode: 503, type: "urn:clarity:problem:not-ready");
        }
    }

    /// <summary>
    /// Migrates the database, checks that the key ring is readable (<see cref="KeyRingException"/> if not), prepares
    /// signing keys, then starts listening.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await Services.GetRequiredService<Migrator>().MigrateAsync(cancellationToken);
        await Services.GetRequiredService<KeyRingCheck>().EnsureReadableAsync(cancellationToken);
        await Services.GetRequiredService<TokenService>().InitializeAsync(cancellationToken);
        // Listen before the first request: counters and histograms only see measurements made while someone listens.
        Services.GetService<TracerProvider>();
        Services.GetRequiredService<MeterProvider>();
        Services.GetRequiredService<ClarityMetrics>();
        await App.StartAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken = default) => App.StopAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
    }
}

/// <summary>Maps CLARITY_* environment variables onto the "Clarity" section: CLARITY_URLS → Clarity:Urls, CLARITY_LIMITS__MAXLOGLINEBYTES → Clarity:Limits:MaxLogLineBytes, CLARITY_DATA → Clarity:DataDirectory; OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL and OTEL_SERVICE_NAME onto Clarity:Otlp; and every OTEL_* variable under its own name, for the OpenTelemetry SDK.</summary>
internal sealed class ClarityEnvironmentSource : IConfigurationSource
{
    public IConfigurationProvider Build(IConfigurationBuilder builder) => new Provider();

    private sealed class Provider : ConfigurationProvider
    {
        public override void Load()
        {
            foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
            {
                var name = (string)entry.Key;
                if (name.StartsWith("OTEL_", StringComparison.Ordinal))
                {
                    // The OpenTelemetry SDK reads its standard variables (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES, ...)
                    // from the host's configuration, which has no environment source of its own.
                    Data[name] = entry.Value as string;
                    continue;
                }

                if (!name.StartsWith("CLARITY_", StringComparison.OrdinalIgnoreCase) || name.StartsWith("CLARITY_TEST", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                var key = name["CLARITY_".Length..].Replace("__", ":", StringComparison.Ordinal);
                if (key.Equals("DATA", StringComparison.OrdinalIgnoreCase))
                {
                    key = "DataDirectory";
                }

                Data["Clarity:" + key] = entry.Value as string;
            }

            // The standard OpenTelemetry variables, unless a CLARITY_OTLP__* variable already said otherwise.
            foreach (var (variable, key) in s_otel)
            {
                if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value)
                {
                    Data.TryAdd(key, value);
                }
            }
        }

        private static readonly (string Variable, string Key)[] s_otel =
        [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "Clarity:Otlp:Endpoint"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "Clarity:Otlp:Protocol"),
            ("OTEL_SERVICE_NAME", "Clarity:Otlp:ServiceName"),
        ];
    }
}
