using System.Text.Json;
using Clarity.Events;
using Xunit;

namespace Clarity.Tests.Events;

/// <summary>Every event type has a kind and a topic, and its outbox row reads back as the same event.</summary>
public sealed class EventCatalogTests
{
    private static readonly Guid Org = Guid.CreateVersion7();
    private static readonly Guid Task = Guid.CreateVersion7();

    public static TheoryData<ClarityEvent> Samples =>
    [
        new TaskChanged(Org, Task, "builds", "running", HasLabels: true) { Title = "t", Attempts = 2, MaxAttempts = 3, AgentId = Guid.CreateVersion7() },
        new LogsAppended(Org, Task, 3, 7),
        new ClarificationChanged(Org, Guid.CreateVersion7(), Task, "pending"),
        new AgentSeen(Org, Guid.CreateVersion7(), "a1"),
        new OrgCreated(Org, "acme", Guid.CreateVersion7()),
        new MemberJoined(Org, Guid.CreateVersion7(), "viewer"),
        new MemberRoleChanged(Org, Guid.CreateVersion7(), "admin", "member"),
        new MembershipEnded(Org, Guid.CreateVersion7()),
        new InvitationChanged(Org, Guid.CreateVersion7(), "member", "pending"),
        new ApiKeyCreated(Org, Guid.CreateVersion7(), "ci", "member"),
        new ApiKeyRevoked(Org, Guid.CreateVersion7()),
        new ApiKeysChanged(Org, [Guid.CreateVersion7(), Guid.CreateVersion7()]),
        new SessionsRevoked(Guid.CreateVersion7(), [Guid.CreateVersion7()]),
        new WorkflowChanged(Org, Guid.CreateVersion7(), "publish", "label_set", 3, "stable"),
    ];

    [Theory]
    [MemberData(nameof(Samples))]
    public void AnEventsRow_ReadsBackAsTheSameEvent_WithItsOrgActorAndCorrelation(ClarityEvent evt)
    {
        var actor = Actor.User(Guid.CreateVersion7());
        var stamped = evt with { Actor = actor, CorrelationId = "corr-1" };

        var row = EventRow.From(stamped, 1234);
        var back = row.ToEvent()!;

        Assert.Equal(evt.GetType(), back.GetType());
        Assert.Equal(JsonSerializer.Serialize(stamped, stamped.GetType()), JsonSerializer.Serialize(back, back.GetType()));
        Assert.Equal((stamped.OrgId, actor, "corr-1"), (back.OrgId, back.Actor, back.CorrelationId));
        Assert.Equal((1234L, stamped.Subject), (row.CreatedAt, row.Subject));
        Assert.DoesNotContain("orgId", row.Payload, StringComparison.Ordinal);
    }

    [Fact]
    public void StreamedEvents_KeepTheirKindsTopicsAndDataFields()
    {
        var task = EventRow.From(new TaskChanged(Org, Task, "builds", "running", HasLabels: false), 0);
        Assert.Equal(("tasks", "task"), (task.Topic, task.Kind));
        var data = JsonDocument.Parse(task.Payload).RootElement;
        Assert.Equal((Task.ToString(), "builds", "running"), (data.GetProperty("taskId").GetString(), data.GetProperty("queue").GetString(), data.GetProperty("status").GetString()));

        Assert.Equal(($"task:{Task}:logs", "logs"), (EventRow.From(new LogsAppended(Org, Task, 1, 2), 0).Topic, "logs"));
        Assert.Equal("clarifications", EventRow.From(new ClarificationChanged(Org, Guid.NewGuid(), Task, "pending"), 0).Topic);
        Assert.Equal("agents", EventRow.From(new AgentSeen(Org, Guid.NewGuid(), "a"), 0).Topic);

        // Identity events inform the nodes but are never streamed: no topic.
        Assert.Equal("", EventRow.From(new ApiKeyRevoked(Org, Guid.NewGuid()), 0).Topic);
        Assert.Equal("", EventRow.From(new SessionsRevoked(Guid.NewGuid(), []), 0).Topic);
    }

    [Fact]
    public void AKindThisVersionDoesNotKnow_ReadsAsNothing()
    {
        var row = new EventRow { Kind = "future.thing", Payload = "{}" };
        Assert.Null(row.ToEvent());
    }
}
