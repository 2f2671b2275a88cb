using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Identity;

/// <summary>
/// The sign-in throttle's state: one row per account or client address with failures in <c>sign_in_throttle</c>,
/// keyed by a SHA-256 of the email or address (so neither is stored in the clear). The same SQL serves both
/// backends. A row with no failures is the same as no row.
/// </summary>
public sealed class SignInThrottleStore(Database db)
{
    public async Task<IReadOnlyDictionary<string, ThrottleState>> ReadAsync(IReadOnlyList<string> subjects, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var rows = await c.QueryAsync<Row>(
            $"SELECT subject AS Subject, failures AS Failures, last_failure_at AS LastFailureAt, next_allowed_at AS NextAllowedAt FROM sign_in_throttle WHERE {db.Dialect.InList("subject", "@subjects")}",
            new { subjects = subjects.ToArray() });
        return rows.ToDictionary(r => r.Subject, r => r.ToState(), StringComparer.Ordinal);
    }

    /// <summary>
    /// Counts an attempt in one transaction: locks the subject's row (creating an empty one first), lets
    /// <paramref name="decide"/> see its state and stores what it returns (null: refuse, leave the row as it is).
    /// Returns the state seen. Concurrent attempts on several nodes queue on the row lock (PostgreSQL) or the single
    /// writer (SQLite), so each is counted exactly once.
    /// </summary>
    public Task<ThrottleState> CountAsync(string subject, Func<ThrottleState, ThrottleState?> decide, CancellationToken ct) =>
        db.WriteAsync(async (c, t) =>
        {
            await c.ExecuteAsync(
                "INSERT INTO sign_in_throttle (subject, failures, last_failure_at, next_allowed_at) VALUES (@subject, 0, 0, 0) ON CONFLICT (subject) DO NOTHING",
                new { subject }, t);
            // A no-op update takes the row lock and returns the row as it is once the lock is ours.
            var seen = (await c.QuerySingleAsync<Row>(
                "UPDATE sign_in_throttle SET failures = failures WHERE subject = @subject RETURNING subject AS Subject, failures AS Failures, last_failure_at AS LastFailureAt, next_allowed_at AS NextAllowedAt",
                new { subject }, t)).ToState();
            if (decide(seen) is { } next)
            {
                await c.ExecuteAsync(
                    "UPDATE sign_in_throttle SET failures = @Failures, last_failure_at = @LastFailureAt, next_allowed_at = @NextAllowedAt WHERE subject = @subject",
                    new { subject, next.Failures, next.LastFailureAt, next.NextAllowedAt }, t);
            }

            return seen;
        }, ct);

    /// <summary>Takes back one counted attempt (it succeeded).</summary>
    public Task ReleaseAsync(string subject, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync(
            "UPDATE sign_in_throttle SET failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END WHERE subject = @subject", new { subject }, t), ct);

    /// <summary>Forgets every failure of the subject (the account's owner signed in).</summary>
    public Task ClearAsync(string subject, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync("DELETE FROM sign_in_throttle WHERE subject = @subject", new { subject }, t), ct);

    /// <summary>Deletes rows whose failures are forgotten and whose wait is over.</summary>
    public Task<int> PruneAsync(long lastFailureBefore, long now, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync(
            "DELETE FROM sign_in_throttle WHERE last_failure_at < @lastFailureBefore AND next_allowed_at <= @now", new { lastFailureBefore, now }, t), ct);

    private sealed class Row
    {
        public string Subject { get; set; } = "";

        public long Failures { get; set; }

        public long LastFailureAt { get; set; }

        public long NextAllowedAt { get; set; }

        public ThrottleState ToState() => new((int)Failures, LastFailureAt, NextAllowedAt);
    }
}
