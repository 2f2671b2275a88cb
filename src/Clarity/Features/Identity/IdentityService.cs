using System.Text.RegularExpressions;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Tasks;
using Clarity.Hosting;
using Clarity.Hosting.Authorization;
using Clarity.Storage;

namespace Clarity.Features.Identity;

// Inside the namespace: BouncyCastle (through MailKit) has a root namespace named Org.
using Org = Clarity.Client.Org;

/// <summary>Who is signing in from where: kept with the session for the user's session list.</summary>
public sealed record SignInClient(string? UserAgent, string? Address)
{
    public static SignInClient From(HttpContext http) =>
        new(http.Request.Headers.UserAgent.ToString(), http.Connection.RemoteIpAddress?.ToString());
}

/// <summary>
/// First-run setup, sign-in, orgs, members and API keys. The endpoints, dashboard and CLI all come through here.
/// Changes to members and keys reach everything that depends on them: a removed member's API keys are revoked and
/// their streams end; a member whose role is lowered has their keys capped to it. Roles are judged by their
/// permissions (<see cref="RoleCatalog"/>), never by name.
/// </summary>
public sealed class IdentityService(
    IdentityStore store, InvitationStore invitations, SessionService sessions, PasswordHashing passwords, Changes changes, TimeProvider clock,
    SignInThrottle throttle, RoleCatalog roles)
{
    public async Task<(Org Org, User User)> SetupAsync(SetupRequest request, CancellationToken ct)
    {
        var slug = IdentityRules.Slug(request.Org, "org");
        var orgName = Check.Optional(request.OrgName, "orgName") ?? slug;
        var email = IdentityRules.Email(request.Email);
        var password = IdentityRules.Password(request.Password);
        var displayName = IdentityRules.DisplayName(request.DisplayName, email);

        // Answer a repeated setup before spending a password hash on it; the setup_state row still decides races.
        if (await store.IsSetUpAsync(ct))
        {
            throw SetupDone();
        }

        // Rate limit (SignInThrottle): 429 while this address must wait or hashing is saturated.
        using var attempt = await throttle.BeginSetupAsync(ct);
        var now = Now();
        var org = new Org(Guid.CreateVersion7(), slug, string.IsNullOrWhiteSpace(orgName) ? slug : orgName.Trim(), now);
        var user = new User(Guid.CreateVersion7(), email, displayName, now);
        var hash = passwords.Hash(password);
        var done = await changes.RunAsync(Actor.User(user.Id), async change =>
        {
            if (!await store.SetupAsync(change, org, user, hash))
            {
                return false;
            }

            change.Emit(new OrgCreated(org.Id, org.Slug, user.Id));
            change.Emit(new MemberJoined(org.Id, user.Id, BuiltInRoles.Owner));
            change.Audit(new AuditRecord(null, AuditActions.SetupCompleted, OrgTarget(org),
                After: new AuditFields().Add("org", org.Slug).Add("owner", user.Id).Personal("ownerEmail", user.Email)));
            change.Audit(OrgCreatedEntry(org, user.Id));
            return true;
        }, ct);
        if (!done)
        {
            throw SetupDone();
        }

        await attempt.SucceededAsync(ct);
        return (org, user);
    }

    private static ApiException SetupDone() => Problems.Conflict("setup-done", "Setup has already been completed. Sign in instead.");

    public async Task<LoginResult> LoginAsync(LoginRequest request, SignInClient client, CancellationToken ct)
    {
        var email = Check.Required(request.Email, "email", 320).ToLowerInvariant();
        var password = request.Password ?? throw Problems.Validation("password", "is required.");
        // Rate limit (SignInThrottle): 429 while this email or address must wait or hashing is saturated.
        using var attempt = await throttle.BeginSignInAsync(email, ct);
        var user = await store.FindCredentialsAsync(email, ct);
        if (user?.PasswordHash is null)
        {
            // Spend the same work as a real check so that timing does not reveal which emails exist.
            passwords.VerifyDummy(password);
            await AuditSignInFailedAsync(email, user?.Id, "unknown-email", ct);
            throw Problems.Unauthorized("Wrong email or password.");
        }

        var (ok, rehash) = passwords.Verify(user.PasswordHash, password);
        if (!ok)
        {
            await AuditSignInFailedAsync(email, user.Id, "wrong-password", ct);
            throw Problems.Unauthorized("Wrong email or password.");
        }

        if (rehash)
        {
            await store.UpdatePasswordHashAsync(user.Id, passwords.Hash(password), ct);
        }

        await attempt.SucceededAsync(ct);
        return await sessions.StartAsync(user.Id, email, client.UserAgent, client.Address, ct);
    }

    /// <summary>A refused sign-in writes only its audit entry, on the instance's chain, with the email tried (personal data).</summary>
    private Task AuditSignInFailedAsync(string email, Guid? userId, string reason, CancellationToken ct) =>
        changes.RunAsync(new Actor(ActorKind.User, null), change =>
        {
            change.Audit(new AuditRecord(null, AuditActions.SignInFailed, new AuditTarget("user", userId?.ToString(), email) { LabelClass = Hosting.Compliance.ClarityTaxonomy.Personal },
                After: new AuditFields().Personal("email", email).Add("reason", reason))
            {
                Succeeded = false,
            });
            return Task.CompletedTask;
        }, ct);

    private static AuditTarget OrgTarget(Org org) => new("org", org.Id, org.Slug);

    private static AuditRecord OrgCreatedEntry(Org org, Guid owner) =>
        new(org.Id, AuditActions.OrgCreated, OrgTarget(org), After: new AuditFields().Add("slug", org.Slug).Add("name", org.Name).Add("owner", owner));

    public async Task<Me> MeAsync(Caller caller, CancellationToken ct)
    {
        if (caller.ApiKey is { } key)
        {
            var org = await store.FindOrgAsync(key.OrgId, ct) ?? throw Problems.NotFound("Org");
            return new Me(null, [new OrgMembership(org.Slug, org.Name, key.Role)], new ApiKeyIdentity(key.Id, key.Name, key.Prefix, key.Role, org.Slug), []);
        }

        var user = await store.FindUserAsync(caller.UserId!.Value, ct) ?? throw Problems.Unauthorized("The user no longer exists.");
        return new Me(user, await store.ListMembershipsAsync(user.Id, ct), null,
            await invitations.ListPendingForEmailAsync(user.Email, DbTime.ToDb(clock.GetUtcNow()), ct));
    }

    public async Task<Org> CreateOrgAsync(Caller caller, CreateOrgRequest request, CancellationToken ct)
    {
        var slug = IdentityRules.Slug(request.Slug, "slug");
        var name = Check.Optional(request.Name, "name");
        var org = new Org(Guid.CreateVersion7(), slug, string.IsNullOrWhiteSpace(name) ? slug : name.Trim(), Now());
        var owner = caller.UserId!.Value;
        var created = await changes.RunAsync(caller.Actor, async change =>
        {
            if (!await store.CreateOrgAsync(change, org, owner))
            {
                return false;
            }

            change.Emit(new OrgCreated(org.Id, org.Slug, owner));
            change.Emit(new MemberJoined(org.Id, owner, BuiltInRoles.Owner));
            change.Audit(OrgCreatedEntry(org, owner));
            return true;
        }, ct);
        if (!created)
        {
            throw Problems.Conflict("slug-taken", $"An org with slug '{slug}' already exists.");
        }

        return org;
    }

    public async Task<Org> GetOrgAsync(OrgContext org, CancellationToken ct) =>
        await store.FindOrgAsync(org.OrgId, ct) ?? throw Problems.NotFound("Org");

    public async Task<MemberPage> ListMembersAsync(OrgContext org, string? cursor, int? limit, CancellationToken ct)
    {
        var take = Check.Range(limit, "limit", 1, 200, 100);
        var rows = await store.ListMembersAsync(org.OrgId, Cursor.DecodeText(cursor), take + 1, ct);
        var items = rows.Take(take).ToList();
        return new MemberPage(items, rows.Count > take ? Cursor.EncodeText(items[^1].Email) : null);
    }

    public async Task<MemberRoleChange> ChangeRoleAsync(OrgContext org, Guid userId, ChangeRoleRequest request, CancellationToken ct)
    {
        var role = IdentityRules.Role(request.Role, org, await roles.ForOrgAsync(org.OrgId, ct));
        var result = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var result = await store.ChangeMemberAsync(change, org.OrgId, userId, role, org.Caller.UserId, org.Role, DbTime.FromDb(change.Now));
            if (result.Status == IdentityStore.MemberChangeStatus.Done)
            {
                change.Emit(new MemberRoleChanged(org.OrgId, userId, result.TargetRole!, role));
                Announce(change, org.OrgId, result.ApiKeys, revoked: false);
                change.Audit(new AuditRecord(org.OrgId, AuditActions.MemberRoleChanged, new AuditTarget("member", userId, result.Member?.Email) { LabelClass = Hosting.Compliance.ClarityTaxonomy.Personal },
                    Before: new AuditFields().Add("role", result.TargetRole), After: new AuditFields().Add("role", role)));
                AuditKeys(change, org.OrgId, result.ApiKeys, AuditActions.ApiKeyCapped, "role lowered");
            }

            return result;
        }, ct);
        Ensure(result, org, "change");
        return new MemberRoleChange(result.Member!, result.ApiKeys);
    }

    public async Task<MemberRemoval> RemoveMemberAsync(OrgContext org, Guid userId, CancellationToken ct)
    {
        var result = await RemoveAsync(org.Caller.Actor, org.OrgId, userId, org.Caller.UserId, org.Role, ct);
        Ensure(result, org, "remove");
        return new MemberRemoval(userId, result.ApiKeys);
    }

    /// <summary>The signed-in user leaves the org, unless they are its last owner. Their API keys in the org are revoked.</summary>
    public async Task<MemberRemoval> LeaveAsync(Caller caller, string slug, CancellationToken ct)
    {
        var userId = caller.UserId ?? throw Problems.Forbidden("An API key cannot leave an org; revoke it instead.");
        var org = await store.FindOrgBySlugAsync(slug, ct) ?? throw Problems.NotFound($"Org '{slug}'");
        var result = await RemoveAsync(caller.Actor, org.Id, userId, null, null, ct);
        switch (result.Status)
        {
            case IdentityStore.MemberChangeStatus.NotFound:
                throw Problems.NotFound($"Org '{slug}'");
            case IdentityStore.MemberChangeStatus.LastOwner:
                throw Problems.Conflict("last-owner", "You are the org's last owner: make someone else an owner before you leave.");
        }

        return new MemberRemoval(userId, result.ApiKeys);
    }

    private static void Ensure(IdentityStore.MemberChangeResult result, OrgContext org, string verb)
    {
        switch (result.Status)
        {
            case IdentityStore.MemberChangeStatus.NotFound:
                throw Problems.NotFound("Member");
            case IdentityStore.MemberChangeStatus.LastOwner:
                throw Problems.Conflict("last-owner", "An org must keep at least one owner (a member whose role holds org:admin).");
            case IdentityStore.MemberChangeStatus.Outranked:
                throw Problems.Forbidden($"Your role '{org.Role}' cannot {verb} a member whose role is '{result.TargetRole}', nor grant a role that holds permissions yours does not.");
        }
    }

    /// <summary>Removes a member (or lets them leave) in one unit of work with its events: the membership ends, and their keys are revoked.</summary>
    private Task<IdentityStore.MemberChangeResult> RemoveAsync(Actor actor, Guid orgId, Guid userId, Guid? actorUserId, OrgRole? actorRole, CancellationToken ct) =>
        changes.RunAsync(actor, async change =>
        {
            var result = await store.ChangeMemberAsync(change, orgId, userId, null, actorUserId, actorRole, DbTime.FromDb(change.Now));
            if (result.Status == IdentityStore.MemberChangeStatus.Done)
            {
                change.Emit(new MembershipEnded(orgId, userId));
                Announce(change, orgId, result.ApiKeys, revoked: true);
                var left = actor == Actor.User(userId);
                change.Audit(new AuditRecord(orgId, left ? AuditActions.MemberLeft : AuditActions.MemberRemoved, new AuditTarget("member", userId),
                    Before: new AuditFields().Add("role", result.TargetRole), After: null));
                AuditKeys(change, orgId, result.ApiKeys, AuditActions.ApiKeyRevoked, left ? "member left" : "member removed");
            }

            return result;
        }, ct);

    /// <summary>An entry per key that a member change revoked or capped, with the key's role after it.</summary>
    private static void AuditKeys(Change change, Guid orgId, IReadOnlyList<ApiKeyInfo> keys, string action, string reason)
    {
        foreach (var key in keys)
        {
            change.Audit(new AuditRecord(orgId, action, new AuditTarget("apikey", key.Id, key.Name),
                After: new AuditFields().Add("role", key.Role).Add("revoked", key.RevokedAt is not null).Add("reason", reason)));
        }
    }

    /// <summary>Tells every node about keys that a member change revoked or capped (caches forget them; revoked keys' streams end).</summary>
    private static void Announce(Change change, Guid orgId, IReadOnlyList<ApiKeyInfo> keys, bool revoked)
    {
        if (keys.Count == 0)
        {
            return;
        }

        if (revoked)
        {
            foreach (var key in keys)
            {
                change.Emit(new ApiKeyRevoked(orgId, key.Id));
            }
        }
        else
        {
            change.Emit(new ApiKeysChanged(orgId, [.. keys.Select(k => k.Id)]));
        }
    }

    public async Task<CreatedApiKey> CreateApiKeyAsync(OrgContext org, CreateApiKeyRequest request, CancellationToken ct)
    {
        var name = Check.Required(request.Name, "name", 100);
        var role = IdentityRules.Role(request.Role, org, await roles.ForOrgAsync(org.OrgId, ct));
        var (secret, prefix) = ApiKeySecret.Generate();
        var key = new CreatedApiKey(Guid.CreateVersion7(), name, prefix, role, Now(), secret);

        // A key made by a key answers to the person behind that key, so removing that person reaches both.
        var responsible = org.Caller.UserId ?? org.Caller.ApiKey?.CreatedBy;
        await changes.RunAsync(org.Caller.Actor, async change =>
        {
            await store.InsertApiKeyAsync(change, org.OrgId, key, ApiKeySecret.Hash(secret), responsible);
            change.Emit(new ApiKeyCreated(org.OrgId, key.Id, key.Name, key.Role));
            // Never the secret nor its hash: the prefix is how people recognise a key.
            change.Audit(new AuditRecord(org.OrgId, AuditActions.ApiKeyCreated, new AuditTarget("apikey", key.Id, key.Name),
                After: new AuditFields().Add("name", key.Name).Add("prefix", key.Prefix).Add("role", key.Role).Add("createdBy", responsible)));
        }, ct);
        return key;
    }

    public async Task<ApiKeyPage> ListApiKeysAsync(OrgContext org, string? cursor, int? limit, CancellationToken ct)
    {
        var take = Check.Range(limit, "limit", 1, 200, 100);
        var rows = await store.ListApiKeysAsync(org.OrgId, Cursor.Decode(cursor), take + 1, ct);
        var items = rows.Take(take).ToList();
        return new ApiKeyPage(items, rows.Count > take ? Cursor.Encode(items[^1].Id) : null);
    }

    public async Task RevokeApiKeyAsync(OrgContext org, Guid id, CancellationToken ct)
    {
        var (status, key) = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var revoked = await store.RevokeApiKeyAsync(change, org.OrgId, id, org.Role, DbTime.FromDb(change.Now));
            if (revoked.Status == IdentityStore.RevokeStatus.Revoked)
            {
                change.Emit(new ApiKeyRevoked(org.OrgId, id));
                change.Audit(new AuditRecord(org.OrgId, AuditActions.ApiKeyRevoked, new AuditTarget("apikey", id, revoked.Key?.Name),
                    Before: new AuditFields().Add("name", revoked.Key?.Name).Add("prefix", revoked.Key?.Prefix).Add("role", revoked.Key?.Role),
                    After: new AuditFields().Add("revoked", true)));
            }

            return revoked;
        }, ct);
        switch (status)
        {
            case IdentityStore.RevokeStatus.NotFound:
                throw Problems.NotFound("API key");
            case IdentityStore.RevokeStatus.Outranked:
                throw Problems.Forbidden($"Your role '{org.Role}' cannot revoke the key '{key!.Name}': it, or the member who created it, outranks you.");
        }

    }

    // Stored times have millisecond precision; answer with the same value that a later read returns.
    private DateTimeOffset Now() => DbTime.FromDb(DbTime.ToDb(clock.GetUtcNow()));
}

