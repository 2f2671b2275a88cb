using System.Diagnostics.Metrics;
using System.Text.Json;
using System.Threading.Channels;
using Clarity.Hosting;
using Microsoft.Extensions.Options;

namespace Clarity.Events.Stream;

/// <summary>
/// This node's subscribers, by org. Journaled rows arrive in id order (<see cref="Dispatch"/>); a single pump turns each
/// into its frame once (reading a <c>logs</c> event's lines once, only when someone here follows that task) and offers
/// the shared frame to every subscribed connection without waiting. Also serves replay on subscribe.
/// </summary>
public sealed partial class StreamHub : BackgroundService
{
    public const int MaxLinesPerEvent = 1000;

    /// <summary>Most bytes of lines (their JSON) a <c>logs</c> event carries; past it the event is <c>truncated</c>.</summary>
    public const int MaxLineBytesPerEvent = 1 << 20;

    private const int ReplayPage = 500;

    private readonly Channel<EventRow> _pump = Channel.CreateUnbounded<EventRow>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<Guid, StreamConnection[]> _byOrg = [];
    private readonly Lock _gate = new();
    private readonly EventLog _store;
    private readonly IStreamLogSource _logs;
    private readonly IOptions<ClarityOptions> _options;
    private readonly ILogger<StreamHub> _logger;
    private long _lastDispatchedId;
    private long _webSockets;
    private long _sse;
    private readonly IDisposable _revocations;

    public StreamHub(EventLog store, IStreamLogSource logs, IOptions<ClarityOptions> options, IMeterFactory meterFactory, IEventBus events, IHostApplicationLifetime lifetime, ILogger<StreamHub> logger)
    {
        // On shutdown, end every stream at once (their transports close cleanly) rather than hold the server's drain.
        lifetime.ApplicationStopping.Register(() => EndWhere(_ => true, "server-stopping"));

        // A revoked API key or sign-in session loses its open streams too, and so does a member who leaves, on every node.
        _revocations = events.Subscribe(e =>
        {
            switch (e)
            {
                case ApiKeyRevoked revoked:
                    EndWhere(c => c.ApiKeyId == revoked.KeyId, "credential-revoked");
                    break;
                case SessionsRevoked sessions:
                    EndWhere(c => c.SessionId is { } id && sessions.SessionIds.Contains(id), "credential-revoked");
                    break;
                case MembershipEnded ended:
                    EndWhere(c => c.OrgId == ended.OrgId && c.UserId == ended.UserId, "access-revoked");
                    break;
            }
        });
        _store = store;
        _logs = logs;
        _options = options;
        _logger = logger;
        var meter = meterFactory.Create("Clarity");
        meter.CreateObservableUpDownCounter(
            "clarity.stream.connections",
            () => new[]
            {
                new Measurement<long>(Interlocked.Read(ref _webSockets), new KeyValuePair<string, object?>("transport", "websocket")),
                new Measurement<long>(Interlocked.Read(ref _sse), new KeyValuePair<string, object?>("transport", "sse")),
            },
            unit: "{connection}",
            description: "Open stream connections (WebSocket and SSE).");
    }

    /// <summary>The newest id this node has dispatched.</summary>
    public long LastDispatchedId => Interlocked.Read(ref _lastDispatchedId);

    public int BufferSize => _options.Value.Stream.BufferSize;

    public int MaxTopicsPerConnection => _options.Value.Stream.MaxTopicsPerConnection;

    public long RetentionSeconds => (long)_options.Value.Stream.Retention.TotalSeconds;

    /// <summary>Hands outbox rows, in seq order, to the pump. Never waits.</summary>
    public void Dispatch(IEnumerable<EventRow> rows)
    {
        foreach (var row in rows)
        {
            _pump.Writer.TryWrite(row);
        }
    }

    public StreamConnection Connect(Guid orgId, string transport, Caller? caller = null)
    {
        var stream = _options.Value.Stream;
        var connection = new StreamConnection(orgId, transport, stream.BufferSize, stream.BufferBytes, stream.MaxTopicsPerConnection)
        {
            ApiKeyId = caller?.ApiKey?.Id,
            UserId = caller?.UserId,
            SessionId = caller?.SessionId,
        };
        lock (_gate)
        {
            _byOrg[orgId] = _byOrg.TryGetValue(orgId, out var list) ? [.. list, connection] : [connection];
        }

        Interlocked.Increment(ref transport == "sse" ? ref _sse : ref _webSockets);
        return connection;
    }

