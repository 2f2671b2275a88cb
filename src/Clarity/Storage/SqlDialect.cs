namespace Clarity.Storage;

/// <summary>The few places where SQLite and PostgreSQL SQL differ. Everything else is written once.</summary>
public abstract class SqlDialect
{
    public static readonly SqlDialect Sqlite = new SqliteDialect();
    public static readonly SqlDialect Postgres = new PostgresDialect();

    public abstract DatabaseKind Kind { get; }

    /// <summary>Appended to the sub-select that picks a row to claim.</summary>
    public abstract string ClaimLock { get; }

    /// <summary>
    /// Appended to a SELECT that reads a row whose lock protects an invariant spanning rows ("an org keeps an owner"):
    /// the row lock on PostgreSQL; nothing on SQLite, whose single writer already serialises every write transaction.
    /// </summary>
    public abstract string ForUpdate { get; }

    /// <summary>A condition that holds when the column equals one of the values of a list parameter (Dapper expands the list on SQLite and sends an array to PostgreSQL).</summary>
    public abstract string InList(string column, string parameter);

    /// <summary>A condition that holds when every label in the JSON array column is in the JSON array parameter.</summary>
    public abstract string LabelsSubsetOf(string column, string parameter);

    private sealed class SqliteDialect : SqlDialect
    {
        public override DatabaseKind Kind => DatabaseKind.Sqlite;

        // SQLite has a single writer: a claim inside a write transaction is already exclusive.
        public override string ClaimLock => "";

        public override string ForUpdate => "";

        public override string InList(string column, string parameter) => $"{column} IN {parameter}";

        public override string LabelsSubsetOf(string column, string parameter) =>
            $"({column} = '[]' OR NOT EXISTS (SELECT 1 FROM json_each({column}) tl WHERE tl.value NOT IN (SELECT al.value FROM json_each({parameter}) al)))";
    }

    private sealed class PostgresDialect : SqlDialect
    {
        public override DatabaseKind Kind => DatabaseKind.Postgres;

        public override string ClaimLock => "FOR UPDATE SKIP LOCKED";

        public override string ForUpdate => "FOR UPDATE";

        public override string InList(string column, string parameter) => $"{column} = ANY({parameter})";

        public override string LabelsSubsetOf(string column, string parameter) =>
            $"({column} = '[]' OR CAST({column} AS jsonb) <@ CAST({parameter} AS jsonb))";
    }
}
