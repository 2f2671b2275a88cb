using System.Net;
using System.Net.Http.Json;
using Clarity.Features.Notifications.OnCall;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Notifications.OnCall;

/// <summary>Rosters, policies and escalations through the API and the engine, on both backends, with a fake clock.</summary>
public abstract class OnCallTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : HostFixture
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    private HttpClient Admin() => Host.CreateClient(Org.OwnerToken);

    [Fact]
    public async Task OnCall_FollowsTheRotation_AndAnOverrideWins()
    {
        var (ann, bob, cat) = (await Host.AddPersonAsync(Org, "member"), await Host.AddPersonAsync(Org, "member"), await Host.AddPersonAsync(Org, "viewer"));
        using var admin = Admin();
        var roster = await admin.CreateRosterAsync(Org, [ann.UserId, bob.UserId], zone: "America/New_York", time: "02:30", start: "2026-03-07");
        using var member = Host.CreateClient(Org.MemberKey);

        async Task<Guid?> At(string at)
        {
            var now = await member.GetAsync(Org.Api($"oncall/rosters/{roster}/oncall?at={at}")).ExpectAsync(HttpStatusCode.OK);
            return now.IsNull("userId") ? null : now.GetProperty("userId").GetGuid();
        }

        Assert.Null(await At("2026-03-07T07:29:00Z"));
        Assert.Equal(ann.UserId, await At("2026-03-07T07:30:00Z"));
        // Spring forward: 02:30 does not exist on 2026-03-08, the hand-off happens at 03:30 EDT (07:30Z).
        Assert.Equal(ann.UserId, await At("2026-03-08T07:29:00Z"));
        Assert.Equal(bob.UserId, await At("2026-03-08T07:30:00Z"));

        await admin.PostAsJsonAsync(Org.Api($"oncall/rosters/{roster}/overrides"), new { userId = cat.UserId, from = "2026-03-08T10:00:00Z", to = "2026-03-08T12:00:00Z" })
            .ExpectAsync(HttpStatusCode.Created);
        Assert.Equal(cat.UserId, await At("2026-03-08T11:00:00Z"));
        Assert.Equal(bob.UserId, await At("2026-03-08T12:00:00Z"));
    }

    [Theory]
    [InlineData("timeZone", "Mars/Olympus_Mons", "daily", "09:00", "2026-03-01")]
    [InlineData("handoff", "Etc/UTC", "hourly", "09:00", "2026-03-01")]
    [InlineData("handoffTime", "Etc/UTC", "daily", "9am", "2026-03-01")]
    [InlineData("startDate", "Etc/UTC", "daily", "09:00", "01/03/2026")]
    public async Task CreateRoster_WithABadField_Answers400NamingIt(string field, string zone, string handoff, string time, string start)
    {
        var person = await Host.AddPersonAsync(Org, "member");
        using var admin = Admin();
        var problem = await admin.PostAsJsonAsync(Org.Api("oncall/rosters"), new { name = Work.Unique("r"), timeZone = zone, handoff, handoffTime = time, startDate = start, members = new[] { person.UserId } })
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
    }

    [Fact]
    public async Task CreateRoster_WithSomeoneOutsideTheOrg_Answers400NamingTheMember()
    {
        var stranger = await Host.AddPersonAsync(fixture.OtherOrg, "member");
        var person = await Host.AddPersonAsync(Org, "member");
        using var admin = Admin();
        var problem = await admin.PostAsJsonAsync(Org.Api("oncall/rosters"), new { name = Work.Unique("r"), timeZone = "Etc/UTC", handoff = "daily", handoffTime = "09:00", startDate = "2026-03-01", members = new[] { person.UserId, stranger.UserId } })
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.True(problem.GetProperty("errors").TryGetProperty("members[1]", out _), problem.ToString());
    }

    [Fact]
    public async Task CreatePolicy_WithBadLevels_Answers400NamingTheField()
    {
        var person = await Host.AddPersonAsync(Org, "member");
        using var admin = Admin();
        async Task Expect(string field, object body)
        {
            var problem = await admin.PostAsJsonAsync(Org.Api("escalation-policies"), body).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
        }

        await Expect("levels", new { name = Work.Unique("p"), levels = Array.Empty<object>() });
        await Expect("levels[0].delayMinutes", new { name = Work.Unique("p"), levels = new[] { OnCallTestKit.Level(0, users: [person.UserId]) } });
        await Expect("levels[1].delayMinutes", new { name = Work.Unique("p"), levels = new[] { OnCallTestKit.Level(5, users: [person.UserId]), OnCallTestKit.Level(1441, users: [person.UserId]) } });
        await Expect("levels[0].targets", new { name = Work.Unique("p"), levels = new[] { OnCallTestKit.Level(5) } });
        await Expect("levels[0].targets.rosters[0]", new { name = Work.Unique("p"), levels = new[] { OnCallTestKit.Level(5, rosters: [Guid.NewGuid().ToString()]) } });
        await Expect("levels[0].targets.users[0]", new { name = Work.Unique("p"), levels = new[] { OnCallTestKit.Level(5, users: [Guid.NewGuid()]) } });
        await Expect("repeat", new { name = Work.Unique("p"), levels = new[] { OnCallTestKit.Level(5, users: [person.UserId]) }, repeat = 9 });
    }

    [Fact]
    public async Task ManagingPolicies_AsViewerOrMember_IsForbidden_ButReadingIsAllowed()
    {
        var person = await Host.AddPersonAsync(Org, "member");
        using var admin = Admin();
        var policy = await admin.CreatePolicyAsync(Org, [OnCallTestKit.Level(5, users: [person.UserId])]);
        var body = new { name = Work.Unique("p"), levels = new[] { OnCallTestKit.Level(5, users: [person.UserId]) } };
        foreach (var role in new[] { "viewer", "member" })
        {
            using var client = Host.CreateClient(Org.Keys[role]);
            await client.PostAsJsonAsync(Org.Api("escalation-policies"), body).ExpectProblemAsync(HttpStatusCode.Forbidden);
            await client.DeleteAsync(Org.Api($"escalation-policies/{policy}")).ExpectProblemAsync(HttpStatusCode.Forbidden);
            await client.PostAsync(Org.Api($"escalation-policies/{policy}/drill"), null).ExpectProblemAsync(HttpStatusCode.Forbidden);
            await client.GetAsync(Org.Api($"escalation-policies/{policy}")).ExpectAsync(HttpStatusCode.OK);
        }
    }

    [Fact]
    public async Task Escalation_AsTheClockMoves_PagesLevelOneThenTwoThenTheFallbackThenRunsOut()
    {
        var clock = Host.UseFakeClock();
        var (ann, bob, cat) = (await Host.AddPersonAsync(Org, "member"), await Host.AddPersonAsync(Org, "member"), await Host.AddPersonAsync(Org, "member"));
        using var admin = Admin();
        var roster = await admin.CreateRosterAsync(Org, [ann.UserId], start: "2026-01-01");
        var policy = await admin.CreatePolicyAsync(Org, [OnCallTestKit.Level(5, rosters: [roster]), OnCallTestKit.Level(10, users: [bob.UserId])], fallback: new { users = new[] { cat.UserId } });
        var orgId = await Host.OrgIdAsync(Org);
        var id = await Host.StartEscalationAsync(orgId, policy, EscalationSubjects.Clarification, Guid.NewGuid(), "alert-" + Guid.NewGuid().ToString("N"));

        var started = await admin.GetEscalationAsync(Org, id);
        Assert.Equal(("open", 1), (started.Str("status"), started.Int("levelReached")));
        Assert.Equal([ann.UserId], Assert.Single(started.Timeline()).Recipients());

        clock.Advance(TimeSpan.FromMinutes(4));
        await Host.SweepEscalationsAsync();
        Assert.Single((await admin.GetEscalationAsync(Org, id)).Timeline());

        clock.Advance(TimeSpan.FromMinutes(1));
        await Host.SweepEscalationsAsync();
        var second = await admin.GetEscalationAsync(Org, id);
        Assert.Equal(2, second.Int("levelReached"));
        Assert.Equal([bob.UserId], second.Timeline()[1].Recipients());

        clock.Advance(TimeSpan.FromMinutes(10));
        await Host.SweepEscalationsAsync();
        var fallback = await admin.GetEscalationAsync(Org, id);
        Assert.Equal((3, "notified"), (fallback.Timeline()[2].Int("level"), fallback.Timeline()[2].Str("kind")));
        Assert.Equal([cat.UserId], fallback.Timeline()[2].Recipients());
        Assert.Contains("fallback", fallback.Timeline()[2].Str("detail"), StringComparison.Ordinal);

        clock.Advance(TimeSpan.FromMinutes(10));
        await Host.SweepEscalationsAsync();
        var done = await admin.GetEscalationAsync(Org, id);
        Assert.Equal("exhausted", done.Str("status"));
        Assert.Equal(["notified", "notified", "notified", "exhausted"], done.Timeline().Select(e => e.Str("kind")));

        // One correlation id links the alert, each step and the end, in the outbox too.
        var correlation = done.Str("correlationId");
        var events = await Host.EscalationEventsAsync(id);
        Assert.Equal(["started", "notified", "notified", "notified", "exhausted"], events.Select(e => e.Step));
        Assert.All(events, e => Assert.Equal(correlation, e.Linked));
        // The sweep's changes run under the escalation's correlation id (the start ran in the caller's unit of work).
        Assert.All(events.Skip(2), e => Assert.Equal(correlation, e.RowCorrelation));
    }

    [Fact]
    public async Task Acknowledge_ByThePagedPerson_StopsTheEscalation_AndASecondAcknowledgementIs409()
    {
        var clock = Host.UseFakeClock();
        var (ann, bob) = (await Host.AddPersonAsync(Org, "viewer"), await Host.AddPersonAsync(Org, "member"));
        using var admin = Admin();
        var policy = await admin.CreatePolicyAsync(Org, [OnCallTestKit.Level(5, users: [ann.UserId]), OnCallTestKit.Level(5, users: [bob.UserId])]);
        var id = await Host.StartEscalationAsync(await Host.OrgIdAsync(Org), policy, EscalationSubjects.Approval, Guid.NewGuid(), "alert-" + Guid.NewGuid().ToString("N"));

        // Ann is a viewer (no tasks:respond) but was paged, so she may acknowledge.
        using var annClient = Host.CreateClient(ann.Token);
        var acked = await annClient.PostAsJsonAsync(Org.Api($"escalations/{id}/acknowledge"), new { via = "email" }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(("acknowledged", "email", ann.Email), (acked.Str("status"), acked.Str("acknowledgedVia"), acked.Str("acknowledgedByName")));

        clock.Advance(TimeSpan.FromMinutes(30));
        await Host.SweepEscalationsAsync();
        var after = await admin.GetEscalationAsync(Org, id);
        Assert.Equal(["notified", "acknowledged"], after.Timeline().Select(e => e.Str("kind")));

        using var bobClient = Host.CreateClient(bob.Token);
        var conflict = await bobClient.PostAsJsonAsync(Org.Api($"escalations/{id}/acknowledge"), new { via = "slack" }).ExpectProblemAsync(HttpStatusCode.Conflict, "escalation-closed");
        Assert.Contains(ann.Email, conflict.Str("detail"), StringComparison.Ordinal);
        var events = await Host.EscalationEventsAsync(id);
        Assert.All(events, e => Assert.Equal(after.Str("correlationId"), e.Linked));
        Assert.Equal(after.Str("correlationId"), events.Single(e => e.Step == "acknowledged").RowCorrelation);
    }

    [Fact]
    public async Task Acknowledge_ByAViewerWhoWasNotPaged_IsForbidden()
    {
        Host.UseFakeClock();
        var ann = await Host.AddPersonAsync(Org, "member");
        using var admin = Admin();
        var policy = await admin.CreatePolicyAsync(Org, [OnCallTestKit.Level(5, users: [ann.UserId])]);
        var id = await Host.StartEscalationAsync(await Host.OrgIdAsync(Org), policy, EscalationSubjects.Approval, Guid.NewGuid(), "c-" + Guid.NewGuid().ToString("N"));
        using var viewer = Host.CreateClient(Org.Keys["viewer"]);
        await viewer.PostAsJsonAsync(Org.Api($"escalations/{id}/acknowledge"), new { }).ExpectProblemAsync(HttpStatusCode.Forbidden);
        await viewer.PostAsJsonAsync(Org.Api($"escalations/{id}/acknowledge"), new { via = "pigeon" }).ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
        Assert.Equal("open", (await admin.GetEscalationAsync(Org, id)).Str("status"));
    }

    [Fact]
    public async Task AnsweringTheQuestion_ResolvesItsEscalation_WithAnAnsweredEntry()
    {
        var clock = Host.UseFakeClock();
        var ann = await Host.AddPersonAsync(Org, "member");
        using var admin = Admin();
        var policy = await admin.CreatePolicyAsync(Org, [OnCallTestKit.Level(5, users: [ann.UserId])]);
        using var agent = Host.CreateClient(Org.MemberKey);
        var lease = await agent.StartTaskAsync(Org);
        var question = await agent.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/clarifications"), new { leaseToken = lease.Token, question = "Deploy?" })
            .ExpectAsync(HttpStatusCode.Created);
        var questionId = question.GetProperty("id").GetGuid();
        var id = await Host.StartEscalationAsync(await Host.OrgIdAsync(Org), policy, EscalationSubjects.Clarification, questionId, "alert-" + Guid.NewGuid().ToString("N"));

        using var annClient = Host.CreateClient(ann.Token);
        await annClient.PostAsJsonAsync(Org.Api($"clarifications/{questionId}/answer"), new { answer = "yes" }).ExpectAsync(HttpStatusCode.OK);

        var list = await admin.GetAsync(Org.Api($"escalations?subject={questionId}&timeline=true")).ExpectAsync(HttpStatusCode.OK);
        var escalation = Assert.Single(list.GetProperty("items").EnumerateArray());
        Assert.Equal((id.ToString(), "resolved", ann.Email), (escalation.Str("id"), escalation.Str("status"), escalation.Str("acknowledgedByName")));
        var answered = escalation.Timeline()[^1];
        Assert.Equal("answered", answered.Str("kind"));
        Assert.Equal([ann.UserId], answered.Recipients());

        clock.Advance(TimeSpan.FromHours(1));
        await Host.SweepEscalationsAsync();
        Assert.Equal(2, (await admin.GetEscalationAsync(Org, id)).Timeline().Count);
        await annClient.PostAsJsonAsync(Org.Api($"escalations/{id}/acknowledge"), new { }).ExpectProblemAsync(HttpStatusCode.Conflict, "escalation-closed");
        Assert.All(await Host.EscalationEventsAsync(id), e => Assert.Equal(escalation.Str("correlationId"), e.Linked));
    }

    [Fact]
    public async Task AnotherOrgsRostersPoliciesAndEscalations_Answer404()
    {
        Host.UseFakeClock();
        var ann = await Host.AddPersonAsync(Org, "member");
        using var admin = Admin();
        var roster = await admin.CreateRosterAsync(Org, [ann.UserId]);
        var policy = await admin.CreatePolicyAsync(Org, [OnCallTestKit.Level(5, rosters: [roster])]);
        var id = await Host.StartEscalationAsync(await Host.OrgIdAsync(Org), policy, EscalationSubjects.Approval, Guid.NewGuid(), "c-" + Guid.NewGuid().ToString("N"));
        var other = fixture.OtherOrg;
        using var otherOwner = Host.CreateClient(other.OwnerToken);
        await otherOwner.GetAsync(other.Api($"oncall/rosters/{roster}")).ExpectProblemAsync(HttpStatusCode.NotFound);
        await otherOwner.GetAsync(other.Api($"oncall/rosters/{roster}/oncall")).ExpectProblemAsync(HttpStatusCode.NotFound);
        await otherOwner.PostAsJsonAsync(other.Api($"oncall/rosters/{roster}/overrides"), new { userId = ann.UserId, from = "2026-03-01T00:00:00Z", to = "2026-03-02T00:00:00Z" })
            .ExpectProblemAsync(HttpStatusCode.NotFound);
        await otherOwner.DeleteAsync(other.Api($"escalation-policies/{policy}")).ExpectProblemAsync(HttpStatusCode.NotFound);
        await otherOwner.PostAsync(other.Api($"escalation-policies/{policy}/drill"), null).ExpectProblemAsync(HttpStatusCode.NotFound);
        await otherOwner.GetAsync(other.Api($"escalations/{id}")).ExpectProblemAsync(HttpStatusCode.NotFound);
        await otherOwner.PostAsJsonAsync(other.Api($"escalations/{id}/acknowledge"), new { }).ExpectProblemAsync(HttpStatusCode.NotFound);
        // A policy cannot page another org's roster either.
        await otherOwner.PostAsJsonAsync(other.Api("escalation-policies"), new { name = Work.Unique("p"), levels = new[] { OnCallTestKit.Level(5, rosters: [roster]) } })
            .ExpectProblemAsync(HttpStatusCode.BadRequest, "validation");
    }

    [Fact]
    public async Task DeletingARosterAPolicyPages_Is409_UntilThePolicyIsGone()
    {
        var ann = await Host.AddPersonAsync(Org, "member");
        using var admin = Admin();
        var roster = await admin.CreateRosterAsync(Org, [ann.UserId]);
        var policy = await admin.CreatePolicyAsync(Org, [OnCallTestKit.Level(5, rosters: [roster])]);
        await admin.DeleteAsync(Org.Api($"oncall/rosters/{roster}")).ExpectProblemAsync(HttpStatusCode.Conflict, "roster-in-use");
        await admin.DeleteAsync(Org.Api($"escalation-policies/{policy}")).ExpectAsync(HttpStatusCode.NoContent);
        await admin.DeleteAsync(Org.Api($"oncall/rosters/{roster}")).ExpectAsync(HttpStatusCode.NoContent);
        await admin.GetAsync(Org.Api($"oncall/rosters/{roster}")).ExpectProblemAsync(HttpStatusCode.NotFound);
    }
}

public sealed class SqliteOnCallTests(SqliteHostFixture fixture) : OnCallTests<SqliteHostFixture>(fixture);

public sealed class PostgresOnCallTests(PostgresHostFixture fixture) : OnCallTests<PostgresHostFixture>(fixture);
