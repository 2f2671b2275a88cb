using System.Text.Json;
using System.Threading.Channels;
using Clarity.Hosting;
using Clarity.Storage;
using Npgsql;

namespace Clarity.Events;

/// <summary>
/// Fans events out across nodes with PostgreSQL LISTEN/NOTIFY. Local subscribers get an event at once;
/// other nodes get it through NOTIFY (batched, one round trip for many events) and ignore their own.
/// </summary>
public sealed partial class PostgresEventBus(PostgresDatabase database, ILogger<PostgresEventBus> logger)
    : InProcessEventBus(logger), IHostedService
{
    public const string Channel = "clarity_events";
    private readonly string _nodeId = Guid.NewGuid().ToString("N")[..12];
    private readonly Channel<ClarityEvent> _outbound = System.Threading.Channels.Channel.CreateUnbounded<ClarityEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private Task? _listen;
    private Task? _send;
    private TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Publish(ClarityEvent evt) => _outbound.Writer.TryWrite(PublishLocal(evt));

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _listen = Task.Run(() => ListenLoopAsync(_stopping.Token), CancellationToken.None);
        _send = Task.Run(() => SendLoopAsync(_stopping.Token), CancellationToken.None);
        // Do not report started until LISTEN is in place, so no event from another node is missed after start-up.
        await _listening.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _outbound.Writer.TryComplete();
        if (_send is not null)
        {
            await _send.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        await _stopping.CancelAsync();
        if (_listen is not null)
        {
            await _listen.ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private Task ListenLoopAsync(CancellationToken ct) =>
        PostgresListener.RunAsync(
            database,
            Channel,
            onListening: (_, _) =>
            {
                _listening.TrySetResult();
                return Task.CompletedTask;
            },
            onNotifications: (payloads, _) =>
            {
                foreach (var payload in payloads)
                {
                    OnNotification(payload);
                }

                return Task.CompletedTask;
            },
            onFailure: ex => Log.ListenFailed(logger, ex),
            ct);

    private void OnNotification(string payload)
    {
        var separator = payload.IndexOf('|', StringComparison.Ordinal);
        if (separator <= 0 || payload.AsSpan(0, separator).SequenceEqual(_nodeId))
        {
            return;
        }

        try
        {
            var evt = JsonSerializer.Deserialize<ClarityEvent>(payload.AsSpan(separator + 1), JsonDefaults.Options);
            if (evt is not null)
            {
                Dispatch(evt);
            }
        }
        catch (JsonException ex)
        {
            Log.BadPayload(logger, ex);
        }
    }

    private async Task SendLoopAsync(CancellationToken ct)
    {
        var reader = _outbound.Reader;
        var batch = new List<string>();
        while (await reader.WaitToReadAsync(CancellationToken.None))
        {
            batch.Clear();
            while (batch.Count < 200 && reader.TryRead(out var evt))
            {
                batch.Add(_nodeId + "|" + JsonSerializer.Serialize(evt, JsonDefaults.Options));
            }

            try
            {
                await using var connection = await database.DataSource.OpenConnectionAsync(ct);
                await using var command = new NpgsqlCommand("SELECT pg_notify(@channel, p) FROM unnest(@payloads) AS p", connection);
                command.Parameters.AddWithValue("channel", Channel);
                command.Parameters.AddWithValue("payloads", batch.ToArray());
                await command.ExecuteNonQueryAsync(ct);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.NotifyFailed(logger, ex, batch.Count);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "LISTEN connection failed; reconnecting")]
        public static partial void ListenFailed(ILogger logger, Exception error);

        [LoggerMessage(2, LogLevel.Warning, "Could not NOTIFY {Count} events to other nodes")]
        public static partial void NotifyFailed(ILogger logger, Exception error, int count);

        [LoggerMessage(3, LogLevel.Warning, "Ignored an event payload that could not be read")]
        public static partial void BadPayload(ILogger logger, Exception error);
    }
}
