using System.Collections.Concurrent;
using Clarity.Features.Identity;

namespace Clarity.Hosting.Authorization;

// Inside the namespace: BouncyCastle (through MailKit) has a root namespace named Org.
using Org = Clarity.Client.Org;

/// <summary>
/// Turns (caller, org) into the caller's role and permissions in that org: the API (<see cref="AccessMiddleware"/>),
/// the dashboard (<see cref="Dashboard.DashboardAccess"/>) and the stream's periodic re-check all ask here, so one rule
/// decides everywhere. A user holds the role of their membership; an API key holds its own role, in its own org only.
/// The role's permissions come from <see cref="RoleCatalog"/>. Null means the caller has no access to the org, which
/// callers answer exactly like a missing org (404).
/// </summary>
public sealed class AccessResolver(IdentityStore store, RoleCatalog roles, SessionService sessions)
{
    /// <summary>How a stream that failed its re-check ends: the credential no longer signs anyone in.</summary>
    public const string CredentialExpired = "credential-expired";

    /// <summary>How a stream that failed its re-check ends: the key was revoked.</summary>
    public const string CredentialRevoked = "credential-revoked";

    /// <summary>How a stream that failed its re-check ends: the caller lost the org or the permission.</summary>
    public const string AccessRevoked = "access-revoked";

    private readonly ConcurrentDictionary<string, Org> _orgsBySlug = new(StringComparer.Ordinal);

    /// <summary>The caller's access to the org named <paramref name="slug"/>; null when the org does not exist or the caller has no role in it.</summary>
    public async Task<OrgContext?> ResolveAsync(Caller caller, string slug, CancellationToken ct) =>
        await FindOrgAsync(slug, ct) is { } org ? await ResolveAsync(caller, org.Id, org.Slug, ct) : null;

    /// <summary>The caller's access to an org already found; null when the caller has no role in it.</summary>
    public async Task<OrgContext?> ResolveAsync(Caller caller, Guid orgId, string slug, CancellationToken ct)
    {
        var name = caller.ApiKey is { } key
            ? (key.OrgId == orgId ? key.Role : null)
            : await store.FindRoleAsync(orgId, caller.UserId!.Value, ct);
        if (name is null)
        {
            return null;
        }

        var role = (await roles.ForOrgAsync(orgId, ct)).Resolve(name);
        return new OrgContext(orgId, slug, role, caller);
    }

    /// <summary>
    /// Whether a caller authorised earlier (a stream, which outlives its request) still holds
    /// <paramref name="permission"/> in the org: null when it does, else why not (<see cref="CredentialExpired"/>,
    /// <see cref="CredentialRevoked"/> or <see cref="AccessRevoked"/>). A user's sign-in session must still be active;
    /// an API key is read again, so a revoked key or a capped role counts.
    /// </summary>
    public async Task<string?> RecheckAsync(OrgContext granted, string permission, CancellationToken ct)
    {
        var caller = granted.Caller;
        if (caller.ApiKey is { } key)
        {
            if (await store.FindApiKeyByIdAsync(key.Id, ct) is not { Revoked: false } current)
            {
                return CredentialRevoked;
            }

            caller = caller with { ApiKey = current };
        }
        else if (caller.SessionId is not { } sessionId || await sessions.FindActiveAsync(sessionId, caller.UserId!.Value, ct) is null)
        {
            return CredentialExpired;
        }

        return await ResolveAsync(caller, granted.OrgId, granted.Slug, ct) is { } now && now.Can(permission) ? null : AccessRevoked;
    }

    private async Task<Org?> FindOrgAsync(string slug, CancellationToken ct)
    {
        if (_orgsBySlug.TryGetValue(slug, out var cached))
        {
            return cached;
        }

        var org = await store.FindOrgBySlugAsync(slug, ct);
        if (org is not null)
        {
            // Slugs never change and orgs are not deleted yet, so a found org can be cached for good.
            _orgsBySlug[slug] = org;
        }

        return org;
    }
}
