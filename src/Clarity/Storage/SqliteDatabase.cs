using System.Collections.Concurrent;
using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Clarity.Storage;

/// <summary>
/// SQLite in WAL mode: one writer connection that commits concurrent units of work together
/// (group commit, each unit inside its own savepoint), plus a pool of read-only connections.
/// Writes that a request waits for go first; background writes (<see cref="WriteBackgroundAsync{T}"/>) fill a group
/// only up to <see cref="BackgroundShare"/> while requests are queued, so a burst of webhook bookkeeping never stands
/// between a request and its commit.
/// </summary>
/// <remarks>
/// <c>synchronous</c> defaults to FULL: every group commit is fsynced before any caller is answered, so an
/// acknowledged write survives a crash of the process and of the machine. Group commit amortises the fsync
/// over everything that arrived while the previous commit was in flight. NORMAL can be chosen in
/// configuration; it still survives a killed process, but may lose the last commits on power loss.
/// </remarks>
public sealed partial class SqliteDatabase : Database
{
    private const int MaxGroup = 512;

    /// <summary>
    /// The page size of a new database: 8 KiB, not SQLite's 4 KiB default. Every commit writes each changed page to the
    /// WAL as a frame of two <c>pwrite</c> calls, so larger pages take half the calls for the same bytes: the writer spent
    /// about 8 % less CPU per ingested log line, and no more per task lifecycle (docs/benchmarks.md, run 19). A database
    /// made by an earlier release keeps its 4 KiB pages (SQLite changes a WAL database's page size only by a rebuild).
    /// </summary>
    internal const int PageSize = 8192;

    /// <summary>
    /// The WAL size, in pages, past which the writer checkpoints itself after a commit (SQLite's
    /// <c>wal_autocheckpoint</c>, 1,000 by default): a backstop, should the checkpointer thread fall behind.
    /// </summary>
    internal const int WriterCheckpointPages = 4_000;

    /// <summary>How often the checkpointer thread copies what has been committed since into the database file.</summary>
    internal static readonly TimeSpan CheckpointEvery = TimeSpan.FromMilliseconds(100);

    /// <summary>How many background writes join a group commit that also carries request writes.</summary>
    internal const int BackgroundShare = 8;

    private readonly ConcurrentQueue<WriteItem> _requests = new();
    private readonly ConcurrentQueue<WriteItem> _background = new();
    private readonly ManualResetEventSlim _doorbell = new(false);
    private readonly Lock _gate = new();
    private bool _closed;
    private readonly StatementCachingConnection _writer;
    private readonly SqliteCommand _savepoint;
    private readonly SqliteCommand _release;
    private readonly SqliteCommand _rollbackTo;
    private readonly string _readConnectionString;
    private readonly string _path;
    private readonly Thread _loop;
    private readonly Thread _checkpointer;
    private readonly SqliteConnection _checkpointConnection;
    private readonly ManualResetEventSlim _stopCheckpoints = new(false);
    private long _commits;
    private readonly ILogger _logger;

    // Group-end work (writer thread only): what the running unit of work has asked for, and what the group's committed
    // units have asked for, merged by key.
    private readonly List<GroupWork> _unitWork = [];
    private readonly OrderedDictionary<string, GroupWork> _groupWork = new(StringComparer.Ordinal);
    private bool _inUnit;

