using System.Text.RegularExpressions;
using Clarity.Events;
using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Identity;

/// <summary>First-run setup, sign-in, orgs, members and API keys. The endpoints, dashboard and CLI all come through here.</summary>
public sealed partial class IdentityService(IdentityStore store, TokenService tokens, ApiKeyCache apiKeys, IEventBus events, IOptions<ClarityOptions> options, TimeProvider clock)
{
    private readonly PasswordHashing _passwords = new(options.Value.Auth.PasswordIterations);

    // A real hash to verify against when the email is unknown, so both paths cost the same.
    private readonly Lazy<string> _dummyHash = new(() => new PasswordHashing(options.Value.Auth.PasswordIterations).Hash(Guid.NewGuid().ToString()));

    [GeneratedRegex(@"^[a-z0-9][a-z0-9-]{1,62}\z")]
    private static partial Regex SlugPattern();

    public async Task<(Org Org, User User)> SetupAsync(SetupRequest request, CancellationToken ct)
    {
        var slug = ValidSlug(request.Org, "org");
        var orgName = Check.Optional(request.OrgName, "orgName") ?? slug;
        var email = ValidEmail(request.Email);
        var password = ValidPassword(request.Password);
        var now = Now();
        var org = new Org(Guid.CreateVersion7(), slug, string.IsNullOrWhiteSpace(orgName) ? slug : orgName.Trim(), now);
        var user = new User(Guid.CreateVersion7(), email, DisplayNameFor(request.DisplayName, email), now);
        if (!await store.SetupAsync(org, user, _passwords.Hash(password), ct))
        {
            throw Problems.Conflict("setup-done", "Setup has already been completed. Sign in instead.");
        }

        return (org, user);
    }

    public async Task<(string Token, DateTimeOffset ExpiresAt)> LoginAsync(LoginRequest request, CancellationToken ct)
    {
        var email = Check.Required(request.Email, "email", 320).ToLowerInvariant();
        var password = request.Password ?? throw Problems.Validation("password", "is required.");
        var user = await store.FindCredentialsAsync(email, ct);
        if (user?.PasswordHash is null)
        {
            // Spend the same work as a real check so that timing does not reveal which emails exist.
            _passwords.Verify(_dummyHash.Value, password);
            throw Problems.Unauthorized("Wrong email or password.");
        }

        var (ok, rehash) = _passwords.Verify(user.PasswordHash, password);
        if (!ok)
        {
            throw Problems.Unauthorized("Wrong email or password.");
        }

        if (rehash)
        {
            await store.UpdatePasswordHashAsync(user.Id, _passwords.Hash(password), ct);
        }

        return tokens.Issue(user.Id);
    }

    public async Task<Me> MeAsync(Caller caller, CancellationToken ct)
    {
        if (caller.ApiKey is { } key)
        {
            var org = await store.FindOrgAsync(key.OrgId, ct) ?? throw Problems.NotFound("Org");
            return new Me(null, [new OrgMembership(org.Slug, org.Name, key.Role)], new ApiKeyIdentity(key.Id, key.Name, key.Prefix, key.Role, org.Slug));
        }

        var user = await store.FindUserAsync(caller.UserId!.Value, ct) ?? throw Problems.Unauthorized("The user no longer exists.");
        return new Me(user, await store.ListMembershipsAsync(user.Id, ct), null);
    }

    public async Task<Org> CreateOrgAsync(Caller caller, CreateOrgRequest request, CancellationToken ct)
    {
        var slug = ValidSlug(request.Slug, "slug");
        var name = Check.Optional(request.Name, "name");
        var org = new Org(Guid.CreateVersion7(), slug, string.IsNullOrWhiteSpace(name) ? slug : name.Trim(), Now());
        if (!await store.CreateOrgAsync(org, caller.UserId!.Value, ct))
        {
            throw Problems.Conflict("slug-taken", $"An org with slug '{slug}' already exists.");
        }

        return org;
    }

    public async Task<Org> GetOrgAsync(OrgContext org, CancellationToken ct) =>
        await store.FindOrgAsync(org.OrgId, ct) ?? throw Problems.NotFound("Org");

    public Task<IReadOnlyList<Member>> ListMembersAsync(OrgContext org, CancellationToken ct) => store.ListMembersAsync(org.OrgId, ct);

    public async Task<Member> AddMemberAsync(OrgContext org, AddMemberRequest request, CancellationToken ct)
    {
        var email = ValidEmail(request.Email);
        var role = ValidRole(request.Role, org);
        var hash = request.Password is null ? null : _passwords.Hash(ValidPassword(request.Password));
        var user = new User(Guid.CreateVersion7(), email, DisplayNameFor(request.DisplayName, email), Now());
        var result = await store.AddMemberAsync(org.OrgId, user, hash, role, ct);
        return result switch
        {
            IdentityStore.AddMemberResult.AlreadyMember => throw Problems.Conflict("already-member", $"{email} is already a member of this org."),
            IdentityStore.AddMemberResult.PasswordRequired => throw Problems.Validation("password", "is required to create a new user."),
            _ => (await store.ListMembersAsync(org.OrgId, ct)).First(m => m.Email == email),
        };
    }

