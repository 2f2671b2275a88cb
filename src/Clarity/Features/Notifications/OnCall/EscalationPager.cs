using System.Text.Json;
using Clarity.Hosting;
using Clarity.Storage;
using Dapper;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Notifications.OnCall;

/// <summary>
/// One page of an escalation: the on-call users of a step's targets at that moment, whom the pager must reach. Carries
/// the escalation's correlation id (every delivery of the page should carry it too) and the view channels render;
/// <see cref="IsTest"/> marks a drill's page, which every channel must show clearly as a test.
/// </summary>
public sealed record EscalationPageRequest(
    Guid OrgId, Guid EscalationId, IReadOnlyList<Guid> Users, EscalationStep Step, string CorrelationId, NotificationView? View, bool IsTest, DateTimeOffset At);

/// <summary>
/// Reaches the people of one page, inside the escalation's unit of work (the change it is given): an implementation
/// writes deliveries (the notification core's outbox), never sends on the request's path. It must record the page in the
/// escalation's timeline: <see cref="TimelineEscalationPager.RecordAsync"/> does that, and a pager on top of the
/// notification core calls it as well as writing its deliveries.
/// </summary>
public interface IEscalationPager
{
    /// <summary>Pages; returns the channels chosen per person, which travel on the page's outbox event.</summary>
    Task<IReadOnlyList<PageTarget>> PageAsync(Change change, EscalationPageRequest page);
}

/// <summary>
/// A pager that only records the page in the timeline (the service emits <see cref="EscalationChanged"/>, step
/// <c>notified</c>, without targets, so nobody is reached); <see cref="RecordAsync"/> is what every pager calls.
/// </summary>
public sealed class TimelineEscalationPager : IEscalationPager
{
    public async Task<IReadOnlyList<PageTarget>> PageAsync(Change change, EscalationPageRequest page)
    {
        await RecordAsync(change, page);
        return [];
    }

    public static async Task RecordAsync(Change change, EscalationPageRequest page)
    {
        var step = page.Step;
        var detail = (step.IsFallback ? "fallback" : $"level {step.Level}") + (step.Round > 0 ? $", round {step.Round + 1}" : "")
            + (page.Users.Count == 0 ? ": nobody on call" : "") + (page.IsTest ? " (test page)" : "");
        await EscalationStore.InsertEventAsync(change, new EscalationEventRow
        {
            Id = Guid.CreateVersion7(),
            EscalationId = page.EscalationId,
            OrgId = page.OrgId,
            At = DbTime.ToDb(page.At),
            Kind = EscalationEventKinds.Notified,
            Level = step.Level,
            Recipients = JsonSerializer.Serialize(page.Users),
            Detail = detail,
        });
    }
}

/// <summary>
/// The pager on the notification core. Inside the escalation's unit of work it records the page in the timeline and
/// chooses, for every person paged who is still a member of the org, the channels that can reach them: email to their
/// account's address always; web push when they have a device with push notifications on; a Slack DM when Slack runs
/// with a bot token (the Slack user is found by the person's email when the message is sent: <c>users.lookupByEmail</c>).
/// The choice travels on the page's own outbox event (<see cref="EscalationChanged.Targets"/>, committed with the step),
/// and the notification fan-out turns it into deliveries keyed (event seq, channel, recipient): a page is durable exactly
/// when its step commits, and reading the event again never pages twice. Every delivery carries the escalation's
/// correlation id (the event's).
/// </summary>
public sealed class DeliveryEscalationPager(IOptions<ClarityOptions> options) : IEscalationPager
{
    public async Task<IReadOnlyList<PageTarget>> PageAsync(Change change, EscalationPageRequest page)
    {
        await TimelineEscalationPager.RecordAsync(change, page);
        if (page.Users.Count == 0)
        {
            return [];
        }

        var users = page.Users.ToArray();
        var members = (await change.Connection.QueryAsync<Guid>(
            $"SELECT user_id FROM memberships WHERE org_id = @orgId AND {change.Dialect.InList("user_id", "@users")}",
            new { orgId = page.OrgId, users }, change.Transaction)).ToHashSet();
        var pushable = (await change.Connection.QueryAsync<Guid>(
            $"SELECT DISTINCT user_id FROM push_subscriptions WHERE {change.Dialect.InList("user_id", "@users")}",
            new { users }, change.Transaction)).ToHashSet();
        var slack = options.Value.Slack.UsesBotToken;
        var targets = new List<PageTarget>();
        foreach (var user in page.Users.Where(members.Contains))
        {
            targets.Add(new PageTarget(user, NotificationChannels.Email));
            if (pushable.Contains(user))
            {
                targets.Add(new PageTarget(user, NotificationChannels.WebPush));
            }

            if (slack)
            {
                targets.Add(new PageTarget(user, NotificationChannels.Slack));
            }
        }

        return targets;
    }
}
