using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Audit;

/// <summary>Scheduled audit checkpoints (section <c>Clarity:Audit:Checkpoints</c>): off unless <see cref="KeyFile"/> is set.</summary>
public sealed class AuditCheckpointOptions
{
    public const string Section = "Clarity:Audit:Checkpoints";

    /// <summary>The private key file made by <c>clarity audit keygen</c>. Empty (the default): no scheduled checkpoints.</summary>
    public string? KeyFile { get; set; }

    /// <summary>Take a checkpoint of a chain once it has grown by this many entries. Default 1,000.</summary>
    [Range(1, 100_000_000)]
    public int EveryEntries { get; set; } = 1000;

    /// <summary>Take a checkpoint of a chain that has grown at all once this many seconds have passed since its last. Default 3,600.</summary>
    [Range(1, 30 * 86_400)]
    public int EverySeconds { get; set; } = 3600;

    /// <summary>A folder to write checkpoints to (<c>&lt;chain id&gt;/&lt;seq&gt;.checkpoint</c> and <c>&lt;chain id&gt;/latest.checkpoint</c>).</summary>
    public string? Folder { get; set; }

    /// <summary>An http(s) URL to POST each checkpoint to (<c>text/plain</c>, the signed note).</summary>
    public string? Url { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(KeyFile);
}

/// <summary>Forwarding of chained audit entries to a SIEM over syslog (section <c>Clarity:Siem</c>): off unless <see cref="Host"/> is set.</summary>
public sealed class SiemOptions
{
    public const string Section = "Clarity:Siem";

    /// <summary>The syslog receiver's host name or address. Empty (the default): no forwarding.</summary>
    public string? Host { get; set; }

    [Range(1, 65535)]
    public int Port { get; set; } = 6514;

    /// <summary><c>tcp</c> (default; RFC 6587 octet-counting framing) or <c>udp</c> (one message per datagram, RFC 5426; lossy by nature).</summary>
    [RegularExpression(@"^(tcp|udp)\z", ErrorMessage = "Siem:Protocol must be tcp or udp.")]
    public string Protocol { get; set; } = "tcp";

    /// <summary><c>json</c> (default: the entry's canonical JSON as MSG) or <c>cef</c> (ArcSight CEF in MSG).</summary>
    [RegularExpression(@"^(json|cef)\z", ErrorMessage = "Siem:Format must be json or cef.")]
    public string Format { get; set; } = "json";

    /// <summary>The HOSTNAME field. Default: this machine's name.</summary>
    public string? Hostname { get; set; }

    /// <summary>The APP-NAME field. Default clarity.</summary>
    [RegularExpression(@"^[!-~]{1,48}\z", ErrorMessage = "Siem:AppName must be 1 to 48 printable ASCII characters without spaces.")]
    public string AppName { get; set; } = "clarity";

    /// <summary>The syslog facility (0–23). Default 13, "log audit".</summary>
    [Range(0, 23)]
    public int Facility { get; set; } = 13;

    /// <summary>Entries read and sent per batch (the cursor is saved after each). Default 500.</summary>
    [Range(1, 100_000)]
    public int BatchSize { get; set; } = 500;

    /// <summary>The longest wait between retries while the receiver is unreachable, in seconds (backoff doubles from 0.5 s). Default 30.</summary>
    [Range(1, 3600)]
    public int MaxRetrySeconds { get; set; } = 30;

    public bool Enabled => !string.IsNullOrWhiteSpace(Host);
}

internal sealed class AuditCheckpointOptionsValidator : IValidateOptions<AuditCheckpointOptions>
{
    public ValidateOptionsResult Validate(string? name, AuditCheckpointOptions options)
    {
        var failures = new List<string>();
        if (options.Enabled && string.IsNullOrWhiteSpace(options.Folder) && string.IsNullOrWhiteSpace(options.Url))
        {
            failures.Add($"{AuditCheckpointOptions.Section}: with a KeyFile, name a Folder or a Url to write checkpoints to.");
        }

        if (options.Enabled && !File.Exists(options.KeyFile))
        {
            failures.Add($"{AuditCheckpointOptions.Section}:KeyFile: '{options.KeyFile}' does not exist (make one with 'clarity audit keygen --out FILE').");
        }

        if (!string.IsNullOrWhiteSpace(options.Url) && (!Uri.TryCreate(options.Url, UriKind.Absolute, out var url) || (url.Scheme != "http" && url.Scheme != "https")))
        {
            failures.Add($"{AuditCheckpointOptions.Section}:Url: '{options.Url}' is not an http(s) URL.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