    public async Task<Member> ChangeRoleAsync(OrgContext org, Guid userId, ChangeRoleRequest request, CancellationToken ct)
    {
        var role = ValidRole(request.Role, org);
        var target = await store.FindMemberAsync(org.OrgId, userId, ct) ?? throw Problems.NotFound("Member");
        if (!Roles.CanGrant(org.Role, target.Role))
        {
            throw Problems.Forbidden($"Your role '{org.Role}' cannot change a member whose role is '{target.Role}'.");
        }

        await ApplyAsync(await store.ChangeMemberAsync(org.OrgId, userId, role, ct));
        return await store.FindMemberAsync(org.OrgId, userId, ct) ?? throw Problems.NotFound("Member");
    }

    public async Task RemoveMemberAsync(OrgContext org, Guid userId, CancellationToken ct)
    {
        var target = await store.FindMemberAsync(org.OrgId, userId, ct) ?? throw Problems.NotFound("Member");
        if (!Roles.CanGrant(org.Role, target.Role))
        {
            throw Problems.Forbidden($"Your role '{org.Role}' cannot remove a member whose role is '{target.Role}'.");
        }

        await ApplyAsync(await store.ChangeMemberAsync(org.OrgId, userId, null, ct));
    }

    private static Task ApplyAsync(IdentityStore.MemberChange change) => change switch
    {
        IdentityStore.MemberChange.NotFound => throw Problems.NotFound("Member"),
        IdentityStore.MemberChange.LastOwner => throw Problems.Conflict("last-owner", "An org must keep at least one owner."),
        _ => Task.CompletedTask,
    };

    public async Task<CreatedApiKey> CreateApiKeyAsync(OrgContext org, CreateApiKeyRequest request, CancellationToken ct)
    {
        var name = Check.Required(request.Name, "name", 100);
        var role = ValidRole(request.Role, org);
        var (secret, prefix) = ApiKeySecret.Generate();
        var key = new CreatedApiKey(Guid.CreateVersion7(), name, prefix, role, Now(), secret);
        await store.InsertApiKeyAsync(org.OrgId, key, ApiKeySecret.Hash(secret), org.Caller.UserId, ct);
        return key;
    }

    public Task<IReadOnlyList<ApiKeyInfo>> ListApiKeysAsync(OrgContext org, CancellationToken ct) => store.ListApiKeysAsync(org.OrgId, ct);

    public async Task RevokeApiKeyAsync(OrgContext org, Guid id, CancellationToken ct)
    {
        if (!await store.RevokeApiKeyAsync(org.OrgId, id, Now(), ct))
        {
            throw Problems.NotFound("API key");
        }

        apiKeys.Evict(id);
        events.Publish(new ApiKeyRevoked(org.OrgId, id));
    }

    // Stored times have millisecond precision; answer with the same value that a later read returns.
    private DateTimeOffset Now() => DbTime.FromDb(DbTime.ToDb(clock.GetUtcNow()));

    private static string ValidRole(string? role, OrgContext org)
    {
        var value = Check.Required(role, "role", 20).ToLowerInvariant();
        if (!Roles.IsKnown(value))
        {
            throw Problems.Validation("role", $"must be one of {string.Join(", ", Roles.All)}.");
        }

        if (!Roles.CanGrant(org.Role, value))
        {
            throw Problems.Forbidden($"Your role '{org.Role}' cannot grant the '{value}' role.");
        }

        return value;
    }

    private static string ValidSlug(string? slug, string field)
    {
        var value = Check.Required(slug, field, 63);
        if (!SlugPattern().IsMatch(value))
        {
            throw Problems.Validation(field, "must be 2-63 characters of lowercase letters, digits and '-', starting with a letter or digit.");
        }

        return value;
    }

    private static string ValidEmail(string? email)
    {
        var value = Check.Required(email, "email", 320).ToLowerInvariant();
        var at = value.IndexOf('@', StringComparison.Ordinal);
        if (at <= 0 || at == value.Length - 1 || value.Contains(' ', StringComparison.Ordinal))
        {
            throw Problems.Validation("email", "must be an email address.");
        }

        return value;
    }

    private static string ValidPassword(string? password)
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

    private static string DisplayNameFor(string? displayName, string email) =>
        string.IsNullOrWhiteSpace(displayName) ? email[..email.IndexOf('@', StringComparison.Ordinal)] : Check.Required(displayName, "displayName", 100);
}