    public SqliteDatabase(string path, string synchronous, ILogger<SqliteDatabase> logger)
    {
        SqliteEngine.Configure();
        GuidTypeHandler.Register();
        _logger = logger;
        _path = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(_path);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        CreateOwnerOnly(_path);

        var writeCs = new SqliteConnectionStringBuilder
        {
            DataSource = _path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString();
        _readConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = _path,
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();

        _writer = new StatementCachingConnection(writeCs);
        _writer.Open();
        _savepoint = Statement("SAVEPOINT w;");
        _release = Statement("RELEASE w;");
        _rollbackTo = Statement("ROLLBACK TO w;");
        using (var pragma = _writer.CreateCommand())
        {
            // page_size only takes on a new database (before its first write; an existing one keeps the size it has).
            // temp_store=MEMORY would keep each savepoint's journal in 1 KiB chunks rather than the one block SqliteEngine
            // sets up (SqliteEngine says why), so it is asked for only where that block is not available.
            var tempStore = SqliteEngine.StatementJournalInOneBlock ? "" : "PRAGMA temp_store=MEMORY; ";
            pragma.CommandText =
                $"PRAGMA page_size={PageSize}; PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; " +
                $"PRAGMA synchronous={synchronous}; {tempStore}PRAGMA cache_size=-65536; " +
                $"PRAGMA wal_autocheckpoint={WriterCheckpointPages};";
            pragma.ExecuteNonQuery();
        }

        // Checkpoints (copying committed pages from the WAL into the database file, then its fsync) run on a thread and
        // connection of their own, beside the writer rather than after one of its commits: under a write load they
        // took about a tenth of the writer's time (docs/benchmarks.md, run 18).
        _checkpointConnection = new SqliteConnection(writeCs);
        _checkpointConnection.Open();
        using (var pragma = _checkpointConnection.CreateCommand())
        {
            pragma.CommandText = $"PRAGMA synchronous={synchronous}; PRAGMA wal_autocheckpoint=0;";
            pragma.ExecuteNonQuery();
        }

        _checkpointer = new Thread(CheckpointLoop) { IsBackground = true, Name = "clarity-checkpoint" };
        _checkpointer.Start();

        // The writer is a dedicated thread that blocks on SQLite (and its fsync) without ever holding a thread-pool thread.
        // Linux keeps a thread's first 15 characters as its name ("clarity-sqlite-"), which no other thread shares, so
        // tools (bench/, perf, top -H) can tell the writer apart.
        _loop = new Thread(WriteLoop) { IsBackground = true, Name = "clarity-sqlite-writer" };
        _loop.Start();
    }

    public override DatabaseKind Kind => DatabaseKind.Sqlite;

    /// <summary>Writes a request waits for that are queued for the writer (for tests and diagnostics).</summary>
    internal int QueuedRequestWrites => _requests.Count;

    private SqliteCommand Statement(string sql)
    {
        var command = _writer.CreateCommand();
        command.CommandText = sql;
        return command;
    }

    /// <summary>
    /// Creates a new database file readable and writable by its owner only (0600): it holds password hashes, API key
    /// hashes and encrypted secrets. SQLite gives its -wal and -shm files the database file's mode. An existing file
    /// keeps the mode its operator chose.
    /// </summary>
    internal static void CreateOwnerOnly(string path)
    {
        if (OperatingSystem.IsWindows() || File.Exists(path))
        {
            return;
        }

        try
        {
            using var file = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another process sharing this data folder created it first.
        }
    }

    public override SqlDialect Dialect => SqlDialect.Sqlite;

    public override string Describe() => $"SQLite {_path}";

    public override async ValueTask<DbConnection> OpenReadAsync(CancellationToken cancellationToken = default)
    {
        var connection = new SqliteConnection(_readConnectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    public override Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken cancellationToken = default) =>
        Enqueue(_requests, work, cancellationToken);

    public override Task<T> WriteBackgroundAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken cancellationToken = default) =>
        Enqueue(_background, work, cancellationToken);

    private Task<T> Enqueue<T>(ConcurrentQueue<WriteItem> queue, Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var item = new WriteItem<T>(work);
        lock (_gate)
        {
            // Under the gate, so an item is either refused here or seen by the writer before it stops.
            if (_closed)
            {
                throw new ObjectDisposedException(nameof(SqliteDatabase), "The database is shutting down.");
            }

            queue.Enqueue(item);

            // Rung under the gate too: once the gate is closed the writer may finish and the doorbell be disposed.
            _doorbell.Set();
        }

        return item.Completion.Task;
    }

    private void WriteLoop()
    {
        var group = new List<WriteItem>(MaxGroup);
        while (true)
        {
            // Reset before looking: an item enqueued after the look rings again, so the wait below cannot miss it.
            _doorbell.Reset();
            group.Clear();
            while (group.Count < MaxGroup && _requests.TryDequeue(out var request))
            {
                group.Add(request);
            }

            var share = group.Count == 0 ? MaxGroup : BackgroundShare;
            while (share-- > 0 && _background.TryDequeue(out var background))
            {
                group.Add(background);
            }

            if (group.Count > 0)
            {
                RunGroup(group);
                continue;
            }

            lock (_gate)
            {
                if (_closed && _requests.IsEmpty && _background.IsEmpty)
                {
                    return;
                }
            }

            _doorbell.Wait();
        }
    }

    /// <summary>
    /// Every <see cref="CheckpointEvery"/> that saw a commit, a PASSIVE checkpoint: it copies what no reader still needs
    /// from the WAL into the database file without waiting for readers or blocking the writer, which starts the WAL
    /// over once all of it has been copied.
    /// </summary>
    private void CheckpointLoop()
    {
        using var checkpoint = _checkpointConnection.CreateCommand();
        checkpoint.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
        long done = 0;
        while (!_stopCheckpoints.Wait(CheckpointEvery))
        {
            var commits = Volatile.Read(ref _commits);
            if (commits == done)
            {
                continue;
            }

            done = commits;
            try
            {
                checkpoint.ExecuteNonQuery();
            }
            catch (SqliteException ex)
            {
                // SQLITE_BUSY: the writer's backstop checkpoint is running. Anything else: the next round tries again,
                // and the writer checkpoints itself should the WAL keep growing.
                if (ex.SqliteErrorCode != 5)
                {
                    Log.CheckpointFailed(_logger, ex);
                }
            }
        }
    }

    /// <summary>
    /// Runs one of the savepoint statements, kept prepared: two of them frame every unit of work, and
    /// <see cref="SqliteTransaction.Save"/> would parse its SQL anew each time.
    /// </summary>
    private static void Savepoint(SqliteCommand command, SqliteTransaction transaction)
    {
        command.Transaction = transaction;
        command.ExecuteNonQuery();
    }

    /// <summary>
    /// Hands <paramref name="work"/> to the end of the running unit of work's group commit: it runs once every unit of
    /// the group has run, in the same transaction, just before the commit, merged with the work of the same
    /// <see cref="GroupWork.Key"/> that the group's other units asked for. If the unit fails, its work is dropped with
    /// it. If the work fails, the whole group fails, as a failed commit does. Only a unit of work may call this, and
    /// not from inside a <see cref="Change.TryAsync"/> part that may be rolled back on its own.
    /// </summary>
    public void AtGroupEnd(GroupWork work)
    {
        if (!_inUnit)
        {
            throw new InvalidOperationException("Group-end work can only be handed over by a unit of work on the writer.");
        }

        _unitWork.Add(work);
    }

    private void RunGroup(List<WriteItem> group)
    {
        SqliteTransaction? transaction = null;
        try
        {
            transaction = _writer.BeginTransaction(deferred: false);
            foreach (var item in group)
            {
                // Each unit of work runs in its own savepoint: one that fails is undone alone, and the rest commit.
                Savepoint(_savepoint, transaction);
                _unitWork.Clear();
                _inUnit = true;
                try
                {
                    // Microsoft.Data.Sqlite runs its async methods synchronously, so waiting here costs nothing extra.
                    item.RunAsync(_writer, transaction).GetAwaiter().GetResult();
                    _inUnit = false;
                    Savepoint(_release, transaction);
                    KeepUnitWork();
                }
                catch (Exception ex)
                {
                    _inUnit = false;
                    Savepoint(_rollbackTo, transaction);
                    Savepoint(_release, transaction);
                    item.Fault(ex);
                }
            }

            foreach (var work in _groupWork.Values)
            {
                work.Run(_writer, transaction);
            }

            transaction.Commit();
            Interlocked.Increment(ref _commits);
        }
        catch (Exception ex)
        {
            Log.GroupCommitFailed(_logger, ex, group.Count);
            try
            {
                transaction?.Rollback();
            }
            catch (Exception rollbackError)
            {
                Log.GroupCommitFailed(_logger, rollbackError, group.Count);
            }

            foreach (var item in group)
            {
                item.Fault(ex);
            }

            return;
        }
        finally
        {
            _unitWork.Clear();
            _groupWork.Clear();
            transaction?.Dispose();
        }

        foreach (var item in group)
        {
            item.Succeed();
        }
    }

    private void KeepUnitWork()
    {
        foreach (var work in _unitWork)
        {
            if (_groupWork.TryGetValue(work.Key, out var earlier))
            {
                earlier.Merge(work);
            }
            else
            {
                _groupWork.Add(work.Key, work);
            }
        }

        _unitWork.Clear();
    }

    public override async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            _closed = true;
        }

