using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Identity;

/// <summary>Server-side sign-in sessions (<c>sessions</c>). The same SQL serves both backends.</summary>
public sealed class SessionStore(Database db)
{
    private const string Columns =
        "id AS Id, user_id AS UserId, created_at AS CreatedAt, expires_at AS ExpiresAt, last_seen_at AS LastSeenAt, revoked_at AS RevokedAt, " +
        "user_agent AS UserAgent, address AS Address";

    public Task CreateAsync(Change change, SessionRow row) =>
        change.Run((c, t) => c.ExecuteAsync(
            "INSERT INTO sessions (id, user_id, created_at, expires_at, last_seen_at, user_agent, address) " +
            "VALUES (@Id, @UserId, @CreatedAt, @ExpiresAt, @CreatedAt, @UserAgent, @Address)", row, t));

    public async Task<SessionRow?> FindAsync(Guid id, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<SessionRow>(new CommandDefinition($"SELECT {Columns} FROM sessions WHERE id = @id", new { id }, cancellationToken: ct));
    }

    /// <summary>The user's sessions that are neither revoked nor expired, newest first, after the <paramref name="before"/> cursor.</summary>
    public async Task<IReadOnlyList<SessionRow>> ListActiveAsync(Guid userId, long now, Guid? before, int limit, CancellationToken ct)
    {
        var sql = $"SELECT {Columns} FROM sessions WHERE user_id = @userId AND revoked_at IS NULL AND expires_at > @now";
        if (before is not null)
        {
            sql += " AND id < @before";
        }

        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<SessionRow>(new CommandDefinition(sql + " ORDER BY id DESC LIMIT @limit", new { userId, now, before, limit }, cancellationToken: ct))).AsList();
    }

    /// <summary>Revokes one of the user's active sessions; false when the user has no such active session.</summary>
    public Task<bool> RevokeAsync(Change change, Guid userId, Guid id, long now) =>
        change.Run(async (c, t) => await c.ExecuteAsync(
            "UPDATE sessions SET revoked_at = @now WHERE id = @id AND user_id = @userId AND revoked_at IS NULL",
            new { id, userId, now }, t) == 1);

    /// <summary>Revokes every active session of the user, except <paramref name="keep"/> when given; returns the ids revoked.</summary>
    public Task<IReadOnlyList<Guid>> RevokeAllAsync(Change change, Guid userId, Guid? keep, long now) =>
        change.Run(async (c, t) => (IReadOnlyList<Guid>)(await c.QueryAsync<Guid>(
            "UPDATE sessions SET revoked_at = @now WHERE user_id = @userId AND revoked_at IS NULL AND expires_at > @now " +
            "AND (@keep IS NULL OR id <> @keep) RETURNING id",
            new { userId, keep, now }, t)).AsList());

    /// <summary>Records that the session was used (informative; callers write it at most once a minute).</summary>
    public Task TouchAsync(Guid id, long now, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync("UPDATE sessions SET last_seen_at = @now WHERE id = @id", new { id, now }, t), ct);

    /// <summary>Deletes sessions that ended (expired or revoked) before <paramref name="cutoff"/>.</summary>
    public Task<int> DeleteEndedAsync(long cutoff, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync(
            "DELETE FROM sessions WHERE expires_at < @cutoff OR revoked_at < @cutoff", new { cutoff }, t), ct);
}

/// <summary>A sessions row as stored (times in epoch milliseconds).</summary>
public sealed class SessionRow
{
    public Guid Id { get; set; }
    public Guid UserId { get; set; }
    public long CreatedAt { get; set; }
    public long ExpiresAt { get; set; }
    public long LastSeenAt { get; set; }
    public long? RevokedAt { get; set; }
    public string? UserAgent { get; set; }
    public string? Address { get; set; }

    public bool IsActive(long now) => RevokedAt is null && ExpiresAt > now;

    public SessionInfo ToModel(Guid? current) => new(
        Id, DbTime.FromDb(CreatedAt), DbTime.FromDb(LastSeenAt), DbTime.FromDb(ExpiresAt), UserAgent, Address, Id == current);
}
