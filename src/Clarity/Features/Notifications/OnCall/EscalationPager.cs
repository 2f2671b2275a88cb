using System.Text.Json;
using Clarity.Storage;

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
    Task PageAsync(Change change, EscalationPageRequest page);
}

/// <summary>
/// The pager until the notification core is wired in: it records the page in the timeline and emits
/// <see cref="EscalationChanged"/> (step <c>notified</c>) to the outbox, so a page is observable on every node.
/// </summary>
public sealed class TimelineEscalationPager : IEscalationPager
{
    public Task PageAsync(Change change, EscalationPageRequest page) => RecordAsync(change, page);

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
