using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Clarity.Hosting;
using Clarity.Storage;
using Npgsql;

namespace Clarity.Events.Stream;

/// <summary>
/// Journals every streamable event raised on this node into <c>stream_events</c>, which assigns its id, and gets the
/// journaled rows to every node's <see cref="StreamHub"/> in id order. One background appender writes in batches.
/// SQLite: the single writer orders the ids; after each commit the rows go straight to the local hub.
/// PostgreSQL: each batch inserts under a cluster-wide advisory lock and NOTIFYs the rows in the same transaction, so
/// ids commit in increasing order and NOTIFY delivers them in that order to every node (this one included), whose
/// LISTEN connection dispatches them; after a reconnect the node re-reads what it missed from the table.
/// </summary>
public sealed partial class StreamJournal : IHostedService, IDisposable
{
    public const string NotifyChannel = "clarity_stream";
    private const long PostgresLockKey = 0x436c61725374; // "ClarSt": any constant shared by every node
    private const int MaxBatch = 256;
    private const int MaxNotifyBytes = 7000;

    private readonly Channel<StreamRow> _queue = Channel.CreateUnbounded<StreamRow>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly StreamStore _store;
    private readonly StreamHub _hub;
    private readonly Database _db;
    private readonly TimeProvider _clock;
    private readonly ILogger<StreamJournal> _logger;
    private readonly IDisposable _subscription;
    private Task? _append;
    private Task? _listen;
    private long _lastSeenId;

    public StreamJournal(IEventBus events, StreamStore store, StreamHub hub, Database db, TimeProvider clock, ILogger<StreamJournal> logger)
    {
        _store = store;
        _hub = hub;
        _db = db;
        _clock = clock;
        _logger = logger;
        _subscription = events.SubscribeLocal(OnEvent);
    }

    /// <summary>Maps an event to its stream row (topic, kind, data); null for events that are not streamed.</summary>
    public static StreamRow? ToRow(ClarityEvent evt, long now)
    {
        (string Topic, string Kind, object Data)? mapped = evt switch
        {
            TaskChanged t => (StreamTopics.Tasks, "task", new TaskData(t.TaskId, t.Queue, t.Status)),
            LogsAppended l => (StreamTopics.Logs(l.TaskId), "logs", new LogsData(l.TaskId, l.FirstSeq, l.LastSeq)),
            ClarificationChanged c => (StreamTopics.Clarifications, "clarification", new ClarificationData(c.ClarificationId, c.TaskId, c.Status)),
            AgentSeen a => (StreamTopics.Agents, "agent", new AgentData(a.AgentId, a.Name)),
            _ => null,
        };
        if (mapped is not { } m)
        {
            return null;
        }

        return new StreamRow
        {
            OrgId = evt.OrgId,
            Topic = m.Topic,
            Kind = m.Kind,
            Payload = JsonSerializer.Serialize(m.Data, m.Data.GetType(), JsonDefaults.Options),
            CorrelationId = evt.CorrelationId,
            CreatedAt = now,
        };
    }

    private void OnEvent(ClarityEvent evt)
    {
        if (ToRow(evt, DbTime.ToDb(_clock.GetUtcNow())) is { } row)
        {
            _queue.Writer.TryWrite(row);
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _append = Task.Run(() => AppendLoopAsync(), CancellationToken.None);
        if (_db is PostgresDatabase pg)
        {
            _listen = Task.Run(() => ListenLoopAsync(pg, _stopping.Token), CancellationToken.None);
            // Report started only once LISTEN is in place, so this node misses nothing after start-up.
            await _listening.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription.Dispose();
        _queue.Writer.TryComplete();
        if (_append is not null)
        {
            await _append.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        await _stopping.CancelAsync();
        if (_listen is not null)
        {
            await _listen.ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    public void Dispose()
    {
        _subscription.Dispose();
        _stopping.Dispose();
    }

    private async Task AppendLoopAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<StreamRow>(MaxBatch);
        while (await reader.WaitToReadAsync(CancellationToken.None))
        {
            batch.Clear();
            while (batch.Count < MaxBatch && reader.TryRead(out var row))
            {
                batch.Add(row);
            }

            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await AppendAsync(batch);
                    break;
                }
                catch (Exception ex) when (attempt < 3)
                {
                    Log.AppendRetry(_logger, ex, batch.Count);
                    await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), CancellationToken.None);
                }
                catch (Exception ex)
                {
                    Log.AppendFailed(_logger, ex, batch.Count);
                    break;
                }
            }
        }
    }

