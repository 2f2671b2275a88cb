using System.Net.Sockets;
using Clarity.Events.Audit;
using Clarity.Hosting;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Audit;

/// <summary>
/// Ships chained audit entries to a SIEM as RFC 5424 syslog (leader only; <see cref="SiemOptions"/>), in position
/// order, from a durable cursor (<c>audit_consumers</c>, name <c>siem</c>) saved after each batch, so it resumes where
/// it stopped after a restart or a failover. Over TCP (RFC 6587 octet counting) delivery is at least once: while the
/// receiver is unreachable it retries with backoff (doubling from 0.5 s up to <c>MaxRetrySeconds</c>), and after any
/// connection failure it sends again from the cursor saved before the last batch, because TCP may have accepted bytes
/// that never reached the receiver. Over UDP (RFC 5426) nothing tells a lost datagram: use it only where loss is acceptable.
/// </summary>
public sealed partial class SiemForwarder : BackgroundLoop
{
    public const string Consumer = "siem";

    private readonly IOptions<SiemOptions> _options;
    private readonly AuditVerifyStore _store;
    private readonly TimeProvider _clock;
    private readonly ILogger<SiemForwarder> _logger;
    private readonly string _hostname;
    private TcpClient? _tcp;
    private UdpClient? _udp;
    private long? _beforeLastBatch;
    private int _failures;
    private DateTimeOffset _retryAt;

    public SiemForwarder(IOptions<SiemOptions> options, AuditVerifyStore store, AuditSignal signal, TimeProvider clock, Leadership leadership, ILogger<SiemForwarder> logger)
        : base(leadership, logger)
    {
        _options = options;
        _store = store;
        _clock = clock;
        _logger = logger;
        _hostname = string.IsNullOrWhiteSpace(options.Value.Hostname) ? Environment.MachineName : options.Value.Hostname;
        if (options.Value.Enabled)
        {
            signal.Advanced += _ => Wake();
        }
    }

    protected override string Name => "SIEM forwarder";

    protected override TimeSpan Interval => TimeSpan.FromSeconds(1);

    protected override string? WakeChannel => AuditLog.ChainedChannel;

    protected override async Task<bool> RunOnceAsync(CancellationToken ct)
    {
        var o = _options.Value;
        if (!o.Enabled || _clock.GetUtcNow() < _retryAt)
        {
            return false;
        }

        // Read each pass: another node may have forwarded while this one did not lead.
        var cursor = await _store.CursorAsync(Consumer, ct);
        var rows = await _store.AfterPositionAsync(cursor, o.BatchSize, ct);
        if (rows.Count == 0)
        {
            return false;
        }

        try
        {
            await SendAsync(o, rows, ct);
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException)
        {
            Disconnect();
            _failures++;
            var delay = TimeSpan.FromMilliseconds(Math.Min(500 * Math.Pow(2, Math.Min(_failures - 1, 16)), o.MaxRetrySeconds * 1000.0));
            _retryAt = _clock.GetUtcNow() + delay;
            // TCP may have taken bytes the receiver never read: send the last acknowledged batch again (at least once).
            if (_beforeLastBatch is { } rewind && rewind < cursor)
            {
                await _store.SaveCursorAsync(Consumer, rewind, _clock.GetUtcNow().ToUnixTimeMilliseconds(), ct);
            }

            _beforeLastBatch = null;

            Log.Unreachable(_logger, ex, o.Host!, o.Port, delay.TotalSeconds);
            return false;
        }

        if (_failures > 0)
        {
            Log.Resumed(_logger, o.Host!, o.Port);
            _failures = 0;
        }

        _beforeLastBatch = cursor;
        await _store.SaveCursorAsync(Consumer, rows[^1].Position, _clock.GetUtcNow().ToUnixTimeMilliseconds(), ct);
        return rows.Count == o.BatchSize;
    }

    private async Task SendAsync(SiemOptions o, IReadOnlyList<ForwardRow> rows, CancellationToken ct)
    {
        if (o.Protocol == "udp")
        {
            if (_udp is null)
            {
                _udp = new UdpClient();
                _udp.Connect(o.Host!, o.Port);
            }

            foreach (var row in rows)
            {
                await _udp.SendAsync(SyslogFormat.Format(row, o, _hostname), ct);
            }

            return;
        }

        if (_tcp is { Connected: true } && PeerClosed(_tcp.Client))
        {
            // The receiver went away since the last batch: reconnect instead of writing into a dead connection.
            Disconnect();
        }

        if (_tcp is null)
        {
            _tcp = new TcpClient { NoDelay = false };
            using var connect = CancellationTokenSource.CreateLinkedTokenSource(ct);
            connect.CancelAfter(TimeSpan.FromSeconds(10));
            await _tcp.ConnectAsync(o.Host!, o.Port, connect.Token);
        }

        var stream = _tcp.GetStream();
        using var buffer = new MemoryStream();
        foreach (var row in rows)
        {
            buffer.Write(SyslogFormat.Frame(SyslogFormat.Format(row, o, _hostname)));
        }

        await stream.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), ct);
        await stream.FlushAsync(ct);
    }

    /// <summary>A connection whose peer has closed reads as readable with nothing to read.</summary>
    private static bool PeerClosed(Socket socket)
    {
        try
        {
            return socket.Poll(0, SelectMode.SelectRead) && socket.Available == 0;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    private void Disconnect()
    {
        _tcp?.Dispose();
        _tcp = null;
        _udp?.Dispose();
        _udp = null;
    }

    public override void Dispose()
    {
        Disconnect();
        base.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "The SIEM receiver {Host}:{Port} is unreachable; retrying in {Seconds} s")]
        public static partial void Unreachable(ILogger logger, Exception error, string host, int port, double seconds);

        [LoggerMessage(2, LogLevel.Information, "Forwarding audit entries to the SIEM receiver {Host}:{Port} again")]
        public static partial void Resumed(ILogger logger, string host, int port);
    }
}
