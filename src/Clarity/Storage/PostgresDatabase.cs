using System.Data;
using System.Data.Common;
using Npgsql;

namespace Clarity.Storage;

/// <summary>
/// PostgreSQL through one <see cref="NpgsqlDataSource"/>. Each write is its own READ COMMITTED transaction.
/// Unless the connection string says otherwise, pooled connections are not reset when they return to the pool (no
/// session state is ever left on them: LISTEN runs on connections of their own, <see cref="OpenListenerAsync"/>), and
/// the statements a connection runs repeatedly are prepared on it (Npgsql's automatic preparation).
/// </summary>
public sealed class PostgresDatabase : Database
{
    /// <summary>How many statements each pooled connection keeps prepared (Npgsql's <c>Max Auto Prepare</c>) unless configured.</summary>
    public const int DefaultMaxAutoPrepare = 64;

    /// <summary>After how many runs on one connection a statement is prepared (Npgsql's <c>Auto Prepare Min Usages</c>) unless configured.</summary>
    public const int DefaultAutoPrepareMinUsages = 2;

    private readonly NpgsqlConnectionStringBuilder _builder;
    private readonly NpgsqlDataSource _listeners;

    public PostgresDatabase(string connectionString)
    {
        GuidTypeHandler.Register();
        _builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (string.IsNullOrEmpty(_builder.ApplicationName))
        {
            _builder.ApplicationName = "clarity";
        }

        var given = new DbConnectionStringBuilder { ConnectionString = connectionString };
        bool Given(string key) => given.Keys.Cast<string>().Any(k => string.Equals(k.Replace(" ", "", StringComparison.Ordinal), key, StringComparison.OrdinalIgnoreCase));
        if (!Given("NoResetOnClose"))
        {
            // The reset (DISCARD ALL, or with prepared statements RESET ALL, CLOSE ALL, UNLISTEN *, ...) is server work on
            // every change's connection; nothing Clarity does on a pooled connection outlives its transaction.
            _builder.NoResetOnClose = true;
        }

        if (!Given("MaxAutoPrepare"))
        {
            _builder.MaxAutoPrepare = DefaultMaxAutoPrepare;
        }

        if (!Given("AutoPrepareMinUsages"))
        {
            _builder.AutoPrepareMinUsages = DefaultAutoPrepareMinUsages;
        }

        DataSource = NpgsqlDataSource.Create(_builder.ConnectionString);

        // LISTEN is session state: listeners hold connections of their own, outside the pool, closed when they stop.
        _listeners = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(_builder.ConnectionString) { Pooling = false }.ConnectionString);
    }

    public NpgsqlDataSource DataSource { get; }

    public override DatabaseKind Kind => DatabaseKind.Postgres;

    public override SqlDialect Dialect => SqlDialect.Postgres;

    public override string Describe() => $"PostgreSQL {_builder.Host}:{_builder.Port}/{_builder.Database}";

    public override async ValueTask<DbConnection> OpenReadAsync(CancellationToken cancellationToken = default) =>
        await DataSource.OpenConnectionAsync(cancellationToken);

    /// <summary>A connection outside the pool, for a LISTENer: it is closed, not pooled, when disposed.</summary>
    public ValueTask<NpgsqlConnection> OpenListenerAsync(CancellationToken cancellationToken = default) =>
        _listeners.OpenConnectionAsync(cancellationToken);

    public override Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken cancellationToken = default) =>
        WriteAsync((c, t, _) => work(c, t), cancellationToken);

    /// <remarks>
    /// BEGIN costs no round trip (Npgsql sends it with the first statement); COMMIT costs one unless the work sends it
    /// with its last statements. If the work throws, or its batch failed before its COMMIT ran, disposing the transaction
    /// rolls it back; if the COMMIT itself failed, the server has already ended the transaction.
    /// </remarks>
    public override async Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, InlineCommit, Task<T>> work, CancellationToken cancellationToken = default)
    {
        await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        var commit = new InlineCommit(allowed: true);
        var result = await work(connection, transaction, commit);
        if (!commit.Committed)
        {
            await transaction.CommitAsync(CancellationToken.None);
        }

        return result;
    }

    public override async ValueTask DisposeAsync()
    {
        await _listeners.DisposeAsync();
        await DataSource.DisposeAsync();
    }
}
