using System.Data.Common;

namespace Clarity.Storage;

public enum DatabaseKind
{
    Sqlite,
    Postgres,
}

/// <summary>
/// The one way features reach the database. Reads open a pooled connection; writes run as a unit of work
/// inside a transaction that has committed (durably) by the time <see cref="WriteAsync{T}(Func{DbConnection, DbTransaction, Task{T}}, CancellationToken)"/> returns.
/// On SQLite all writes go through one writer connection that commits concurrent work in groups;
/// on PostgreSQL each write is its own transaction on a pooled connection.
/// </summary>
public abstract class Database : IAsyncDisposable
{
    public abstract DatabaseKind Kind { get; }

    public abstract SqlDialect Dialect { get; }

    /// <summary>A short description for logs and start-up output, with no secrets in it.</summary>
    public abstract string Describe();

    public abstract ValueTask<DbConnection> OpenReadAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs <paramref name="work"/> in a transaction and returns once that transaction has committed.
    /// If the work throws, its changes are rolled back and the exception is rethrown to the caller.
    /// </summary>
    public abstract Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken cancellationToken = default);

    /// <summary>
    /// Like <see cref="WriteAsync{T}(Func{DbConnection, DbTransaction, Task{T}}, CancellationToken)"/>, but the work may
    /// send the COMMIT itself, with its last statements in one round trip, when <see cref="InlineCommit.Allowed"/>
    /// (PostgreSQL); it then calls <see cref="InlineCommit.Sent"/>. Where inline commits are not allowed (SQLite's
    /// group commit), this is the plain write.
    /// </summary>
    public virtual Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, InlineCommit, Task<T>> work, CancellationToken cancellationToken = default) =>
        WriteAsync((c, t) => work(c, t, InlineCommit.NotAllowed), cancellationToken);

    /// <summary>
    /// A write for background work (webhook fan-out and attempt records, retention, index backfills): the same
    /// transaction and durability as <see cref="WriteAsync{T}(Func{DbConnection, DbTransaction, Task{T}}, CancellationToken)"/>,
    /// but it yields to the request path. On SQLite's single writer, writes that requests wait for go first and
    /// background writes take a bounded share of each group commit while requests are queued; on PostgreSQL, where
    /// writers run side by side, it is the plain write.
    /// </summary>
    public virtual Task<T> WriteBackgroundAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken cancellationToken = default) =>
        WriteAsync(work, cancellationToken);

    public Task WriteAsync(Func<DbConnection, DbTransaction, Task> work, CancellationToken cancellationToken = default) =>
        WriteAsync(async (c, t) =>
        {
            await work(c, t);
            return true;
        }, cancellationToken);

    public abstract ValueTask DisposeAsync();
}

/// <summary>
/// Lets a write's work end its transaction itself: on PostgreSQL a change sends COMMIT in the same batch as its last
/// statements (one round trip fewer), and says so here so that <see cref="Database"/> does not commit again.
/// </summary>
public sealed class InlineCommit
{
    internal static readonly InlineCommit NotAllowed = new(false);

    internal InlineCommit(bool allowed) => Allowed = allowed;

    /// <summary>Whether the work may put COMMIT in its last batch.</summary>
    public bool Allowed { get; }

    /// <summary>Whether the work has sent COMMIT and the server has acknowledged it.</summary>
    public bool Committed { get; private set; }

    /// <summary>Called by the work once its COMMIT has been acknowledged.</summary>
    public void Sent()
    {
        if (!Allowed)
        {
            throw new InvalidOperationException("This database does not let the work commit its transaction itself.");
        }

        Committed = true;
    }
}
