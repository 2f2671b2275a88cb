using System.Collections.Concurrent;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Tasks;
using Clarity.Hosting;
using Clarity.Storage;

namespace Clarity.Features.Identity;

/// <summary>
/// Server-side sign-in sessions: one is started at each sign-in, and its id travels in the token. Signing out revokes
/// it; "sign out everywhere" revokes all of a user's sessions. A revoked session's token stops working on every node
/// at once (the revocation is published on the event bus, and each node's cache forgets the session).
/// </summary>
public sealed class SessionService : IDisposable
{
    private static readonly TimeSpan s_touchEvery = TimeSpan.FromMinutes(1);
    private readonly RevocableCache<Guid, SessionRow> _cache;
    private readonly ConcurrentDictionary<Guid, long> _touched = new();
    private readonly SessionStore _store;
    private readonly TokenService _tokens;
    private readonly Changes _changes;
    private readonly TimeProvider _clock;
    private readonly IDisposable _subscription;

    public SessionService(SessionStore store, TokenService tokens, Changes changes, IEventBus events, TimeProvider clock)
    {
        _store = store;
        _tokens = tokens;
        _changes = changes;
        _clock = clock;
        _cache = new RevocableCache<Guid, SessionRow>(clock, TimeSpan.FromSeconds(5));
        _subscription = events.Subscribe(e =>
        {
            if (e is SessionsRevoked revoked)
            {
                _cache.Evict(s => revoked.SessionIds.Contains(s.Id));
            }
        });
    }

    /// <summary>Starts a session for the user and returns its token. The user agent and address are kept for the user's session list.</summary>
    public async Task<LoginResult> StartAsync(Guid userId, string email, string? userAgent, string? address, CancellationToken ct)
    {
        var now = DbTime.FromDb(DbTime.ToDb(_clock.GetUtcNow()));
        var expires = now + _tokens.Lifetime;
        var row = new SessionRow
        {
            Id = Guid.CreateVersion7(),
            UserId = userId,
            CreatedAt = DbTime.ToDb(now),
            ExpiresAt = DbTime.ToDb(expires),
            LastSeenAt = DbTime.ToDb(now),
            UserAgent = Truncate(userAgent, 300),
            Address = Truncate(address, 64),
        };
        await _changes.RunAsync(Actor.User(userId), change =>
        {
            change.Audit(new AuditRecord(null, AuditActions.SignedIn, UserTarget(userId, email), After: new AuditFields().Add("session", row.Id)));
            return _store.CreateAsync(change, row);
        }, ct);
        return new LoginResult(_tokens.Issue(userId, row.Id, expires), expires);
    }

    /// <summary>The session when it is still active and belongs to <paramref name="userId"/>; null otherwise.</summary>
    public async Task<SessionRow?> FindActiveAsync(Guid sessionId, Guid userId, CancellationToken ct)
    {
        var row = await _cache.GetAsync(sessionId, _store.FindAsync, ct);
        var now = _clock.GetUtcNow();
        if (row is null || row.UserId != userId || !row.IsActive(DbTime.ToDb(now)))
        {
            return null;
        }

        // last_seen_at is informative: written at most once a minute per session, never a write per request.
        var nowMs = now.ToUnixTimeMilliseconds();
        var last = _touched.GetOrAdd(sessionId, _ => row.LastSeenAt);
        if (nowMs - last >= s_touchEvery.TotalMilliseconds)
        {
            _touched[sessionId] = nowMs;
            await _store.TouchAsync(sessionId, nowMs, CancellationToken.None);
        }

        return row;
    }

    public async Task<SessionPage> ListAsync(Caller caller, string? cursor, int? limit, CancellationToken ct)
    {
        var userId = caller.UserId ?? throw Problems.Forbidden("Sessions belong to signed-in users, not API keys.");
        var take = Check.Range(limit, "limit", 1, 200, 50);
        var rows = await _store.ListActiveAsync(userId, DbTime.ToDb(_clock.GetUtcNow()), Cursor.Decode(cursor), take + 1, ct);
        var items = rows.Take(take).Select(r => r.ToModel(caller.SessionId)).ToList();
        return new SessionPage(items, rows.Count > take ? Cursor.Encode(items[^1].Id) : null);
    }

    /// <summary>Ends one of the user's sessions, on every node. False when the user has no such active session.</summary>
    public async Task<bool> RevokeAsync(Guid userId, Guid sessionId, CancellationToken ct)
    {
        return await _changes.RunAsync(Actor.User(userId), async change =>
        {
            if (!await _store.RevokeAsync(change, userId, sessionId, change.Now))
            {
                return false;
            }

            change.Emit(new SessionsRevoked(userId, [sessionId]));
            change.Audit(new AuditRecord(null, AuditActions.SignedOut, new AuditTarget("session", sessionId), After: new AuditFields().Add("revoked", true)));
            return true;
        }, ct);
    }

    /// <summary>Signs the user out everywhere (keeping <paramref name="keep"/> when given); returns how many sessions ended.</summary>
    public async Task<int> RevokeAllAsync(Guid userId, Guid? keep, CancellationToken ct)
    {
        return await _changes.RunAsync(Actor.User(userId), async change =>
        {
            var revoked = await _store.RevokeAllAsync(change, userId, keep, change.Now);
            if (revoked.Count > 0)
            {
                change.Emit(new SessionsRevoked(userId, revoked));
                change.Audit(new AuditRecord(null, AuditActions.SignedOutEverywhere, new AuditTarget("user", userId),
                    After: new AuditFields().Add("sessions", revoked.Count).Add("keptCurrent", keep is not null)));
            }

            return revoked.Count;
        }, ct);
    }

    public void Dispose() => _subscription.Dispose();

    private static AuditTarget UserTarget(Guid userId, string email) =>
        new("user", userId, email) { LabelClass = Hosting.Compliance.ClarityTaxonomy.Personal };

    private static string? Truncate(string? value, int max) =>
        string.IsNullOrWhiteSpace(value) ? null : value.Length <= max ? value : value[..max];
}

/// <summary>Deletes sessions a week after they ended (checked every ten minutes), so the table holds live sessions and recent history only.</summary>
public sealed class SessionSweep(SessionStore store) : PeriodicSweep(TimeSpan.FromMinutes(10))
{
    private static readonly TimeSpan s_keepEnded = TimeSpan.FromDays(7);

    public override string Name => "sessions";

    protected override Task<int> RunAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        store.DeleteEndedAsync(DbTime.ToDb(now - s_keepEnded), cancellationToken);
}
