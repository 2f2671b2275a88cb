using System.Net;
using Clarity.Features.Notifications.OnCall;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Notifications.OnCall;

/// <summary>Two nodes sharing one PostgreSQL database sweep the same due escalation at once: each level pages once.</summary>
public sealed class EscalationRaceTests
{
    [Fact]
    public async Task TwoSweepsOnTwoHosts_AdvanceALevelOnce()
    {
        await using var first = await ClarityHost.StartAsync(Backend.Postgres);
        await using var second = await ClarityHost.StartNodeAsync(first);
        var clock = first.UseFakeClock();
        second.UseFakeClock(clock);
        var org = await first.SetupAsync("race");
        var people = new List<Person>();
        for (var i = 0; i < 3; i++)
        {
            people.Add(await first.AddPersonAsync(org, "member"));
        }

        using var admin = first.CreateClient(org.OwnerToken);
        var policy = await admin.CreatePolicyAsync(org, [.. people.Select(p => OnCallTestKit.Level(5, users: [p.UserId]))]);
        var orgId = await first.OrgIdAsync(org);
        var ids = new List<Guid>();
        for (var i = 0; i < 8; i++)
        {
            ids.Add(await first.StartEscalationAsync(orgId, policy, EscalationSubjects.Approval, Guid.NewGuid(), "race-" + i));
        }

        for (var level = 2; level <= 3; level++)
        {
            clock.Advance(TimeSpan.FromMinutes(5));
            await Task.WhenAll(Enumerable.Range(0, 4).Select(i => Task.Run(() => (i % 2 == 0 ? first : second).SweepEscalationsAsync())));
            foreach (var id in ids)
            {
                var escalation = await admin.GetAsync(org.Api($"escalations/{id}")).ExpectAsync(HttpStatusCode.OK);
                var notified = escalation.Timeline().Where(e => e.Str("kind") == "notified").ToList();
                Assert.Equal(level, notified.Count);
                Assert.Equal(Enumerable.Range(1, level), notified.Select(e => e.Int("level")));
                Assert.Equal(level, escalation.Int("levelReached"));
            }
        }
    }
}