    private async Task AppendAsync(List<StreamRow> batch)
    {
        if (_db is PostgresDatabase pg)
        {
            await AppendPostgresAsync(pg, batch);
            return;
        }

        await _db.WriteAsync((c, t) => StreamStore.InsertAsync(c, t, batch), CancellationToken.None);
        _hub.Dispatch(batch);
    }

    private static async Task AppendPostgresAsync(PostgresDatabase pg, List<StreamRow> batch)
    {
        await using var connection = await pg.DataSource.OpenConnectionAsync(CancellationToken.None);
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, CancellationToken.None);

        // One round trip: the lock (held until commit, so ids commit in order across nodes), then every insert.
        await using (var insert = new NpgsqlBatch(connection, transaction))
        {
            insert.BatchCommands.Add(new NpgsqlBatchCommand("SELECT pg_advisory_xact_lock($1)") { Parameters = { new() { Value = PostgresLockKey } } });
            foreach (var row in batch)
            {
                insert.BatchCommands.Add(new NpgsqlBatchCommand(
                    "INSERT INTO stream_events (org_id, topic, kind, payload, correlation_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                {
                    Parameters =
                    {
                        new() { Value = row.OrgId },
                        new() { Value = row.Topic },
                        new() { Value = row.Kind },
                        new() { Value = row.Payload },
                        new() { Value = (object?)row.CorrelationId ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text },
                        new() { Value = row.CreatedAt },
                    },
                });
            }

            await using var reader = await insert.ExecuteReaderAsync(CancellationToken.None);
            await reader.ReadAsync(CancellationToken.None);
            foreach (var row in batch)
            {
                await reader.NextResultAsync(CancellationToken.None);
                await reader.ReadAsync(CancellationToken.None);
                row.Id = reader.GetInt64(0);
            }
        }

        await using (var notify = new NpgsqlCommand("SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS n(p, i) ORDER BY i", connection, transaction))
        {
            notify.Parameters.Add(new() { Value = NotifyChannel });
            notify.Parameters.Add(new() { Value = NotifyPayloads(batch).ToArray() });
            await notify.ExecuteNonQueryAsync(CancellationToken.None);
        }

