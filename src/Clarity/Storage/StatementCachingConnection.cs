using System.Data;
using System.Data.Common;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Data.Sqlite;

namespace Clarity.Storage;

/// <summary>
/// The SQLite writer's connection. Dapper creates a command per call, and a new <see cref="SqliteCommand"/> parses and
/// prepares its SQL on every execution; the writer runs the same few dozen statements all day. Here each command Dapper
/// creates borrows a <see cref="SqliteCommand"/> kept per SQL text, whose prepared statements SQLite reuses (only
/// rebinding the parameters), and gives it back when disposed.
/// </summary>
/// <remarks>
/// A statement in use is taken out of the cache, so a second command with the same text (a reader still open, say) gets
/// a fresh one. Texts past <see cref="Capacity"/> are not kept: a list Dapper expands into <c>IN (@ids1, @ids2, …)</c>
/// makes a new text per list length. Code that calls <see cref="SqliteConnection.CreateCommand"/> directly gets a plain
/// command, as before. Statements are finalized when the connection closes.
/// </remarks>
internal sealed class StatementCachingConnection(string connectionString) : SqliteConnection(connectionString)
{
    internal const int Capacity = 256;

    private readonly Dictionary<string, Statement> _idle = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>How many statement texts are kept prepared (for tests and diagnostics).</summary>
    internal int CachedStatements
    {
        get
        {
            lock (_gate)
            {
                return _idle.Count;
            }
        }
    }

    protected override DbCommand CreateDbCommand() => new BorrowingCommand(this);

    private Statement Borrow(string sql)
    {
        lock (_gate)
        {
            if (_idle.Remove(sql, out var command))
            {
                return command;
            }
        }

        return new Statement { Connection = this, CommandTimeout = DefaultTimeout, CommandText = sql };
    }

    private void GiveBack(Statement command)
    {
        command.Parameters.Clear();
        command.Transaction = null;
        if (command.CommandText.Length > 0 && State == ConnectionState.Open)
        {
            lock (_gate)
            {
                if (_idle.Count < Capacity && _idle.TryAdd(command.CommandText, command))
                {
                    return;
                }
            }
        }

        command.Dispose();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_gate)
            {
                foreach (var command in _idle.Values)
                {
                    command.Dispose();
                }

                _idle.Clear();
            }
        }

        base.Dispose(disposing);
    }

    /// <summary>
    /// The command Dapper sees. Its parameters live on a holder command that is never run (Dapper keeps a reference to the
    /// collection, and may rewrite the text after adding parameters when it expands a list); each execution borrows the
    /// statement for the text as it is then and binds these parameters to it.
    /// </summary>
    private sealed class BorrowingCommand(StatementCachingConnection owner) : DbCommand
    {
        private readonly SqliteCommand _holder = new();
        private Statement? _inner;
        private DbTransaction? _transaction;
        private string _text = "";
        private int _timeout = 30;

        [AllowNull]
        public override string CommandText
        {
            get => _text;
            set => _text = value ?? "";
        }

        public override int CommandTimeout
        {
            get => _timeout;
            set => _timeout = value;
        }

        public override CommandType CommandType
        {
            get => CommandType.Text;
            set
            {
                if (value != CommandType.Text)
                {
                    throw new ArgumentException("SQLite runs text commands only.", nameof(value));
                }
            }
        }

        public override bool DesignTimeVisible { get; set; }

        public override UpdateRowSource UpdatedRowSource { get; set; }

        protected override DbConnection? DbConnection
        {
            get => owner;
            set
            {
                if (value is not null && !ReferenceEquals(value, owner))
                {
                    throw new InvalidOperationException("A cached statement belongs to the connection that made it.");
                }
            }
        }

        protected override DbParameterCollection DbParameterCollection => _holder.Parameters;

        protected override DbTransaction? DbTransaction
        {
            get => _transaction;
            set => _transaction = value;
        }

        public override void Cancel() => _inner?.Cancel();

        public override int ExecuteNonQuery() => Ready().ExecuteNonQuery();

        public override object? ExecuteScalar() => Ready().ExecuteScalar();

        public override void Prepare() => Ready().Prepare();

        protected override DbParameter CreateDbParameter() => new SqliteParameter();

        protected override DbDataReader ExecuteDbDataReader(CommandBehavior behavior) => Ready().ExecuteReader(behavior);

        private Statement Ready()
        {
            if (_inner is not null && _inner.CommandText != _text)
            {
                owner.GiveBack(_inner);
                _inner = null;
            }

            var inner = _inner ??= owner.Borrow(_text);
            inner.Parameters.Clear();
            foreach (SqliteParameter parameter in _holder.Parameters)
            {
                inner.Spell(parameter);
                inner.Parameters.Add(parameter);
            }

            inner.Transaction = (SqliteTransaction?)_transaction;
            inner.CommandTimeout = _timeout;
            return inner;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                if (_inner is not null)
                {
                    owner.GiveBack(_inner);
                    _inner = null;
                }

                _holder.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>
    /// A statement kept per SQL text, with the way its text spells each parameter name it has been given. Its text never
    /// changes (it is the cache's key), and one command uses it at a time (it leaves the cache while borrowed).
    /// </summary>
    private sealed class Statement : SqliteCommand
    {
        private readonly Dictionary<string, string> _spellings = new(StringComparer.Ordinal);

        /// <summary>
        /// Names a parameter as the statement spells it. Dapper names its parameters without their prefix ("id" for
        /// <c>@id</c>); Microsoft.Data.Sqlite then asks SQLite for the name as given and, when that misses, with each of
        /// '@', '$' and ':' before it: up to four linear scans of the statement's parameter names, each after a new string
        /// and its UTF-8 copy, for every parameter of every execution (about 4 % of the writer thread's time in #14, run 23).
        /// With the name the statement uses, the first lookup hits. The text is searched once per name and statement. A
        /// name the text does not spell with a prefix is left as it is, to be resolved (or refused) the way
        /// Microsoft.Data.Sqlite always has.
        /// </summary>
        public void Spell(SqliteParameter parameter)
        {
            var name = parameter.ParameterName;
            if (name.Length == 0 || IsPrefix(name[0]))
            {
                return;
            }

            if (!_spellings.TryGetValue(name, out var spelled))
            {
                spelled = SpelledIn(CommandText, name) ?? name;
                _spellings.Add(name, spelled);
            }

            parameter.ParameterName = spelled;
        }

        private static string? SpelledIn(string sql, string name)
        {
            for (var at = sql.IndexOf(name, StringComparison.Ordinal); at >= 0; at = sql.IndexOf(name, at + 1, StringComparison.Ordinal))
            {
                var end = at + name.Length;
                if (at > 0 && IsPrefix(sql[at - 1]) && (end == sql.Length || !(char.IsAsciiLetterOrDigit(sql[end]) || sql[end] == '_')))
                {
                    return string.Concat(sql.AsSpan(at - 1, 1), name);
                }
            }

            return null;
        }

        private static bool IsPrefix(char c) => c is '@' or '$' or ':';
    }
}
