using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Identity;

/// <summary>
/// The sign-in throttle's state: one row per account or client address with failures in <c>sign_in_throttle</c>,
/// keyed by a SHA-256 of the email or address (so neither is stored in the clear). The same SQL serves both
/// backends; counting is a compare-and-swap on the row, so concurrent attempts on several nodes each count once.
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

    /// <summary>Replaces the state <paramref name="seen"/> (null: no row) with <paramref name="next"/>; false when another attempt changed it first.</summary>
    public Task<bool> TryReplaceAsync(string subject, ThrottleState? seen, ThrottleState next, CancellationToken ct) =>
        db.WriteAsync(async (c, t) =>
        {
            var args = new { subject, next.Failures, next.LastFailureAt, next.NextAllowedAt, seenFailures = seen?.Failures, seenLast = seen?.LastFailureAt, seenNext = seen?.NextAllowedAt };
            var changed = seen is null
                ? await c.ExecuteAsync(
                    "INSERT INTO sign_in_throttle (subject, failures, last_failure_at, next_allowed_at) VALUES (@subject, @Failures, @LastFailureAt, @NextAllowedAt) ON CONFLICT (subject) DO NOTHING",
                    args, t)
                : await c.ExecuteAsync(
                    """
                    UPDATE sign_in_throttle SET failures = @Failures, last_failure_at = @LastFailureAt, next_allowed_at = @NextAllowedAt
                    WHERE subject = @subject AND failures = @seenFailures AND last_failure_at = @seenLast AND next_allowed_at = @seenNext
                    """,
                    args, t);
            return changed == 1;
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
