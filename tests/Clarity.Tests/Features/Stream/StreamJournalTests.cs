using System.Text;
using System.Text.Json;
using Clarity.Events;
using Clarity.Events.Stream;
using Xunit;

namespace Clarity.Tests.Features.Stream;

/// <summary>The journal's pure parts: which events are streamed, and NOTIFY payloads that stay under PostgreSQL's 8000-byte limit.</summary>
public sealed class StreamJournalTests
{
    [Fact]
    public void ToRow_MapsEachEventToItsTopicKindAndData_AndSkipsApiKeyRevocations()
    {
        var org = Guid.CreateVersion7();
        var task = Guid.CreateVersion7();
        var row = StreamJournal.ToRow(new TaskChanged(org, task, "builds", "running", HasLabels: false) { CorrelationId = "c-1" }, 1234)!;
        Assert.Equal(("tasks", "task", "c-1", 1234L, org), (row.Topic, row.Kind, row.CorrelationId, row.CreatedAt, row.OrgId));
        Assert.Equal($$"""{"taskId":"{{task}}","queue":"builds","status":"running"}""", row.Payload);

        var logs = StreamJournal.ToRow(new LogsAppended(org, task, 3, 7), 0)!;
        Assert.Equal(($"task:{task}:logs", "logs"), (logs.Topic, logs.Kind));
        Assert.Equal($$"""{"taskId":"{{task}}","firstSeq":3,"lastSeq":7}""", logs.Payload);

        var clarification = Guid.CreateVersion7();
        Assert.Equal(("clarifications", "clarification"), (StreamJournal.ToRow(new ClarificationChanged(org, clarification, task, "pending"), 0)!.Topic, "clarification"));
        Assert.Equal("agents", StreamJournal.ToRow(new AgentSeen(org, Guid.CreateVersion7(), "a1"), 0)!.Topic);
        Assert.Null(StreamJournal.ToRow(new ApiKeyRevoked(org, Guid.CreateVersion7()), 0));
    }

    [Fact]
    public void NotifyPayloads_StayUnder8000Bytes_KeepEveryRowInOrder_AndSendOversizedRowsByIdOnly()
    {
        var org = Guid.CreateVersion7();
        var rows = Enumerable.Range(1, 300).Select(i => new StreamRow
        {
            Id = i,
            OrgId = org,
            Topic = "agents",
            Kind = "agent",
            Payload = JsonSerializer.Serialize(new { agentId = Guid.CreateVersion7(), name = new string('é', i % 7 == 0 ? 5000 : 40) }),
            CreatedAt = i,
        }).ToList();

        var payloads = StreamJournal.NotifyPayloads(rows).ToList();
        Assert.True(payloads.Count > 1);
        Assert.All(payloads, p => Assert.True(Encoding.UTF8.GetByteCount(p) < 8000, $"{Encoding.UTF8.GetByteCount(p)} bytes"));
        var items = payloads.SelectMany(p => JsonDocument.Parse(p).RootElement.EnumerateArray().Select(e => e.Clone())).ToList();
        Assert.Equal(Enumerable.Range(1, 300).Select(i => (long)i), items.Select(e => e.GetProperty("i").GetInt64()));
        foreach (var item in items)
        {
            var id = item.GetProperty("i").GetInt64();
            Assert.Equal(id % 7 != 0, item.TryGetProperty("p", out _));
        }
    }
}
