using System.ComponentModel.DataAnnotations;
using Clarity.Hosting.KeyRing;
using Clarity.Hosting.RateLimiting;

namespace Clarity.Hosting;

/// <summary>Every setting Clarity reads, with its default. Bound from the "Clarity" configuration section and CLARITY_* variables.</summary>
public sealed class ClarityOptions
{
    public const string Section = "Clarity";

    /// <summary>Where Clarity listens (semicolon-separated). Default http://127.0.0.1:5080.</summary>
    [Required]
    public string Urls { get; set; } = "http://127.0.0.1:5080";

    /// <summary>Folder for the SQLite database and other local state. Default ./.clarity.</summary>
    [Required]
    public string DataDirectory { get; set; } = ".clarity";

    /// <summary>A PostgreSQL connection string. Empty means embedded SQLite in <see cref="DataDirectory"/>.</summary>
    public string? Database { get; set; }

    /// <summary>
    /// The address clients reach this server at, e.g. https://clarity.example.com: the OpenAPI document names it as
    /// its server, and invitation links start with it (without it, they use the address the inviter's request came in by). Empty (the default) means the document names no server, so clients resolve paths against the
    /// address they fetched it from. The request's Host header is never used.
    /// </summary>
    public string? PublicUrl { get; set; }

    /// <summary>
    /// Host names this server answers to, <c>;</c>-separated, as in ASP.NET Core's AllowedHosts: <c>example.com</c>,
    /// <c>*.example.com</c>, <c>[::1]</c>. A request for any other host gets 400. Default <c>*</c>: any host.
    /// </summary>
    [Required]
    public string AllowedHosts { get; set; } = "*";

    /// <summary>SQLite <c>PRAGMA synchronous</c>: FULL (default, fsync per group commit) or NORMAL.</summary>
    [RegularExpression(@"^(FULL|NORMAL|EXTRA)\z", ErrorMessage = "SqliteSynchronous must be FULL, NORMAL or EXTRA.")]
    public string SqliteSynchronous { get; set; } = "FULL";

    /// <summary>
    /// On SQLite, the log lines one full-text table of an org takes before the org's next table starts. A newest-first
    /// search reads the newest table first, so a prefix query costs in proportion to this, not to all the org's lines.
    /// Default 1,000,000.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int SqliteSearchTableLines { get; set; } = Features.Logs.LogStore.DefaultSqliteTableLines;

    public MetricsOptions Metrics { get; set; } = new();

    public OtlpOptions Otlp { get; set; } = new();

    public LimitOptions Limits { get; set; } = new();

    public TaskOptions Tasks { get; set; } = new();

    public AuthOptions Auth { get; set; } = new();

    public StreamOptions Stream { get; set; } = new();

    public HttpOptions Http { get; set; } = new();

    public CorsSettings Cors { get; set; } = new();

    public RateLimitOptions RateLimits { get; set; } = new();

    public KeyRingOptions KeyRing { get; set; } = new();

    public AuditOptions Audit { get; set; } = new();

    public Features.Webhooks.WebhookOptions Webhooks { get; set; } = new();

    public Features.Notifications.NotificationOptions Notifications { get; set; } = new();

    public Features.Notifications.Email.SmtpOptions Smtp { get; set; } = new();

    public Features.Notifications.Slack.SlackOptions Slack { get; set; } = new();

    public Features.Notifications.WebPush.WebPushOptions WebPush { get; set; } = new();
}

public sealed class AuditOptions
{
    /// <summary>
    /// Days an audit entry keeps its payload; older entries become tombstones that keep their digest and hash, so the
    /// chain still verifies. 0 (the default) keeps every entry whole.
    /// </summary>
    [Range(0, 36_500)]
    public int RetentionDays { get; set; }
}

public sealed class LimitOptions
{
    /// <summary>Largest request body accepted, in bytes (413 above it). Default 1 MiB.</summary>
    [Range(1024, 1L << 30)]
    public long MaxRequestBodyBytes { get; set; } = 1 << 20;

    /// <summary>Largest single log line, in UTF-8 bytes (413 above it). Default 64 KiB.</summary>
    [Range(16, 1 << 24)]
    public int MaxLogLineBytes { get; set; } = 64 * 1024;

    /// <summary>Most log lines in one batch. Default 5,000.</summary>
    [Range(1, 100_000)]
    public int MaxLogBatchLines { get; set; } = 5_000;

    /// <summary>
    /// Largest answer of <c>GET …/tasks/{id}/logs</c>, in bytes: a page that would grow past it ends early, and its
    /// <c>nextAfterSeq</c> says where to read on. A page holds at least one line. Default 4 MiB.
    /// </summary>
    [Range(64 * 1024, 1L << 30)]
    public long MaxLogPageBytes { get; set; } = 4 << 20;

    /// <summary>Longest request target (path and query), in bytes (414 above it). Default 8 KiB.</summary>
    [Range(256, RequestGuard.MaxUrlCeiling)]
    public int MaxUrlBytes { get; set; } = 8 * 1024;

    /// <summary>Largest header block (every "name: value" line), in bytes (431 above it). Default 32 KiB.</summary>
    [Range(1024, RequestGuard.MaxHeadersCeiling)]
    public int MaxRequestHeadersBytes { get; set; } = 32 * 1024;

