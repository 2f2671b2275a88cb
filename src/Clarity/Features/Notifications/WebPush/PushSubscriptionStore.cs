using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Notifications.WebPush;

/// <summary>SQL for web push subscriptions (<c>push_subscriptions</c>). The same SQL serves both backends.</summary>
public sealed class PushSubscriptionStore(Database db)
{
    private const string Columns =
        "id AS Id, user_id AS UserId, endpoint AS Endpoint, p256dh AS P256dh, auth AS Auth, user_agent AS UserAgent, " +
        "created_at AS CreatedAt, last_success_at AS LastSuccessAt, failure_count AS FailureCount";

    /// <summary>
    /// Saves a subscription of the user. The same endpoint again updates the user's row (new keys, a reset failure
    /// count; <c>Created</c> is false). A new one is refused (null) when the user already has <paramref name="max"/>;
    /// otherwise it is inserted, and the endpoint is taken from any other user who had it (a device notifies the person
    /// who last turned notifications on there). The user's row lock keeps the count honest under concurrency.
    /// </summary>
    public Task<(PushSubscriptionRow Row, bool Created)?> SaveAsync(Change change, PushSubscriptionRow row, int max) =>
        change.Run<(PushSubscriptionRow, bool)?>(async (c, t) =>
        {
            await c.ExecuteScalarAsync<Guid?>($"SELECT id FROM users WHERE id = @UserId {change.Dialect.ForUpdate}", new { row.UserId }, t);
            var existing = await c.QuerySingleOrDefaultAsync<PushSubscriptionRow>(
                $"SELECT {Columns} FROM push_subscriptions WHERE user_id = @UserId AND endpoint = @Endpoint", new { row.UserId, row.Endpoint }, t);
            if (existing is not null)
            {
                await c.ExecuteAsync(
                    "UPDATE push_subscriptions SET p256dh = @P256dh, auth = @Auth, user_agent = @UserAgent, failure_count = 0 WHERE id = @Id",
                    new { existing.Id, row.P256dh, row.Auth, row.UserAgent }, t);
                existing.P256dh = row.P256dh;
                existing.Auth = row.Auth;
                existing.UserAgent = row.UserAgent;
                existing.FailureCount = 0;
                return (existing, false);
            }

            if (await c.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM push_subscriptions WHERE user_id = @UserId", new { row.UserId }, t) >= max)
            {
                return null;
            }

            await c.ExecuteAsync("DELETE FROM push_subscriptions WHERE endpoint = @Endpoint AND user_id <> @UserId", new { row.Endpoint, row.UserId }, t);
            await c.ExecuteAsync(
                "INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, user_agent, created_at, failure_count) " +
                "VALUES (@Id, @UserId, @Endpoint, @P256dh, @Auth, @UserAgent, @CreatedAt, 0)", row, t);
            return (row, true);
        });

    /// <summary>Every subscription of the user, newest first.</summary>
    public async Task<IReadOnlyList<PushSubscriptionRow>> ForUserAsync(Guid userId, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await c.QueryAsync<PushSubscriptionRow>(new CommandDefinition(
            $"SELECT {Columns} FROM push_subscriptions WHERE user_id = @userId ORDER BY id DESC", new { userId }, cancellationToken: ct))).AsList();
    }

    public async Task<PushSubscriptionRow?> GetAsync(Guid userId, Guid id, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<PushSubscriptionRow>(new CommandDefinition(
            $"SELECT {Columns} FROM push_subscriptions WHERE user_id = @userId AND id = @id", new { userId, id }, cancellationToken: ct));
    }

    /// <summary>Deletes one subscription of the user and returns it; null when the user has none with that id.</summary>
    public Task<PushSubscriptionRow?> DeleteAsync(Change change, Guid userId, Guid id) =>
        change.Run((c, t) => c.QuerySingleOrDefaultAsync<PushSubscriptionRow?>(
            $"DELETE FROM push_subscriptions WHERE user_id = @userId AND id = @id RETURNING {Columns}", new { userId, id }, t));

    /// <summary>The push service said the subscription is gone (404/410): it is deleted.</summary>
    public Task DeleteGoneAsync(Guid id, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync("DELETE FROM push_subscriptions WHERE id = @id", new { id }, t), ct);

    /// <summary>A send succeeded: the failure count starts again.</summary>
    public Task RecordSuccessAsync(Guid id, long now, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync(
            "UPDATE push_subscriptions SET last_success_at = @now, failure_count = 0 WHERE id = @id", new { id, now }, t), ct);

    /// <summary>A send failed: counted, and the subscription is deleted once <paramref name="dropAfter"/> failures follow one another. True when deleted.</summary>
    public Task<bool> RecordFailureAsync(Guid id, int dropAfter, CancellationToken ct) =>
        db.WriteAsync(async (c, t) =>
        {
            await c.ExecuteAsync("UPDATE push_subscriptions SET failure_count = failure_count + 1 WHERE id = @id", new { id }, t);
            return await c.ExecuteAsync("DELETE FROM push_subscriptions WHERE id = @id AND failure_count >= @dropAfter", new { id, dropAfter }, t) == 1;
        }, ct);
}