    public void Disconnect(StreamConnection connection)
    {
        lock (_gate)
        {
            if (!_byOrg.TryGetValue(connection.OrgId, out var list) || !list.Contains(connection))
            {
                return;
            }

            var rest = list.Where(c => c != connection).ToArray();
            if (rest.Length == 0)
            {
                _byOrg.Remove(connection.OrgId);
            }
            else
            {
                _byOrg[connection.OrgId] = rest;
            }
        }

        Interlocked.Decrement(ref connection.Transport == "sse" ? ref _sse : ref _webSockets);
        connection.Complete();
    }

    private void EndWhere(Func<StreamConnection, bool> match, string reason)
    {
        StreamConnection[] all;
        lock (_gate)
        {
            all = [.. _byOrg.Values.SelectMany(c => c)];
        }

        foreach (var connection in all.Where(match))
        {
            connection.End(reason);
        }
    }

    public override void Dispose()
    {
        _revocations.Dispose();
        base.Dispose();
    }

    /// <summary>
    /// Subscribes <paramref name="connection"/> to <paramref name="topics"/>. With <paramref name="lastEventId"/>: registers live
    /// delivery first (held back), replays the outbox after that id, then releases the live events newer than the replay.
    /// An id older than retention or newer than the outbox gets <c>resync</c> instead, then live events from now.
    /// False, and nothing changes, when the connection would follow more than <c>Stream:MaxTopicsPerConnection</c> topics.
    /// </summary>
    public async Task<bool> SubscribeAsync(StreamConnection connection, IReadOnlyList<string> topics, long? lastEventId, CancellationToken ct)
    {
        if (lastEventId is not { } after)
        {
            return connection.Subscribe(topics, replay: false);
        }

        if (!connection.Subscribe(topics, replay: true))
        {
            return false;
        }

        var through = after;
        StreamFrame? resync = null;
        try
        {
            var position = await _store.PositionAsync(ct);
            if (after < position.PrunedThrough)
            {
                resync = StreamFrame.Resync("behind-retention", position.NewestId);
                through = long.MinValue;
                return true;
            }

            if (after > position.NewestId)
            {
                resync = StreamFrame.Resync("unknown-event-id", position.NewestId);
                through = long.MinValue;
                return true;
            }

            while (!connection.Overflowed)
            {
                var rows = await _store.ReadAfterAsync(through, connection.OrgId, topics, ReplayPage, ct);
                foreach (var row in rows)
                {
                    if (!await connection.ReplayAsync(await BuildFrameAsync(row, ct), ct))
                    {
                        return true;
                    }

                    through = row.Id;
                }

                if (rows.Count < ReplayPage)
                {
                    break;
                }
            }
        }
        finally
        {
            connection.EndReplay(through, resync);
        }

        return true;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var reader = _pump.Reader;
        try
        {
            while (await reader.WaitToReadAsync(stoppingToken))
            {
                while (reader.TryRead(out var row))
                {
                    try
                    {
                        await DeliverAsync(row, stoppingToken);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        Log.DeliverFailed(_logger, ex, row.Id);
                    }

                    Interlocked.Exchange(ref _lastDispatchedId, row.Id);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task DeliverAsync(EventRow row, CancellationToken ct)
    {
        StreamConnection[]? connections;
        lock (_gate)
        {
            _byOrg.TryGetValue(row.OrgId, out connections);
        }

        if (connections is null || !connections.Any(c => c.Wants(row.Topic)))
        {
            return;
        }

        var frame = await BuildFrameAsync(row, ct);
        foreach (var connection in connections)
        {
            connection.Offer(row.Topic, frame);
        }
    }

    private async Task<StreamFrame> BuildFrameAsync(EventRow row, CancellationToken ct)
    {
        if (row.Kind != "logs")
        {
            return StreamFrame.Event(row);
        }

        var data = JsonSerializer.Deserialize<LogsData>(row.Payload, JsonDefaults.Options)!;
        var count = data.LastSeq - data.FirstSeq + 1;
        var lines = await _logs.ReadAsync(row.OrgId, data.TaskId, data.FirstSeq - 1, (int)Math.Min(count, MaxLinesPerEvent), MaxLineBytesPerEvent, ct);
        return StreamFrame.Event(row, w =>
        {
            w.WritePropertyName("lines");
            w.WriteRawValue(lines.Json, skipInputValidation: true);
            w.WriteBoolean("truncated", lines.Count < count);
        });
    }

    private sealed record LogsData(Guid TaskId, long FirstSeq, long LastSeq);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Could not deliver stream event {Id}")]
        public static partial void DeliverFailed(ILogger logger, Exception error, long id);
    }
}
