using System.Data;
using System.Data.Common;
using Npgsql;

namespace Clarity.Storage;

/// <summary>PostgreSQL through one <see cref="NpgsqlDataSource"/>. Each write is its own READ COMMITTED transaction.</summary>
public sealed class PostgresDatabase : Database
{
    private readonly NpgsqlConnectionStringBuilder _builder;

    public PostgresDatabase(string connectionString)
    {
        GuidTypeHandler.Register();
        _builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (string.IsNullOrEmpty(_builder.ApplicationName))
        {
            _builder.ApplicationName = "clarity";
        }

        DataSource = NpgsqlDataSource.Create(_builder.ConnectionString);
    }

    public NpgsqlDataSource DataSource { get; }

    public override DatabaseKind Kind => DatabaseKind.Postgres;

    public override SqlDialect Dialect => SqlDialect.Postgres;

    public override string Describe() => $"PostgreSQL {_builder.Host}:{_builder.Port}/{_builder.Database}";

    public override async ValueTask<DbConnection> OpenReadAsync(CancellationToken cancellationToken = default) =>
        await DataSource.OpenConnectionAsync(cancellationToken);

    public override async Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken cancellationToken = default)
    {
        await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        var result = await work(connection, transaction);
        await transaction.CommitAsync(CancellationToken.None);
        return result;
    }

    public override ValueTask DisposeAsync() => DataSource.DisposeAsync();
}
