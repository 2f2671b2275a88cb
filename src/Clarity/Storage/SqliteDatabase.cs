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
    private readonly ILogger _logger;

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
            pragma.CommandText =
                "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; " +
                $"PRAGMA synchronous={synchronous}; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536;";
            pragma.ExecuteNonQuery();
        }

        // The writer is a dedicated thread that blocks on SQLite (and its fsync) without ever holding a thread-pool thread.
        _loop = new Thread(WriteLoop) { IsBackground = true, Name = "clarity-sqlite-writer" };
        _loop.Start();
    }

    public override DatabaseKind Kind => DatabaseKind.Sqlite;

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
    /// Runs one of the savepoint statements, kept prepared: two of them frame every unit of work, and
    /// <see cref="SqliteTransaction.Save"/> would parse its SQL anew each time.
    /// </summary>
    private static void Savepoint(SqliteCommand command, SqliteTransaction transaction)
    {
        command.Transaction = transaction;
        command.ExecuteNonQuery();
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
                try
                {
                    // Microsoft.Data.Sqlite runs its async methods synchronously, so waiting here costs nothing extra.
                    item.RunAsync(_writer, transaction).GetAwaiter().GetResult();
                    Savepoint(_release, transaction);
                }
                catch (Exception ex)
                {
                    Savepoint(_rollbackTo, transaction);
                    Savepoint(_release, transaction);
                    item.Fault(ex);
                }
            }

            transaction.Commit();
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
            transaction?.Dispose();
        }

        foreach (var item in group)
        {
            item.Succeed();
        }
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
    }
}
