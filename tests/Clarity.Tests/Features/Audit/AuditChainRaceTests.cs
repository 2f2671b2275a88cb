using System.Net;
using System.Net.Http.Json;
using Clarity.Events.Audit;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Audit;

/// <summary>
/// PostgreSQL, where writers really run at once: entries are inserted unchained by concurrent transactions on two nodes,
/// in one org and across orgs, and the leader's chainer still builds contiguous chains whose every hash recomputes.
/// </summary>
public sealed class PostgresAuditChainRaceTests : IAsyncLifetime
{
    private ClarityHost _first = null!;
    private ClarityHost _second = null!;
    private OrgSession _acme = null!;
    private OrgSession _globex = null!;

    public async Task InitializeAsync()
    {
        _first = await ClarityHost.StartAsync(Backend.Postgres);
        _second = await ClarityHost.StartNodeAsync(_first);
        _acme = await _first.SetupAsync("acme");
        _globex = await _first.CreateOrgAsync(_acme, "globex");
    }

    public async Task DisposeAsync()
    {
        await _second.DisposeAsync();
        await _first.DisposeAsync();
    }

    [Fact]
    public async Task ConcurrentChangesOnTwoNodes_InOneOrgAndAcrossOrgs_ChainContiguously_WithEveryHashRecomputing()
    {
        const int Writers = 16;
        const int PerWriter = 15;
        var failures = 0;
        var refused = 0;
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(n => Task.Run(async () =>
        {
            var org = n % 4 == 3 ? _globex : _acme;
            using var client = (n % 2 == 0 ? _first : _second).CreateClient(org.MemberKey);
            using var anonymous = (n % 2 == 0 ? _second : _first).CreateClient();
            for (var i = 0; i < PerWriter; i++)
            {
                var created = await client.PostAsJsonAsync(org.Api("tasks"), new { queue = $"race-{n}", title = $"w{n}-{i}" });
                if (created.StatusCode != HttpStatusCode.Created)
                {
                    Interlocked.Increment(ref failures);
                }

                if (i % 5 == 0)
                {
                    // The instance's chain, written concurrently too: a refused sign-in writes only its entry.
                    // (Past the sign-in rate limit the answer is 429 and nothing is attempted, so nothing is audited.)
                    var login = await anonymous.PostAsJsonAsync("api/v1/auth/login", new { email = $"nobody-{n}-{i}@example.com", password = "wrong-password" });
                    if (login.StatusCode == HttpStatusCode.Unauthorized)
                    {
                        Interlocked.Increment(ref refused);
                    }
                }
            }
        })));
        Assert.Equal(0, failures);

        await AuditTestSupport.WaitUntilChainedAsync(_first);
        var total = await AuditTestSupport.AssertChainsIntactAsync(_first);
        Assert.True(total >= Writers * PerWriter);

        var acme = await AuditTestSupport.OrgIdAsync(_first, "acme");
        var globex = await AuditTestSupport.OrgIdAsync(_first, "globex");
        var created = await AuditTestSupport.RowsAsync(_first, AuditActions.TaskCreated);
        Assert.Equal(Writers * PerWriter, created.Count);
        Assert.Equal(Writers / 4 * PerWriter, created.Count(r => r.ChainId == globex));
        Assert.Equal(Writers * PerWriter - Writers / 4 * PerWriter, created.Count(r => r.ChainId == acme));
        Assert.True(refused > 0);
        Assert.Equal(refused, (await AuditTestSupport.RowsAsync(_first, AuditActions.SignInFailed)).Count);
    }
}