    /// <summary>Most header lines in one request (431 above it). Default 100.</summary>
    [Range(10, RequestGuard.MaxHeaderCountCeiling)]
    public int MaxRequestHeaderCount { get; set; } = 100;

    /// <summary>Longest long-poll a client may ask for, in seconds. Default 60.</summary>
    [Range(0, 3600)]
    public int MaxWaitSeconds { get; set; } = 60;
}

public sealed class MetricsOptions
{
    /// <summary>
    /// A bearer token that <c>GET /metrics</c> requires (<c>Authorization: Bearer &lt;token&gt;</c>). Empty (the default)
    /// means the endpoint answers loopback clients only.
    /// </summary>
    [MinLength(16, ErrorMessage = "Metrics:Token must be at least 16 characters.")]
    public string? Token { get; set; }

    /// <summary>
    /// Distinct queues per org that get a <c>queue</c> label of their own in the task metrics; the tasks of later queues
    /// are counted under <c>queue="_other"</c>, so clients that invent queue names cannot grow the series without bound. Default 100.
    /// </summary>
    [Range(1, 100_000)]
    public int MaxQueueLabels { get; set; } = 100;
}

public sealed class OtlpOptions
{
    /// <summary>
    /// The OTLP collector's base URL, e.g. http://localhost:4318 (http/protobuf: traces go to {Endpoint}/v1/traces) or
    /// http://localhost:4317 (grpc). Empty (the default) means tracing is off. OTEL_EXPORTER_OTLP_ENDPOINT fills it too.
    /// </summary>
    public string? Endpoint { get; set; }

    /// <summary><c>http/protobuf</c> (default) or <c>grpc</c>. OTEL_EXPORTER_OTLP_PROTOCOL fills it too.</summary>
    [RegularExpression(@"^(http/protobuf|grpc)\z", ErrorMessage = "Otlp:Protocol must be http/protobuf or grpc.")]
    public string Protocol { get; set; } = "http/protobuf";

    /// <summary>The service.name resource attribute. Default "clarity"; OTEL_SERVICE_NAME fills it too.</summary>
    [Required]
    public string ServiceName { get; set; } = "clarity";
}

public sealed class TaskOptions
{
    /// <summary>Lease length granted at checkout and by each heartbeat, in seconds. Default 30.</summary>
    [Range(1, 86_400)]
    public int LeaseSeconds { get; set; } = 30;

    [Range(1, 1000)]
    public int DefaultMaxAttempts { get; set; } = 3;

    [Range(1, 7 * 86_400)]
    public int DefaultTimeoutSeconds { get; set; } = 3600;

    /// <summary>How often leases, timeouts and clarification expiries are swept, in milliseconds. Default 1000.</summary>
    [Range(10, 60_000)]
    public int SweepIntervalMilliseconds { get; set; } = 1000;

    /// <summary>An agent not seen for this long is offline. Default 60 seconds.</summary>
    [Range(1, 86_400)]
    public int AgentOfflineAfterSeconds { get; set; } = 60;
}

public sealed class AuthOptions
{
    /// <summary>Lifetime of a sign-in token and session cookie. Default 12 hours.</summary>
    [Range(60, 30 * 86_400)]
    public int TokenLifetimeSeconds { get; set; } = 12 * 3600;

    /// <summary>PBKDF2-HMAC-SHA512 iterations. OWASP's minimum (2023) is 210,000, which is also the floor here.</summary>
    [Range(210_000, 10_000_000)]
    public int PasswordIterations { get; set; } = 210_000;
}

public sealed class StreamOptions
{
    /// <summary>The shortest retention accepted: the issue asks for at least ten minutes of replay.</summary>
    public static readonly TimeSpan MinRetention = TimeSpan.FromMinutes(10);

    /// <summary>How long stream events stay replayable by id after a reconnect. Default 1 hour; at least 10 minutes.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Events buffered per stream connection; a client that falls further behind is told to resync and disconnected. Default 1,024.</summary>
    [Range(1, 1_000_000)]
    public int BufferSize { get; set; } = 1024;

    /// <summary>
    /// Bytes buffered per stream connection (the events' JSON), besides <see cref="BufferSize"/>: a client that falls
    /// further behind is told to resync and disconnected, as when it falls <see cref="BufferSize"/> events behind. One
    /// event always fits into an empty buffer. Default 4 MiB.
    /// </summary>
    [Range(64 * 1024, 1L << 30)]
    public long BufferBytes { get; set; } = 4 << 20;

    /// <summary>
    /// Most topics one stream connection may follow at once (a WebSocket that asks for more gets the error
    /// <c>too-many-topics</c>). At least 100, the most one subscribe message may name. Default 1,000.
    /// </summary>
    [Range(100, 1_000_000)]
    public int MaxTopicsPerConnection { get; set; } = 1000;

    /// <summary>
    /// How often an open stream re-checks a signed-in user's access: a stream whose token has expired, or whose user
    /// has left the org or lost the tasks:read permission, ends then. Default 30 seconds. (A revoked API key ends its
    /// streams at once.)
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan AccessCheckInterval { get; set; } = TimeSpan.FromSeconds(30);
}