        _doorbell.Set();
        _loop.Join();
        _doorbell.Dispose();
        _stopCheckpoints.Set();
        _checkpointer.Join();
        _stopCheckpoints.Dispose();
        await _checkpointConnection.DisposeAsync();
        using (var checkpoint = _writer.CreateCommand())
        {
            checkpoint.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
            try
            {
                checkpoint.ExecuteNonQuery();
            }
            catch (SqliteException)
            {
                // A reader may still hold the WAL; the next start checkpoints instead.
            }
        }

        _savepoint.Dispose();
        _release.Dispose();
        _rollbackTo.Dispose();
        await _writer.DisposeAsync();
        SqliteConnection.ClearAllPools();
    }

    /// <summary>
    /// Work that units of work hand to the end of their group commit (<see cref="AtGroupEnd"/>), where the work of
    /// several units is done at once. The full-text index is the case: FTS5 writes the terms it holds in memory out as a
    /// new segment at every savepoint, so indexing each unit's lines inside its own savepoint makes a segment (and
    /// later merges) per unit; indexing the group's lines at its end makes one per group.
    /// </summary>
    public abstract class GroupWork
    {
        /// <summary>Work of the same key from the group's units is merged into the first one's, and runs once.</summary>
        public abstract string Key { get; }

        /// <summary>Takes in the work of a later unit of the group with the same <see cref="Key"/>.</summary>
        public abstract void Merge(GroupWork later);

        /// <summary>Does the work in the group's transaction, on the writer's connection.</summary>
        public abstract void Run(SqliteConnection connection, SqliteTransaction transaction);
    }

    private abstract class WriteItem
    {
        public abstract Task RunAsync(DbConnection connection, DbTransaction transaction);

        public abstract void Fault(Exception error);

        public abstract void Succeed();
    }

    private sealed class WriteItem<T>(Func<DbConnection, DbTransaction, Task<T>> work) : WriteItem
    {
        private T? _result;
        private bool _faulted;

        public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async Task RunAsync(DbConnection connection, DbTransaction transaction) =>
            _result = await work(connection, transaction);

        public override void Fault(Exception error)
        {
            _faulted = true;
            Completion.TrySetException(error);
        }

        public override void Succeed()
        {
            if (!_faulted)
            {
                Completion.TrySetResult(_result!);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "SQLite group commit of {Count} writes failed")]
        public static partial void GroupCommitFailed(ILogger logger, Exception error, int count);

        [LoggerMessage(2, LogLevel.Warning, "SQLite checkpoint failed; the next one tries again")]
        public static partial void CheckpointFailed(ILogger logger, Exception error);
    }
}
