using System.Collections.Concurrent;
using System.Text.Json;
using Clarity.Events;
using Clarity.Features.Tasks;
using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Agents;

public sealed class AgentService(AgentStore store, Changes changes, IOptions<ClarityOptions> options, TimeProvider clock)
{
    // (org, name) → (id, last time last_seen_at was written). Keeps checkout from writing last_seen on every poll.
    private readonly ConcurrentDictionary<(Guid, string), (Guid Id, long TouchedAt)> _seen = new();
    private const long TouchEveryMs = 5_000;

    public async Task<(Agent Agent, bool Created)> RegisterAsync(OrgContext org, RegisterAgentRequest request, CancellationToken ct)
    {
        var name = ValidName(request.Name);
        var labels = Check.Labels(request.Labels, "labels");
        var (id, created) = await UpsertAsync(org, name, labels, ct);
        return (await GetAsync(org, id, ct), created);
    }

    /// <summary>Finds or registers the named agent and records that it was seen (at most every few seconds).</summary>
    public async Task<Guid> SeenAsync(OrgContext org, string name, CancellationToken ct)
    {
        if (_seen.TryGetValue((org.OrgId, name), out var seen) && clock.GetUtcNow().ToUnixTimeMilliseconds() - seen.TouchedAt < TouchEveryMs)
        {
            return seen.Id;
        }

        return (await UpsertAsync(org, name, null, ct)).Id;
    }

    /// <summary>Registers the agent, or records that it was seen (and its labels, when given), with its event.</summary>
    private async Task<(Guid Id, bool Created)> UpsertAsync(OrgContext org, string name, IReadOnlyList<string>? labels, CancellationToken ct)
    {
        var (id, created, at) = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var (id, created) = await AgentStore.UpsertAsync(change, org.OrgId, name, labels);
            change.Emit(new AgentSeen(org.OrgId, id, name));
            return (id, created, change.Now);
        }, ct);
        _seen[(org.OrgId, name)] = (id, at);
        return (id, created);
    }

    /// <summary>One page of the org's agents, by name; <see cref="AgentPage.NextCursor"/> names the next page.</summary>
    public async Task<AgentPage> ListAsync(OrgContext org, string? cursor, int? limit, CancellationToken ct)
    {
        var take = Check.Range(limit, "limit", 1, 200, 50);
        var after = Cursor.Decode(cursor);
        var rows = await store.ListAsync(org.OrgId, after, take + 1, ct);
        var items = rows.Take(take).Select(ToModel).ToList();
        return new AgentPage(items, rows.Count > take ? Cursor.Encode(items[^1].Id) : null);
    }

    /// <summary>The names of the org's agents among <paramref name="ids"/> (an id that is no agent of the org is left out).</summary>
    public Task<IReadOnlyDictionary<Guid, string>> NamesAsync(OrgContext org, IEnumerable<Guid> ids, CancellationToken ct) =>
        store.NamesAsync(org.OrgId, ids.ToHashSet(), ct);

    public async Task<Agent> GetAsync(OrgContext org, Guid id, CancellationToken ct) =>
        ToModel(await store.FindAsync(org.OrgId, id, ct) ?? throw Problems.NotFound("Agent"));

    /// <summary>
    /// The busy share of the last <paramref name="window"/> (0..1) of each of <paramref name="agentIds"/>: the time it
    /// held tasks (running or awaiting a response) divided by the window. Agents with no task in the window are absent (0).
    /// </summary>
    public async Task<IReadOnlyDictionary<Guid, double>> UtilizationAsync(OrgContext org, IEnumerable<Guid> agentIds, TimeSpan window, CancellationToken ct)
    {
        var now = DbTime.ToDb(clock.GetUtcNow());
        var span = (long)window.TotalMilliseconds;
        var rows = await store.BusyMillisecondsAsync(org.OrgId, agentIds.ToHashSet(), now - span, now, ct);
        return rows.ToDictionary(r => r.AgentId, r => Math.Clamp((double)r.BusyMs / span, 0, 1));
    }

    public static string ValidName(string? name)
    {
        var value = Check.Required(name, "agent", 100);
        if (value.Any(char.IsControl))
        {
            throw Problems.Validation("agent", "must not contain control characters.");
        }

        return value;
    }

    private Agent ToModel(AgentStore.AgentRow row)
    {
        var lastSeen = DbTime.FromDb(row.LastSeenAt);
        var status = AgentStatus.Derive(row.CurrentTaskId is not null, lastSeen, clock.GetUtcNow(), TimeSpan.FromSeconds(options.Value.Tasks.AgentOfflineAfterSeconds));
        return new Agent(row.Id, row.Name, JsonSerializer.Deserialize<string[]>(row.Labels) ?? [], status, row.CurrentTaskId, DbTime.FromDb(row.CreatedAt), lastSeen);
    }
}
