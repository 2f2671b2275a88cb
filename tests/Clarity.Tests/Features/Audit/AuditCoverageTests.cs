using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Events.Audit;
using Clarity.Features.Notifications;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Audit;

/// <summary>
/// Every audited action writes exactly one entry, in the unit of work of the change, naming the right actor, action,
/// target, before and after; and the chains it builds recompute from the contract's formula.
/// </summary>
public abstract class AuditCoverageTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task SetupAndOrgCreation_WriteSetupCompletedOnTheInstanceChain_AndOrgCreatedOnTheOrgsChain()
    {
        var orgId = await OrgIdAsync(Org.Org);
        var setup = Assert.Single(await RowsAsync(AuditActions.SetupCompleted));
        Assert.Equal(AuditChain.InstanceChain, setup.ChainId);
        var entry = Parse(setup);
        Assert.Equal(("user", "org", orgId.ToString()), (entry.GetProperty("actor").Str("kind"), entry.GetProperty("target").Str("type"), entry.GetProperty("target").Str("id")));
        Assert.Equal(Org.OwnerEmail, entry.GetProperty("after").Str("ownerEmail"));

        var created = Assert.Single(await RowsAsync(AuditActions.OrgCreated, orgId.ToString()));
        Assert.Equal(orgId, created.ChainId);
        Assert.Equal("acme", Parse(created).GetProperty("after").Str("slug"));

        var otherId = await OrgIdAsync(fixture.OtherOrg.Org);
        var other = Assert.Single(await RowsAsync(AuditActions.OrgCreated, otherId.ToString()));
        Assert.Equal(otherId, other.ChainId);
    }

    [Fact]
    public async Task SignIn_SuccessAndFailure_AndSignOut_AreAuditedOnTheInstanceChain()
    {
        var person = await Host.AddPersonAsync(Org, "member");
        // Accepting the invitation signed them in once.
        var signedIn = Assert.Single(await RowsAsync(AuditActions.SignedIn, person.UserId.ToString()));
        Assert.Equal(AuditChain.InstanceChain, signedIn.ChainId);
        Assert.Equal(("user", person.UserId), (signedIn.ActorKind, signedIn.ActorId));
        Assert.Equal(person.Email, Parse(signedIn).GetProperty("target").Str("label"));

        var token = await Host.LoginAsync(person.Email);
        Assert.Equal(2, (await RowsAsync(AuditActions.SignedIn, person.UserId.ToString())).Count);

        // A failure with the email tried, for an unknown email and for a wrong password; nothing else is written.
        var unknown = Work.Unique("nobody") + "@example.com";
        using var anonymous = Host.CreateClient();
        anonymous.DefaultRequestHeaders.UserAgent.ParseAdd("audit-test/1.0");
        await anonymous.PostAsJsonAsync("api/v1/auth/login", new { email = unknown, password = "not-the-password" }).ExpectProblemAsync(HttpStatusCode.Unauthorized);
        await anonymous.PostAsJsonAsync("api/v1/auth/login", new { email = person.Email, password = "not-the-password" }).ExpectProblemAsync(HttpStatusCode.Unauthorized);
        var failures = (await RowsAsync(AuditActions.SignInFailed)).Select(r => (Row: r, Entry: Parse(r))).ToList();
        var failedUnknown = Assert.Single(failures, f => f.Entry.GetProperty("after").Str("email") == unknown);
        Assert.Equal(AuditChain.InstanceChain, failedUnknown.Row.ChainId);
        Assert.Equal(("failure", "unknown-email", "user"), (failedUnknown.Entry.Str("outcome"), failedUnknown.Entry.GetProperty("after").Str("reason"), failedUnknown.Row.ActorKind));
        Assert.Null(failedUnknown.Row.ActorId);
        Assert.Equal("audit-test/1.0", failedUnknown.Entry.Str("userAgent"));
        Assert.False(string.IsNullOrEmpty(failedUnknown.Entry.Str("ip")));
        Assert.False(string.IsNullOrEmpty(failedUnknown.Entry.Str("correlationId")));
        var wrong = Assert.Single(failures, f => f.Entry.GetProperty("after").Str("email") == person.Email);
        Assert.Equal(("wrong-password", person.UserId.ToString()), (wrong.Entry.GetProperty("after").Str("reason"), wrong.Row.TargetId));
        Assert.DoesNotContain("not-the-password", wrong.Row.Entry, StringComparison.Ordinal);

        using (var signedInClient = Host.CreateClient(token))
        {
            (await signedInClient.PostAsync("api/v1/auth/logout", null)).EnsureSuccessStatusCode();
        }

        var signedOut = Assert.Single(await RowsAsync(AuditActions.SignedOut), r => r.ActorId == person.UserId);
        Assert.Equal(("session", AuditChain.InstanceChain), (signedOut.TargetType, signedOut.ChainId));

        using (var everywhere = Host.CreateClient(person.Token))
        {
            await everywhere.DeleteAsync("api/v1/me/sessions").ExpectAsync(HttpStatusCode.OK);
        }

        var all = Assert.Single(await RowsAsync(AuditActions.SignedOutEverywhere, person.UserId.ToString()));
        Assert.Equal(1, Parse(all).GetProperty("after").Int("sessions"));
    }

    [Fact]
    public async Task Invitations_Members_AndRoles_AreAuditedWithBeforeAndAfter()
    {
        var orgId = await OrgIdAsync(Org.Org);
        var email = Work.Unique("invitee") + "@example.com";
        var invitation = await Host.InviteAsync(Org, email, "admin");
        var invitationId = invitation.Str("id");
        var invited = Assert.Single(await RowsAsync(AuditActions.InvitationCreated, invitationId));
        Assert.Equal(orgId, invited.ChainId);
        Assert.Equal((email, "admin"), (Parse(invited).GetProperty("after").Str("email"), Parse(invited).GetProperty("after").Str("role")));
        Assert.DoesNotContain(ClarityHost.TokenOf(invitation), invited.Entry, StringComparison.Ordinal);

        using (var anonymous = Host.CreateClient())
        {
            await anonymous.PostAsJsonAsync("api/v1/invitations/accept", new { token = ClarityHost.TokenOf(invitation), password = ClarityHost.MemberPassword })
                .ExpectAsync(HttpStatusCode.OK);
        }

        var accepted = Assert.Single(await RowsAsync(AuditActions.InvitationAccepted, invitationId));
        var userId = accepted.ActorId!.Value;
        Assert.Equal("accepted", Parse(accepted).GetProperty("after").Str("status"));
        var joined = Assert.Single(await RowsAsync(AuditActions.MemberJoined, userId.ToString()));
        Assert.Equal(("user", userId, "admin"), (joined.ActorKind, joined.ActorId, Parse(joined).GetProperty("after").Str("role")));

        // A withdrawn invitation.
        var withdrawn = await Host.InviteAsync(Org, Work.Unique("later") + "@example.com", "viewer");
        using var owner = Host.CreateClient(Org.OwnerToken);
        (await owner.DeleteAsync(Org.Api($"invitations/{withdrawn.Str("id")}"))).EnsureSuccessStatusCode();
        var revoked = Assert.Single(await RowsAsync(AuditActions.InvitationRevoked, withdrawn.Str("id")));
        Assert.Equal(("pending", "revoked"), (Parse(revoked).GetProperty("before").Str("status"), Parse(revoked).GetProperty("after").Str("status")));

        // The admin makes a key; lowering their role caps it, in the same unit of work.
        var token = await Host.LoginAsync(email);
        using var member = Host.CreateClient(token);
        var key = await member.PostAsJsonAsync(Org.Api("api-keys"), new { name = "mine", role = "admin" }).ExpectAsync(HttpStatusCode.Created);
        var keyId = key.Str("id");
        var created = Assert.Single(await RowsAsync(AuditActions.ApiKeyCreated, keyId));
        Assert.Equal(("user", userId), (created.ActorKind, created.ActorId));
        var after = Parse(created).GetProperty("after");
        Assert.Equal(("mine", "admin", key.Str("prefix")), (after.Str("name"), after.Str("role"), after.Str("prefix")));
        Assert.DoesNotContain(key.Str("secret"), created.Entry, StringComparison.Ordinal);
        Assert.DoesNotContain(Clarity.Features.Identity.ApiKeySecret.Hash(key.Str("secret")), created.Entry, StringComparison.Ordinal);

        await owner.PutAsJsonAsync(Org.Api($"members/{userId}"), new { role = "member" }).ExpectAsync(HttpStatusCode.OK);
        var changed = Assert.Single(await RowsAsync(AuditActions.MemberRoleChanged, userId.ToString()));
        Assert.Equal(("admin", "member"), (Parse(changed).GetProperty("before").Str("role"), Parse(changed).GetProperty("after").Str("role")));
        var capped = Assert.Single(await RowsAsync(AuditActions.ApiKeyCapped, keyId));
        Assert.Equal("member", Parse(capped).GetProperty("after").Str("role"));

        // Removing the member revokes their key: one entry for the removal, one for the key.
        await owner.DeleteAsync(Org.Api($"members/{userId}")).ExpectAsync(HttpStatusCode.OK);
        var removed = Assert.Single(await RowsAsync(AuditActions.MemberRemoved, userId.ToString()));
        Assert.Equal("member", Parse(removed).GetProperty("before").Str("role"));
        var keyRevoked = Assert.Single(await RowsAsync(AuditActions.ApiKeyRevoked, keyId));
        Assert.Equal("member removed", Parse(keyRevoked).GetProperty("after").Str("reason"));

        // Someone leaving of their own accord.
        var leaver = await Host.AddPersonAsync(Org, "member");
        using (var asLeaver = Host.CreateClient(leaver.Token))
        {
            await asLeaver.DeleteAsync($"api/v1/me/orgs/{Org.Org}").ExpectAsync(HttpStatusCode.OK);
        }

        var left = Assert.Single(await RowsAsync(AuditActions.MemberLeft, leaver.UserId.ToString()));
        Assert.Equal(leaver.UserId, left.ActorId);
    }

    [Fact]
    public async Task ApiKeyRevocation_IsAudited_WithTheKeyBefore()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var key = await owner.PostAsJsonAsync(Org.Api("api-keys"), new { name = "short-lived", role = "viewer" }).ExpectAsync(HttpStatusCode.Created);
        (await owner.DeleteAsync(Org.Api($"api-keys/{key.Str("id")}"))).EnsureSuccessStatusCode();
        var revoked = Assert.Single(await RowsAsync(AuditActions.ApiKeyRevoked, key.Str("id")));
        Assert.Equal(("short-lived", "viewer"), (Parse(revoked).GetProperty("before").Str("name"), Parse(revoked).GetProperty("before").Str("role")));
        Assert.True(Parse(revoked).GetProperty("after").GetProperty("revoked").GetBoolean());
        Assert.Equal("user", revoked.ActorKind);
    }

    [Fact]
    public async Task WebhookEndpointChanges_AreAuditedWithBeforeAndAfter_AndTheSecretIsNeverWritten()
    {
        using var owner = Host.CreateClient(Org.OwnerToken);
        var created = await owner.PostAsJsonAsync(Org.Api("webhooks"), new { url = "https://203.0.113.10/audited", events = new[] { "task.created" } }).ExpectAsync(HttpStatusCode.Created);
        var id = created.Str("id")!;
        await owner.PatchAsJsonAsync(Org.Api($"webhooks/{id}"), new { events = new[] { "task.created", "task.failed" } }).ExpectAsync(HttpStatusCode.OK);
        var rotated = await owner.PostAsync(Org.Api($"webhooks/{id}/rotate-secret"), null).ExpectAsync(HttpStatusCode.OK);
        (await owner.DeleteAsync(Org.Api($"webhooks/{id}"))).EnsureSuccessStatusCode();

        var entries = await RowsForTargetAsync(id);
        Assert.Equal(
            [AuditActions.WebhookCreated, AuditActions.WebhookUpdated, AuditActions.WebhookSecretRotated, AuditActions.WebhookDeleted],
            entries.Select(e => e.Action));
        Assert.All(entries, e => Assert.Equal(("user", "webhook"), (e.ActorKind, e.TargetType)));
        var updated = Parse(entries[1]);
        Assert.Equal(["task.created"], updated.GetProperty("before").GetProperty("events").EnumerateArray().Select(x => x.GetString()));
        Assert.Equal(["task.created", "task.failed"], updated.GetProperty("after").GetProperty("events").EnumerateArray().Select(x => x.GetString()));
        Assert.Equal("https://203.0.113.10/audited", Parse(entries[3]).GetProperty("before").Str("url"));

        // Both secrets were shown once to the caller; neither is in any entry, whatever its field.
        foreach (var secret in new[] { created.Str("secret")!, rotated.Str("secret")! })
        {
            Assert.StartsWith("whsec_", secret, StringComparison.Ordinal);
            Assert.All(entries, e => Assert.DoesNotContain(secret["whsec_".Length..], e.Entry!, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task NotificationRuleChanges_OrgAndPersonal_AndPreferenceChanges_AreAuditedWithBeforeAndAfter()
    {
        var orgId = await OrgIdAsync(Org.Org);
        using var owner = Host.CreateClient(Org.OwnerToken);
        var rule = await owner.PostAsJsonAsync(Org.Api("notification-rules"), new
        {
            name = "audited",
            events = new[] { "task.failed" },
            channels = new object[] { new { type = "email", to = new[] { "oncall@example.com" } } },
        }).ExpectAsync(HttpStatusCode.Created);
        var id = rule.Str("id")!;
        await owner.PatchAsJsonAsync(Org.Api($"notification-rules/{id}"), new { enabled = false }).ExpectAsync(HttpStatusCode.OK);
        await owner.DeleteAsync(Org.Api($"notification-rules/{id}")).ExpectAsync(HttpStatusCode.NoContent);

        var entries = await RowsForTargetAsync(id);
        Assert.Equal(
            [NotificationAuditActions.RuleCreated, NotificationAuditActions.RuleUpdated, NotificationAuditActions.RuleDeleted],
            entries.Select(e => e.Action));
        Assert.All(entries, e => Assert.Equal(("user", "notification_rule", orgId), (e.ActorKind, e.TargetType, e.ChainId)));
        var updated = Parse(entries[1]);
        Assert.True(updated.GetProperty("before").GetProperty("enabled").GetBoolean());
        Assert.False(updated.GetProperty("after").GetProperty("enabled").GetBoolean());
        Assert.Equal(["task.failed"], Parse(entries[2]).GetProperty("before").GetProperty("events").EnumerateArray().Select(x => x.GetString()));

        // A member's personal rule, and their preferences: audited on the org's chain, as the member.
        var member = await Host.AddPersonAsync(Org, "member");
        using var client = Host.CreateClient(member.Token);
        var mine = await client.PostAsJsonAsync(Org.Api("me/notification-rules"), new { events = new[] { "clarification.asked" }, channels = new object[] { new { type = "email" } } })
            .ExpectAsync(HttpStatusCode.Created);
        await client.DeleteAsync(Org.Api($"me/notification-rules/{mine.Str("id")}")).ExpectAsync(HttpStatusCode.NoContent);
        var personal = await RowsForTargetAsync(mine.Str("id")!);
        Assert.Equal([NotificationAuditActions.RuleCreated, NotificationAuditActions.RuleDeleted], personal.Select(e => e.Action));
        Assert.All(personal, e => Assert.Equal(member.UserId, e.ActorId));
        Assert.True(Parse(personal[0]).GetProperty("after").GetProperty("personal").GetBoolean());

        await client.PutAsJsonAsync(Org.Api("notification-preferences"), new { mutedChannels = new[] { "slack" } }).ExpectAsync(HttpStatusCode.OK);
        await client.PutAsJsonAsync(Org.Api("notification-preferences"), new { mutedChannels = new[] { "email", "slack" } }).ExpectAsync(HttpStatusCode.OK);
        var preferences = await RowsAsync(NotificationAuditActions.PreferencesUpdated, member.UserId.ToString());
        Assert.Equal(2, preferences.Count);
        Assert.False(Parse(preferences[0]).TryGetProperty("before", out var none) && none.ValueKind != JsonValueKind.Null);
        Assert.Equal(["slack"], Parse(preferences[1]).GetProperty("before").GetProperty("mutedChannels").EnumerateArray().Select(x => x.GetString()));
        Assert.Equal(["email", "slack"], Parse(preferences[1]).GetProperty("after").GetProperty("mutedChannels").EnumerateArray().Select(x => x.GetString()));
    }

    [Fact]
    public async Task TaskLifecycle_CreateCancelAndFinalTransitions_AreAuditedOnce()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        using var owner = Host.CreateClient(Org.OwnerToken);

        var queued = await agent.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "to cancel" });
        var createdRow = Assert.Single(await RowsAsync(AuditActions.TaskCreated, queued.Str("id")));
        Assert.Equal(("apikey", "to cancel"), (createdRow.ActorKind, Parse(createdRow).GetProperty("after").Str("title")));
        await owner.PostAsync(Org.Api($"tasks/{queued.Str("id")}/cancel"), null).ExpectAsync(HttpStatusCode.OK);
        var cancelled = Assert.Single(await RowsAsync(AuditActions.TaskCancelled, queued.Str("id")));
        Assert.Equal(("user", "cancelled", "cancel"), (cancelled.ActorKind, Parse(cancelled).GetProperty("after").Str("status"), Parse(cancelled).GetProperty("after").Str("transition")));

        var done = await agent.StartTaskAsync(Org);
        await agent.PostAsJsonAsync(Org.Api($"tasks/{done.TaskId}/complete"), new { leaseToken = done.Token }).ExpectAsync(HttpStatusCode.OK);
        var succeeded = Assert.Single(await RowsAsync(AuditActions.TaskSucceeded, done.TaskId));
        Assert.Equal(("running", "succeeded"), (Parse(succeeded).GetProperty("before").Str("status"), Parse(succeeded).GetProperty("after").Str("status")));
        Assert.DoesNotContain(done.Token, succeeded.Entry, StringComparison.Ordinal);

        var failing = await agent.StartTaskAsync(Org);
        await agent.PostAsJsonAsync(Org.Api($"tasks/{failing.TaskId}/fail"), new { leaseToken = failing.Token, error = "boom" }).ExpectAsync(HttpStatusCode.OK);
        var failed = Assert.Single(await RowsAsync(AuditActions.TaskFailed, failing.TaskId));
        Assert.Equal(("fail", "boom"), (Parse(failed).GetProperty("after").Str("transition"), Parse(failed).GetProperty("after").Str("error")));

        // A lease that expires on the last attempt fails the task, by the system.
        var expiring = await agent.StartTaskAsync(Org, new { maxAttempts = 1 }, leaseSeconds: 1);
        await agent.WaitForStatusAsync(Org, expiring.TaskId, "failed");
        var expired = Assert.Single(await RowsAsync(AuditActions.TaskFailed, expiring.TaskId));
        Assert.Equal(("system", "lease_expired"), (expired.ActorKind, Parse(expired).GetProperty("after").Str("transition")));

        // Claims and heartbeats are not final transitions: no entries for them.
        Assert.Equal([AuditActions.TaskCreated, AuditActions.TaskSucceeded], (await RowsForTargetAsync(done.TaskId)).Select(r => r.Action));
    }

    [Fact]
    public async Task Clarifications_AskedAnsweredExpiredAndCancelled_AreAuditedOnce()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        using var owner = Host.CreateClient(Org.OwnerToken);

        var lease = await agent.StartTaskAsync(Org);
        var question = await AskAsync(agent, lease, new { question = "Which branch?" });
        var asked = Assert.Single(await RowsAsync(AuditActions.ClarificationAsked, question.Str("id")));
        Assert.Equal(("apikey", "Which branch?"), (asked.ActorKind, Parse(asked).GetProperty("after").Str("question")));
        await owner.PostAsJsonAsync(Org.Api($"clarifications/{question.Str("id")}/answer"), new { answer = "main" }).ExpectAsync(HttpStatusCode.OK);
        var answered = Assert.Single(await RowsAsync(AuditActions.ClarificationAnswered, question.Str("id")));
        Assert.Equal(("user", "pending", "answered", "main"),
            (answered.ActorKind, Parse(answered).GetProperty("before").Str("status"), Parse(answered).GetProperty("after").Str("status"), Parse(answered).GetProperty("after").Str("answer")));

        var unanswered = await agent.StartTaskAsync(Org);
        var lapsing = await AskAsync(agent, unanswered, new { question = "Anyone?", expiresInSeconds = 1, onExpiry = "fail" });
        await agent.WaitForStatusAsync(Org, unanswered.TaskId, "failed");
        var expired = Assert.Single(await RowsAsync(AuditActions.ClarificationExpired, lapsing.Str("id")));
        Assert.Equal(("system", "expired"), (expired.ActorKind, Parse(expired).GetProperty("after").Str("status")));
        var taskFailed = Assert.Single(await RowsAsync(AuditActions.TaskFailed, unanswered.TaskId));
        Assert.Equal("question_expired", Parse(taskFailed).GetProperty("after").Str("transition"));

        var cancelledTask = await agent.StartTaskAsync(Org);
        var dropped = await AskAsync(agent, cancelledTask, new { question = "Still needed?" });
        await owner.PostAsync(Org.Api($"tasks/{cancelledTask.TaskId}/cancel"), null).ExpectAsync(HttpStatusCode.OK);
        var cancelled = Assert.Single(await RowsAsync(AuditActions.ClarificationCancelled, dropped.Str("id")));
        Assert.Equal("cancelled", Parse(cancelled).GetProperty("after").Str("status"));
        Assert.Single(await RowsAsync(AuditActions.TaskCancelled, cancelledTask.TaskId));
    }

    [Fact]
    public async Task Chains_AfterChaining_AreContiguous_AndEveryHashRecomputesFromTheContract()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        for (var i = 0; i < 5; i++)
        {
            await agent.CreateTaskAsync(Org, new { queue = Work.Unique("q"), title = "chain " + i });
        }

        await AuditTestSupport.WaitUntilChainedAsync(Host);
        await AuditTestSupport.AssertChainsIntactAsync(Host);
    }

    private static Task<JsonElement> AskAsync(HttpClient agent, Lease lease, object body)
    {
        var fields = JsonSerializer.SerializeToElement(body).EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value);
        fields["leaseToken"] = lease.Token;
        return agent.PostAsJsonAsync($"api/v1/orgs/acme/tasks/{lease.TaskId}/clarifications", fields).ExpectAsync(HttpStatusCode.Created);
    }

    private static JsonElement Parse(AuditRow row) => JsonDocument.Parse(row.Entry!).RootElement.Clone();

    private Task<Guid> OrgIdAsync(string slug) => AuditTestSupport.OrgIdAsync(Host, slug);

    private Task<IReadOnlyList<AuditRow>> RowsAsync(string action, string? targetId = null) => AuditTestSupport.RowsAsync(Host, action, targetId);

    private async Task<IReadOnlyList<AuditRow>> RowsForTargetAsync(string targetId)
    {
        await using var c = await Host.Services.GetRequiredService<Database>().OpenReadAsync();
        return (await c.QueryAsync<AuditRow>($"SELECT {AuditTestSupport.Columns} FROM audit_entries WHERE target_id = @targetId ORDER BY id", new { targetId })).AsList();
    }
}

public sealed class SqliteAuditCoverageTests(SqliteHostFixture fixture) : AuditCoverageTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresAuditCoverageTests(PostgresHostFixture fixture) : AuditCoverageTests(fixture), IClassFixture<PostgresHostFixture>;
