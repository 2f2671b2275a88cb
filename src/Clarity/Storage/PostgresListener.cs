using Npgsql;

namespace Clarity.Storage;

/// <summary>
/// Keeps one PostgreSQL connection LISTENing on a channel until stopped, reconnecting a second after any failure.
/// <c>onListening</c> runs each time LISTEN is in place (with <c>reconnected</c> false the first time), before any
/// notification received on that connection is handed over; notifications then arrive in batches, in the order the
/// server sent them. Used by the event feed and the sequencer.
/// </summary>
public static class PostgresListener
{
    private static readonly TimeSpan s_retryAfter = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long one wait for notifications lasts before the stop token is looked at again. The wait is never cancelled
    /// through a token: cancelling Npgsql's <c>WaitAsync</c> can deadlock (npgsql/npgsql#5975), which once held a host's
    /// shutdown forever; a wait that times out leaves the connection ready for the next one.
    /// </summary>
    private static readonly TimeSpan s_waitSlice = TimeSpan.FromMilliseconds(250);

    public static async Task RunAsync(
        PostgresDatabase database,
        string channel,
        Func<bool, CancellationToken, Task> onListening,
        Func<IReadOnlyList<string>, CancellationToken, Task> onNotifications,
        Action<Exception> onFailure,
        CancellationToken ct)
    {
        var reconnected = false;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var received = new List<string>();
                await using var connection = await database.OpenListenerAsync(ct);
                connection.Notification += (_, args) => received.Add(args.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(ct);
                }

                await onListening(reconnected, ct);
                reconnected = true;
                while (!ct.IsCancellationRequested)
                {
                    await connection.WaitAsync(s_waitSlice, CancellationToken.None);
                    if (received.Count > 0)
                    {
                        string[] batch = [.. received];
                        received.Clear();
                        await onNotifications(batch, ct);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                onFailure(ex);
                await Task.Delay(s_retryAfter, ct).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }
}
