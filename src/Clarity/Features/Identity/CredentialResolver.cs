using System.Collections.Concurrent;
using Clarity.Hosting;

namespace Clarity.Features.Identity;

/// <summary>Where a request's credential came from. Cookie-borne credentials get the cross-site checks.</summary>
public enum CredentialSource
{
    Bearer,
    Cookie,
}

/// <summary>
/// Turns a credential (an API key, or a sign-in token and its server-side session) into the <see cref="Caller"/>.
/// The API, the dashboard and the stream all authenticate through this one class.
/// </summary>
public sealed class CredentialResolver(ApiKeyCache apiKeys, SessionService sessions, TokenService tokens, IdentityStore store, TimeProvider clock)
{
    public const int MaxCredentialLength = 4096;
    private static readonly TimeSpan s_touchEvery = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<Guid, long> _keyTouched = new();

    /// <summary>The caller the credential names; a 401 problem when it names nobody (unknown, revoked, expired or signed out).</summary>
    public async Task<Caller> ResolveAsync(string credential, CredentialSource source, CancellationToken ct)
    {
        if (credential.Length > MaxCredentialLength)
        {
            throw Problems.Unauthorized("The credential is not valid.");
        }

        if (ApiKeySecret.LooksLikeKey(credential))
        {
            if (source == CredentialSource.Cookie)
            {
                // The cookie carries sign-in sessions only: an API key planted in it (by a sibling site, say) is refused.
                throw Problems.Unauthorized("An API key is sent as 'Authorization: Bearer <key>', never in the session cookie.");
            }

            var key = await apiKeys.FindAsync(ApiKeySecret.Hash(credential), ct) ?? throw Problems.Unauthorized("The API key is not valid.");
            if (key.Revoked)
            {
                throw Problems.Unauthorized("The API key has been revoked.");
            }

            await TouchAsync(key);
            return new Caller(null, key) { Source = source };
        }

        var claims = await tokens.ValidateAsync(credential) ?? throw Problems.Unauthorized("The token is invalid or has expired. Sign in again.");
        if (await sessions.FindActiveAsync(claims.SessionId, claims.UserId, ct) is null)
        {
            throw Problems.Unauthorized("The session has ended (signed out, or revoked from another device). Sign in again.");
        }

        return new Caller(claims.UserId, null) { SessionId = claims.SessionId, Source = source };
    }

    /// <summary>Like <see cref="ResolveAsync"/>, but null instead of a 401.</summary>
    public async Task<Caller?> TryResolveAsync(string credential, CredentialSource source, CancellationToken ct)
    {
        try
        {
            return await ResolveAsync(credential, source, ct);
        }
        catch (ApiException ex) when (ex.Status == StatusCodes.Status401Unauthorized)
        {
            return null;
        }
    }

    private async Task TouchAsync(ApiKeyPrincipal key)
    {
        // last_used_at is informative: record it at most once a minute per key so it never costs a write per request.
        var now = clock.GetUtcNow();
        var last = _keyTouched.GetOrAdd(key.Id, _ => key.LastUsedAt ?? 0);
        if (now.ToUnixTimeMilliseconds() - last < s_touchEvery.TotalMilliseconds)
        {
            return;
        }

        _keyTouched[key.Id] = now.ToUnixTimeMilliseconds();
        await store.TouchApiKeyAsync(key.Id, now, CancellationToken.None);
    }
}