/// <summary>The validation rules of identity input, shared by setup, orgs, members, invitations and keys.</summary>
public static partial class IdentityRules
{
    [GeneratedRegex(@"^[a-z0-9][a-z0-9-]{1,62}\z")]
    private static partial Regex SlugPattern();

    public static string Slug(string? slug, string field)
    {
        var value = Check.Required(slug, field, 63);
        if (!SlugPattern().IsMatch(value))
        {
            throw Problems.Validation(field, "must be 2-63 characters of lowercase letters, digits and '-', starting with a letter or digit.");
        }

        return value;
    }

    public static string Email(string? email)
    {
        var value = Check.Required(email, "email", 320).ToLowerInvariant();
        var at = value.IndexOf('@', StringComparison.Ordinal);
        if (at <= 0 || at == value.Length - 1 || value.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw Problems.Validation("email", "must be an email address.");
        }

        return value;
    }

    public static string Password(string? password)
    {
        if (string.IsNullOrEmpty(password))
        {
            throw Problems.Validation("password", "is required.");
        }

        if (password.Length < 10 || password.Length > 200)
        {
            throw Problems.Validation("password", "must be 10 to 200 characters long.");
        }

        return password;
    }

    /// <summary>A role of the org that the caller may hand out: one whose permissions their own role holds.</summary>
    public static string Role(string? role, OrgContext org, RoleSet roles)
    {
        var value = Check.Required(role, "role", 64).ToLowerInvariant();
        var found = roles.Find(value) ?? throw Problems.Validation("role", $"must be one of {string.Join(", ", roles.All.Select(r => r.Name))}.");
        if (!org.Role.Includes(found))
        {
            throw Problems.Forbidden($"Your role '{org.Role}' cannot grant the '{value}' role: it holds permissions yours does not.");
        }

        return found.Name;
    }

    public static string DisplayName(string? displayName, string email) =>
        string.IsNullOrWhiteSpace(displayName) ? email[..email.IndexOf('@', StringComparison.Ordinal)] : Check.Required(displayName, "displayName", 100);
}