        await transaction.CommitAsync(CancellationToken.None);
    }

    /// <summary>JSON arrays of rows, each payload well under NOTIFY's 8000-byte limit; a row too big alone is sent as its id only, and receivers read it.</summary>
    internal static IEnumerable<string> NotifyPayloads(IReadOnlyList<StreamRow> rows)
    {
        var chunk = new StringBuilder("[");
        var chunkBytes = 1;
        foreach (var row in rows)
        {
            var json = JsonSerializer.Serialize(new NotifyRow(row.Id, row.OrgId, row.Topic, row.Kind, row.Payload, row.CorrelationId, row.CreatedAt), JsonDefaults.Options);
            var bytes = Encoding.UTF8.GetByteCount(json);
            if (bytes > MaxNotifyBytes - 2)
            {
                json = JsonSerializer.Serialize(new NotifyRow(row.Id, null, null, null, null, null, 0), JsonDefaults.Options);
                bytes = Encoding.UTF8.GetByteCount(json);
            }

            if (chunkBytes > 1 && chunkBytes + bytes + 2 > MaxNotifyBytes)
            {
                yield return chunk.Append(']').ToString();
                chunk.Clear().Append('[');
                chunkBytes = 1;
            }

            if (chunkBytes > 1)
            {
                chunk.Append(',');
                chunkBytes++;
            }

            chunk.Append(json);
            chunkBytes += bytes;
        }

        if (chunkBytes > 1)
        {
            yield return chunk.Append(']').ToString();
        }
    }

    private Task ListenLoopAsync(PostgresDatabase pg, CancellationToken ct) =>
        PostgresListener.RunAsync(
            pg,
            NotifyChannel,
            onListening: async (reconnected, token) =>
            {
                if (reconnected)
                {
                    await CatchUpAsync(token);
                }
                else
                {
                    // Start from now: older events are replayed from the table on request, never pushed.
                    _lastSeenId = (await _store.PositionAsync(token)).NewestId;
                }

                _listening.TrySetResult();
            },
            onNotifications: (payloads, token) => ReceiveAsync(payloads, token),
            onFailure: ex => Log.ListenFailed(_logger, ex),
            ct);

    /// <summary>After a reconnect: everything committed since the last id seen, from the table, in order.</summary>
    private async Task CatchUpAsync(CancellationToken ct)
    {
        while (true)
        {
            var rows = await _store.ReadAfterAsync(_lastSeenId, null, null, 1000, ct);
            Deliver(rows);
            if (rows.Count < 1000)
            {
                return;
            }
        }
    }

    private async Task ReceiveAsync(IReadOnlyList<string> payloads, CancellationToken ct)
    {
        var rows = new List<StreamRow>();
        var missing = new List<long>();
        foreach (var payload in payloads)
        {
            try
            {
                foreach (var n in JsonSerializer.Deserialize<NotifyRow[]>(payload, JsonDefaults.Options) ?? [])
                {
                    if (n.Topic is null)
                    {
                        missing.Add(n.Id);
                        rows.Add(new StreamRow { Id = n.Id });
                    }
                    else
                    {
                        rows.Add(new StreamRow { Id = n.Id, OrgId = n.OrgId!.Value, Topic = n.Topic, Kind = n.Kind!, Payload = n.Payload!, CorrelationId = n.CorrelationId, CreatedAt = n.CreatedAt });
                    }
                }
            }
            catch (JsonException ex)
            {
                Log.BadPayload(_logger, ex);
            }
        }

        if (missing.Count > 0)
        {
            // Rows too big for NOTIFY travel by id; read them (ids still in order, so they slot into place).
            var read = (await _store.ReadByIdsAsync(missing, ct)).ToDictionary(r => r.Id);
            rows = [.. rows.Select(r => r.Topic.Length == 0 && read.TryGetValue(r.Id, out var full) ? full : r).Where(r => r.Topic.Length > 0)];
        }

        Deliver(rows);
    }

    private void Deliver(IReadOnlyList<StreamRow> rows)
    {
        var fresh = new List<StreamRow>(rows.Count);
        foreach (var row in rows)
        {
            if (row.Id > _lastSeenId)
            {
                fresh.Add(row);
                _lastSeenId = row.Id;
            }
        }

        _hub.Dispatch(fresh);
    }

    private sealed record TaskData(Guid TaskId, string Queue, string Status);

    private sealed record LogsData(Guid TaskId, long FirstSeq, long LastSeq);

    private sealed record ClarificationData(Guid ClarificationId, Guid TaskId, string Status);

    private sealed record AgentData(Guid AgentId, string Name);

    private sealed record NotifyRow(
        [property: System.Text.Json.Serialization.JsonPropertyName("i")] long Id,
        [property: System.Text.Json.Serialization.JsonPropertyName("o")] Guid? OrgId,
        [property: System.Text.Json.Serialization.JsonPropertyName("t")] string? Topic,
        [property: System.Text.Json.Serialization.JsonPropertyName("k")] string? Kind,
        [property: System.Text.Json.Serialization.JsonPropertyName("p")] string? Payload,
        [property: System.Text.Json.Serialization.JsonPropertyName("c")] string? CorrelationId,
        [property: System.Text.Json.Serialization.JsonPropertyName("a")] long CreatedAt);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Could not journal {Count} stream events; retrying")]
        public static partial void AppendRetry(ILogger logger, Exception error, int count);

        [LoggerMessage(2, LogLevel.Error, "Dropped {Count} stream events that could not be journaled")]
        public static partial void AppendFailed(ILogger logger, Exception error, int count);

        [LoggerMessage(3, LogLevel.Warning, "Stream LISTEN connection failed; reconnecting and catching up from the journal")]
        public static partial void ListenFailed(ILogger logger, Exception error);

        [LoggerMessage(4, LogLevel.Warning, "Ignored a stream notification that could not be read")]
        public static partial void BadPayload(ILogger logger, Exception error);
    }
}
