using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Hosting;
using Xunit;

namespace Clarity.Tests.Infrastructure;

/// <summary>
/// One host per test class with two orgs: <see cref="Own"/> ("acme") and <see cref="Other"/> ("globex"), an API key
/// per role in each, and a revoked API key per role in acme.
/// </summary>
public abstract class TwoOrgFixture(Backend backend, IDictionary<string, string?>? overrides = null) : IAsyncLifetime
{
    public ClarityHost Host { get; private set; } = null!;

    public OrgSession Own { get; private set; } = null!;

    public OrgSession Other { get; private set; } = null!;

    public IReadOnlyDictionary<string, string> RevokedKeys { get; private set; } = null!;

    public Backend Backend => backend;

    public virtual async Task InitializeAsync()
    {
        Host = await ClarityHost.StartAsync(backend, overrides);
        Own = await Host.SetupAsync("acme");
        Other = await Host.CreateOrgAsync(Own, "globex");
        using var owner = Host.CreateClient(Own.OwnerToken);
        var revoked = new Dictionary<string, string>();
        foreach (var role in BuiltInRoles.All)
        {
            var created = await owner.PostAsJsonAsync(Own.Api("api-keys"), new { name = $"revoked-{role}", role });
            created.EnsureSuccessStatusCode();
            var key = await created.Content.ReadFromJsonAsync<JsonElement>();
            (await owner.DeleteAsync(Own.Api($"api-keys/{key.GetProperty("id").GetString()}"))).EnsureSuccessStatusCode();
            revoked[role] = key.GetProperty("secret").GetString()!;
        }

        RevokedKeys = revoked;
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();
}
