using System.Diagnostics;
using Clarity.Storage;
using Npgsql;

namespace Clarity.Hosting;

/// <summary>
/// Which node runs the jobs that must run once: sweeps, retention, the outbox sequencer. On PostgreSQL the leader is the
/// node holding a session-level advisory lock on a connection of its own; every other node tries to take it every
/// second, so when the leader dies (its connection closes, and PostgreSQL releases the lock) another takes over within
/// seconds. The leader checks its connection every second and steps down the moment it fails. On SQLite there is one
/// node, and it always leads.
/// </summary>
public sealed partial class Leadership(Database database, TimeProvider clock, ILogger<Leadership> logger) : BackgroundService
{
    // Any constant works; it only has to be the same on every node and differ from the migrator's.
    private const long LockKey = 0x436c61724c6561; // "ClarLea"
    private static readonly TimeSpan s_every = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private CancellationTokenSource? _term;
    private TaskCompletionSource _elected = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The database the nodes share (background loops listen on it for wake-ups).</summary>
    public Database Database => database;

    public bool IsLeader
    {
        get
        {
            lock (_gate)
            {
                return _term is { IsCancellationRequested: false };
            }
        }
    }

    /// <summary>Waits until this node leads, then returns a token that is cancelled when it stops leading.</summary>
    public async Task<CancellationToken> WaitForTermAsync(CancellationToken ct)
    {
        while (true)
        {
            Task elected;
            lock (_gate)
            {
                if (_term is { IsCancellationRequested: false } term)
                {
                    return term.Token;
                }

                elected = _elected.Task;
            }

            await elected.WaitAsync(ct);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (database is not PostgresDatabase pg)
        {
            BeginTerm();
            try
            {
                await Task.Delay(Timeout.Infinite, stoppingToken);
            }
            catch (OperationCanceledException)
            {
            }

            EndTerm();
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await CampaignAsync(pg, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
            catch (Exception ex)
            {
                if (EndTerm())
                {
                    Log.LostLeadership(logger, ex);
                }
            }

            await Task.Delay(s_every, clock, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        EndTerm();
    }

    /// <summary>One connection's life: try for the lock every second; once held, keep checking the connection until it fails or the node stops.</summary>
    private async Task CampaignAsync(PostgresDatabase pg, CancellationToken ct)
    {
        // Not from the pool: the lock belongs to the session, and a pooled connection's session outlives its use.
        var builder = new NpgsqlConnectionStringBuilder(pg.DataSource.ConnectionString) { Pooling = false, ApplicationName = "clarity-leadership" };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(ct);

        // Let the server notice a vanished node within about 20 s even without a FIN (a cut network).
        await using (var keepalive = new NpgsqlCommand("SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 2", connection))
        {
            await keepalive.ExecuteNonQueryAsync(ct);
        }

        await using var tryLock = new NpgsqlCommand("SELECT pg_try_advisory_lock(@key)", connection);
        tryLock.Parameters.AddWithValue("key", LockKey);
        while (!(bool)(await tryLock.ExecuteScalarAsync(ct))!)
        {
            await Task.Delay(s_every, clock, ct);
        }

        BeginTerm();
        Log.Elected(logger);
        try
        {
            await using var check = new NpgsqlCommand("SELECT 1", connection) { CommandTimeout = 5 };
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(s_every, clock, ct);
                await check.ExecuteScalarAsync(ct);
            }
        }
        finally
        {
            EndTerm();
        }
    }

    private void BeginTerm()
    {
        lock (_gate)
        {
            _term?.Dispose();
            _term = new CancellationTokenSource();
            _elected.TrySetResult();
        }
    }

    /// <summary>Ends the current term (its jobs see their token cancelled); true when there was one.</summary>
    private bool EndTerm()
    {
        CancellationTokenSource? term;
        lock (_gate)
        {
            term = _term;
            _term = null;
            if (_elected.Task.IsCompleted)
            {
                _elected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        if (term is null)
        {
            return false;
        }

        term.Cancel();
        term.Dispose();
        return true;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "This node now leads: it runs the sweeps, retention and the event sequencer")]
        public static partial void Elected(ILogger logger);

        [LoggerMessage(2, LogLevel.Warning, "This node lost leadership (its lock connection failed); another node takes over")]
        public static partial void LostLeadership(ILogger logger, Exception error);
    }
}

/// <summary>
/// A background job that runs in a loop: every <see cref="Interval"/>, or sooner when <see cref="Wake"/> is called, and
/// again at once while a pass reports more work. A failing pass is logged and retried on the next tick. A leader-only job
/// (the default) runs only while this node leads, and its pass is cancelled when leadership is lost. On PostgreSQL a
/// loop may name a <see cref="WakeChannel"/>: every NOTIFY on it, and every (re)connect of the listener, wakes the loop;
/// the interval still bounds the delay when a notification is lost.
/// </summary>
public abstract partial class BackgroundLoop(Leadership leadership, ILogger logger) : BackgroundService
{
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _listen;

    /// <summary>For logs.</summary>
    protected abstract string Name { get; }

    protected abstract TimeSpan Interval { get; }

    /// <summary>True (the default) for work that must run on one node at a time.</summary>
    protected virtual bool LeaderOnly => true;

    /// <summary>One pass. Returns true when there is more to do at once (a full batch).</summary>
    protected abstract Task<bool> RunOnceAsync(CancellationToken ct);

    /// <summary>Whether this node leads now.</summary>
    protected bool IsLeader => leadership.IsLeader;

    protected ILogger Logger => logger;

    /// <summary>
    /// The shortest time from the end of one pass to the start of the next woken one (none by default). Under load a
    /// loop is woken far more often than it needs to run: the wake-ups while a pass runs, or within this time after it,
    /// are taken by one pass that follows, which then finds all that arrived meanwhile. A lone wake-up after a quiet
    /// spell runs at once; a pass that reports more work (a full batch) is followed at once.
    /// </summary>
    protected virtual TimeSpan Pacing => TimeSpan.Zero;

    /// <summary>A PostgreSQL NOTIFY channel that wakes the loop; null (the default) for none.</summary>
    protected virtual string? WakeChannel => null;

    /// <summary>Completes once the wake channel's listener is connected (at once when there is none).</summary>
    protected Task Listening => _listening.Task;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        if (WakeChannel is { } channel && leadership.Database is PostgresDatabase pg)
        {
            _listen = Task.Run(() => PostgresListener.RunAsync(
                pg,
                channel,
                onListening: (_, _) =>
                {
                    // (Re)connected: whatever was announced while deaf is found by the next pass.
                    _listening.TrySetResult();
                    Wake();
                    return Task.CompletedTask;
                },
                onNotifications: (_, _) =>
                {
                    Wake();
                    return Task.CompletedTask;
                },
                onFailure: ex => Log.ListenFailed(logger, ex, channel, Name),
                _stopping.Token), CancellationToken.None);
        }
        else
        {
            _listening.TrySetResult();
        }

        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_listen is not null)
        {
            await _listen.ContinueWith(_ => { }, TaskScheduler.Default);
        }

        await base.StopAsync(cancellationToken);
    }

    /// <summary>Runs a pass soon, without waiting for the interval.</summary>
    public void Wake()
    {
        if (_wake.CurrentCount > 0)
        {
            // Already woken. A busy webhook sender wakes its loop twice per answer; a thrown exception each time showed in its profile.
            return;
        }

        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Woken by another caller in between.
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var paced = false;
        long ended = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            var term = LeaderOnly ? await leadership.WaitForTermAsync(stoppingToken) : CancellationToken.None;
            using var pass = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, term);
            var more = false;
            try
            {
                // Wall-clock spacing (Stopwatch), not the configured TimeProvider's: it paces queries, it is no due time.
                if (paced && Pacing - Stopwatch.GetElapsedTime(ended) is { Ticks: > 0 } wait)
                {
                    await Task.Delay(wait, pass.Token);
                }

                more = await RunOnceAsync(pass.Token);
            }
            catch (OperationCanceledException) when (pass.IsCancellationRequested)
            {
                continue;
            }
            catch (Exception ex)
            {
                Log.PassFailed(logger, ex, Name);
            }

            ended = Stopwatch.GetTimestamp();
            paced = !more;
            if (!more)
            {
                await _wake.WaitAsync(Interval, pass.Token).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    public override void Dispose()
    {
        _wake.Dispose();
        _stopping.Dispose();
        base.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Background job {Job} failed; it runs again on the next tick")]
        public static partial void PassFailed(ILogger logger, Exception error, string job);

        [LoggerMessage(2, LogLevel.Warning, "LISTEN {Channel} for {Job} failed; reconnecting (the job still runs every interval meanwhile)")]
        public static partial void ListenFailed(ILogger logger, Exception error, string channel, string job);
    }
}

/// <summary>
/// A leader-only PostgreSQL loop that follows rows other transactions commit (the event sequencer, the audit chainer):
/// it runs as soon as a commit is announced, and at least every second. A commit on the leader wakes it in-process; a
/// commit on another node is announced with a NOTIFY on <see cref="BackgroundLoop.WakeChannel"/>, sent after the commit
/// and one at a time, so a burst of commits costs a few notifications and no writer's transaction notifies. A pass that
/// does not catch up on a full batch is followed by a pause of at least <see cref="Pacing"/>, so commits that arrive
/// meanwhile are taken together by the next pass: each pass is a transaction (and a WAL flush) of its own, and under
/// load this keeps the loop from competing with the writers for commit; it adds at most that to a row's wait.
/// </summary>
public abstract partial class CommitFollowingLoop(Database db, Leadership leadership, ILogger logger) : BackgroundLoop(leadership, logger)
{
    /// <summary>The shortest time between two passes that are not catching up on a full batch.</summary>
    protected override TimeSpan Pacing => TimeSpan.FromMilliseconds(10);

    protected const int Batch = 2000;

    private readonly SemaphoreSlim _announce = new(0, 1);
    private readonly CancellationTokenSource _stopping = new();
    private Task? _announcer;

    protected override TimeSpan Interval => TimeSpan.FromSeconds(1);

    /// <summary>This node committed rows the loop follows: wakes it here if this node leads, else tells the leader.</summary>
    public void Appended()
    {
        if (IsLeader)
        {
            Wake();
            return;
        }

        try
        {
            _announce.Release();
        }
        catch (SemaphoreFullException)
        {
            // An announcement is already due; it covers this commit too.
        }
    }

    /// <summary>One pass over at most <see cref="Batch"/> committed rows; returns how many it took.</summary>
    protected abstract Task<int> FollowAsync(int batch, CancellationToken ct);

    /// <summary>Tells the leader (NOTIFY on the wake channel) that rows were committed.</summary>
    protected abstract Task AnnounceAsync(CancellationToken ct);

    protected sealed override async Task<bool> RunOnceAsync(CancellationToken ct)
    {
        if (db.Kind != DatabaseKind.Postgres)
        {
            return false;
        }

        return await FollowAsync(Batch, ct) == Batch;
    }

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        _announcer = Task.Run(() => AnnounceLoopAsync(_stopping.Token), CancellationToken.None);
        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_announcer is not null)
        {
            await _announcer.ContinueWith(_ => { }, TaskScheduler.Default);
        }

        await base.StopAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _announce.Dispose();
        _stopping.Dispose();
        base.Dispose();
    }

    private async Task AnnounceLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _announce.WaitAsync(ct);
                await AnnounceAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // The leader polls every second: a lost announcement only delays.
                Log.AnnounceFailed(Logger, ex, Name);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Could not tell the leader of new rows for {Job} (it finds them within a second anyway)")]
        public static partial void AnnounceFailed(ILogger logger, Exception error, string job);
    }
}
