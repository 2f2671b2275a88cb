using Xunit;

namespace Clarity.Tests.Infrastructure;

/// <summary>
/// One real host per test class (an xunit class fixture), with the org "acme" set up and a second org "other"
/// owned by the same person, for the tests that check one org cannot see another's data. Tests that share it
/// use their own queue and agent names, so they do not interfere.
/// </summary>
public abstract class HostFixture(Backend backend, IDictionary<string, string?>? overrides = null) : IAsyncLifetime
{
    public Backend Backend => backend;

    public ClarityHost Host { get; private set; } = null!;

    public OrgSession Org { get; private set; } = null!;

    public OrgSession OtherOrg { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Host = await ClarityHost.StartAsync(backend, overrides);
        Org = await Host.SetupAsync("acme");
        OtherOrg = await Host.CreateOrgAsync(Org, "other");
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

public sealed class SqliteHostFixture() : HostFixture(Backend.Sqlite);

public sealed class PostgresHostFixture() : HostFixture(Backend.Postgres);
