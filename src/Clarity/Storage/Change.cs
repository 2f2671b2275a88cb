using System.Data.Common;
using Clarity.Events;
using Clarity.Events.Audit;

namespace Clarity.Storage;

/// <summary>
/// One unit of work: the transaction every store method of a change runs in, who makes the change, the events it
/// emits and its audit entries. The events (to the outbox) and the audit entries are written in the same transaction,
/// just before it commits, so a change, its events and its audit entries commit together or not at all: if an entry
/// cannot be written, the change fails. Store methods take a <see cref="Change"/>, so several stores join one
/// transaction. <see cref="Changes.RunAsync{T}"/> creates it; nothing else does.
/// </summary>
public sealed class Change
{
    private readonly List<ClarityEvent> _events = [];
    private List<AuditRecord>? _audit;
    private List<Action>? _afterCommit;
    private int _savepoints;
    private (Actor Actor, string? CorrelationId)? _actingFor;

    internal Change(DbConnection connection, DbTransaction transaction, SqlDialect dialect, Actor actor, string? correlationId, long now, RequestClient? client = null)
    {
        Client = client;
        Connection = connection;
        Transaction = transaction;
        Dialect = dialect;
        Actor = actor;
        CorrelationId = correlationId;
        Now = now;
    }

    public DbConnection Connection { get; }

    public DbTransaction Transaction { get; }

    public SqlDialect Dialect { get; }

    /// <summary>Who makes the change; every event emitted gets it.</summary>
    public Actor Actor { get; }

    public string? CorrelationId { get; }

    /// <summary>The address and user agent of the request that makes the change (null for background work); for the audit log.</summary>
    public RequestClient? Client { get; }

    /// <summary>The change's one clock reading, in epoch milliseconds: every row it writes agrees on the time.</summary>
    public long Now { get; }

    public IReadOnlyList<ClarityEvent> Events => _events;

    /// <summary>Records an event of this change; it is written to the outbox in this transaction.</summary>
    /// <remarks>
    /// The event gets the change's actor, unless it names one itself (someone acting on their own behalf inside a system
    /// change); and the change's correlation id, unless it carries its own (an escalation started by the notification
    /// fan-out keeps the alert's).
    /// </remarks>
    public void Emit(ClarityEvent evt)
    {
        var (actor, correlationId) = _actingFor ?? (Actor, CorrelationId);
        _events.Add(evt with { Actor = evt.Actor == Actor.System ? actor : evt.Actor, CorrelationId = evt.CorrelationId ?? correlationId });
    }

    public IReadOnlyList<AuditRecord> AuditRecords => _audit ?? [];

    /// <summary>Records an audit entry of this change; it is written (and on SQLite chained) in this transaction, just before it commits.</summary>
    public void Audit(AuditRecord record) =>
        (_audit ??= []).Add(_actingFor is { } acting && record.Actor is null ? record with { Actor = acting.Actor } : record);

    /// <summary>
    /// Runs part of this change on behalf of someone else: the events it emits (and the audit entries it records) are
    /// attributed to <paramref name="actor"/> and carry <paramref name="correlationId"/>, not the change's own. A task's
    /// create claiming it for an agent already waiting is the case: the claim is the agent's. An audit entry recorded
    /// meanwhile names that actor but keeps the change's request (its address, user agent and correlation id), since
    /// that is the request the entry was written in.
    /// </summary>
    public async Task<T> ActForAsync<T>(Actor actor, string? correlationId, Func<Task<T>> work)
    {
        var outer = _actingFor;
        _actingFor = (actor, correlationId);
        try
        {
            return await work();
        }
        finally
        {
            _actingFor = outer;
        }
    }

    /// <summary>Runs <paramref name="action"/> on this node once the change has committed (never if it rolls back): in-memory hints only.</summary>
    public void AfterCommit(Action action) => (_afterCommit ??= []).Add(action);

    /// <summary>
    /// Runs <paramref name="work"/> inside a savepoint of this change. If it throws, what it wrote is rolled back to the
    /// savepoint, the events, audit entries and after-commit actions it recorded are dropped, and the exception is
    /// returned, so the rest of the change can go on and commit without it. A transient database error (a deadlock,
    /// a serialization failure, a busy database) is not caught: the whole change is run again.
    /// </summary>
    public async Task<Exception?> TryAsync(Func<Task> work)
    {
        var name = "part" + ++_savepoints;
        var (events, audit, afterCommit) = (_events.Count, _audit?.Count ?? 0, _afterCommit?.Count ?? 0);
        await ExecuteAsync("SAVEPOINT " + name);
        try
        {
            await work();
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not DbException { IsTransient: true })
        {
            await ExecuteAsync("ROLLBACK TO SAVEPOINT " + name);
            await ExecuteAsync("RELEASE SAVEPOINT " + name);
            _events.RemoveRange(events, _events.Count - events);
            _audit?.RemoveRange(audit, _audit.Count - audit);
            _afterCommit?.RemoveRange(afterCommit, _afterCommit.Count - afterCommit);
            return ex;
        }

        await ExecuteAsync("RELEASE SAVEPOINT " + name);
        return null;
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var command = Connection.CreateCommand();
        command.Transaction = Transaction;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Runs a store's statements on this change's connection and transaction.</summary>
    public Task<T> Run<T>(Func<DbConnection, DbTransaction, Task<T>> statements) => statements(Connection, Transaction);

    internal IReadOnlyList<Action> CommitActions => _afterCommit ?? [];
}
