using Clarity.Events;
using Clarity.Features.Identity;

namespace Clarity.Hosting.Authorization;

/// <summary>
/// The roles each org can use, read from the database (<see cref="RoleStore"/>) and remembered on each node for
/// <see cref="Lifetime"/>. A change made here is a unit of work that emits <see cref="RolesChanged"/>, so that every
/// node forgets the roles as soon as the event reaches it; the lifetime bounds staleness meanwhile. Custom roles will be created
/// through here; no endpoint does so yet.
/// </summary>
public sealed class RoleCatalog : IDisposable
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(30);

    private readonly RevocableCache<Guid, RoleSet> _cache;
    private readonly RoleStore _store;
    private readonly Changes _changes;
    private readonly IDisposable _subscription;

    public RoleCatalog(RoleStore store, Changes changes, IEventBus events, TimeProvider clock)
    {
        _store = store;
        _changes = changes;
        _cache = new RevocableCache<Guid, RoleSet>(clock, Lifetime, maxEntries: 10_000);
        _subscription = events.Subscribe(e =>
        {
            if (e is RolesChanged changed)
            {
                _cache.Evict(set => changed.OrgId == Guid.Empty || set.OrgId == changed.OrgId);
            }
        });
    }

    /// <summary>The roles <paramref name="orgId"/> can use.</summary>
    public async ValueTask<RoleSet> ForOrgAsync(Guid orgId, CancellationToken ct) =>
        await _cache.GetAsync(orgId, _store.LoadAsync, ct) ?? RoleSet.Build(orgId, []);

    /// <summary>
    /// Adds a role: an org's own when <paramref name="orgId"/> is set, else a built-in one. It holds
    /// <paramref name="permissions"/> and, when <paramref name="inheritsId"/> is set, everything that role holds.
    /// </summary>
    public async Task<Guid> CreateAsync(Guid? orgId, string name, Guid? inheritsId, IReadOnlyCollection<string> permissions, CancellationToken ct)
    {
        CheckPermissions(permissions);
        var id = Guid.CreateVersion7();
        await _changes.RunAsync(Actor.System, async change =>
        {
            await RoleStore.CreateAsync(change, id, orgId, name, inheritsId, permissions);
            change.Emit(new RolesChanged(orgId ?? Guid.Empty));
        }, ct);
        return id;
    }

    /// <summary>Replaces the permissions listed for a role (not those it inherits); false when there is no such role.</summary>
    public async Task<bool> SetPermissionsAsync(Guid roleId, IReadOnlyCollection<string> permissions, CancellationToken ct)
    {
        CheckPermissions(permissions);
        return await _changes.RunAsync(Actor.System, async change =>
        {
            var (found, orgId) = await RoleStore.SetPermissionsAsync(change, roleId, permissions);
            if (found)
            {
                change.Emit(new RolesChanged(orgId ?? Guid.Empty));
            }

            return found;
        }, ct);
    }

    public void Dispose() => _subscription.Dispose();

    private static void CheckPermissions(IReadOnlyCollection<string> permissions)
    {
        if (permissions.FirstOrDefault(p => !Permissions.All.Contains(p, StringComparer.Ordinal)) is { } unknown)
        {
            throw Problems.Validation("permissions", $"'{unknown}' is not a permission; use {string.Join(", ", Permissions.All)}.");
        }
    }
}
