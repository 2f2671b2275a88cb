using System.Data.Common;

namespace Clarity.Storage;

public enum DatabaseKind
{
    Sqlite,
    Postgres,
}

/// <summary>
/// The one way features reach the database. Reads open a pooled connection; writes run as a unit of work
/// inside a transaction that has committed (durably) by the time <see cref="WriteAsync{T}"/> returns.
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

    public Task WriteAsync(Func<DbConnection, DbTransaction, Task> work, CancellationToken cancellationToken = default) =>
        WriteAsync(async (c, t) =>
        {
            await work(c, t);
            return true;
        }, cancellationToken);

    public abstract ValueTask DisposeAsync();
}
