using System.Collections.Concurrent;
using System.Data.Common;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Tests.Features.Stream;
using Clarity.Tests.Features.Webhooks;
using Clarity.Tests.Infrastructure;
using Dapper;
using Xunit;
using Xunit.Abstractions;

namespace Clarity.Tests.Hosting;

/// <summary>
/// Crash consistency of the one change path: a change and its events commit together or not at all, and the stream
/// reads them in one order that survives a crash. The real server runs as a child process under mixed load (tasks
/// created, checked out, logged, asked about and answered, cancelled and completed; people invited, joining and
/// changing roles), a stream client follows it live, and the server is killed with SIGKILL in the middle of it and
/// started again on the same data (<see cref="CrashRun"/> does this once per backend; the facts check the outcome).
/// </summary>
public abstract class CrashConsistencyTests(CrashRun run, ITestOutputHelper output)
{
    [Fact]
    public async Task KillDashNine_EveryAcknowledgedChangeIsStored_WithItsEvent()
    {
        output.WriteLine(run.Timeline);
        var ledger = run.Ledger;
        using var member = ClarityHost.ClientFor(run.Server.BaseAddress, run.MemberKey);
        using var owner = ClarityHost.ClientFor(run.Server.BaseAddress, run.OwnerToken);
        await VerifyStateAsync(member, owner, ledger);

        // The streamed events, replayed from the very start on the restarted server.
        var table = await run.ReadOutboxAsync();
        var events = new List<JsonElement>();
        foreach (var topics in run.TopicGroups())
        {
            events.AddRange(await run.ReplayAsync(topics, 0));
        }

        events = [.. events.OrderBy(e => e.Id())];
        var taskStatuses = events.Where(e => e.IsEvent("task")).GroupBy(e => e.GetProperty("data").Str("taskId"))
            .ToDictionary(g => g.Key, g => g.Select(e => e.GetProperty("data").Str("status")).ToList());
        foreach (var (id, acked) in ledger.TaskStatuses)
        {
            var seen = taskStatuses.GetValueOrDefault(id) ?? [];
            Assert.True(IsSubsequence(acked, seen), $"Task {id}: acknowledged transitions [{string.Join(", ", acked)}] are not all among its events [{string.Join(", ", seen)}].");
            Assert.Equal("queued", seen[0]);
        }

        var logEvents = events.Where(e => e.IsEvent("logs")).Select(e => e.GetProperty("data"))
            .ToDictionary(d => (d.Str("taskId"), d.GetProperty("firstSeq").GetInt64()));
        foreach (var batch in ledger.LogBatches)
        {
            Assert.True(logEvents.TryGetValue((batch.TaskId, batch.FirstSeq), out var data), $"No logs event for the acknowledged lines {batch.TaskId}#{batch.FirstSeq}..{batch.LastSeq}.");
            Assert.Equal(batch.LastSeq, data.GetProperty("lastSeq").GetInt64());
            Assert.False(data.GetProperty("truncated").GetBoolean());
            Assert.Equal(batch.Texts, data.GetProperty("lines").EnumerateArray().Select(l => l.Str("text")));
        }

        var clarificationStatuses = events.Where(e => e.IsEvent("clarification")).GroupBy(e => e.GetProperty("data").Str("clarificationId"))
            .ToDictionary(g => g.Key, g => g.Select(e => e.GetProperty("data").Str("status")).ToList());
        foreach (var (id, acked) in ledger.ClarificationStatuses)
        {
            var seen = clarificationStatuses.GetValueOrDefault(id) ?? [];
            Assert.True(IsSubsequence(acked, seen), $"Clarification {id}: acknowledged [{string.Join(", ", acked)}] are not all among its events [{string.Join(", ", seen)}].");
        }

        // Membership events are not streamed: they are in the outbox, which every other consumer reads.
        var byKind = table.Where(r => r.Seq is not null).OrderBy(r => r.Seq)
            .GroupBy(r => r.Kind).ToDictionary(g => g.Key, g => g.Select(r => JsonDocument.Parse(r.Payload).RootElement.Clone()).ToList());
        List<JsonElement> Of(string kind) => byKind.GetValueOrDefault(kind) ?? [];
        foreach (var (id, _) in ledger.Invited)
        {
            Assert.Contains(Of("invitation"), p => p.Str("invitationId") == id && p.Str("status") == "pending");
        }

        foreach (var (userId, joined) in ledger.Joined)
        {
            Assert.Contains(Of("invitation"), p => p.Str("invitationId") == joined.InvitationId && p.Str("status") == "accepted");
            Assert.Contains(Of("member.joined"), p => p.Str("userId") == userId && p.Str("role") == "member");
            var changes = Of("member.role-changed").Where(p => p.Str("userId") == userId).Select(p => (p.Str("from"), p.Str("to"))).ToList();
            var acked = joined.Roles.Zip(joined.Roles.Skip(1)).ToList();
            Assert.True(IsSubsequence(acked, changes), $"Member {userId}: acknowledged role changes [{string.Join(", ", acked)}] are not all among its events [{string.Join(", ", changes)}].");
        }
    }

    [Fact]
    public async Task KillDashNine_StreamResumedFromACursorTakenBeforeTheCrash_GetsEveryLaterEventOnce_InIdOrder()
    {
        output.WriteLine(run.Timeline);
        var table = await run.ReadOutboxAsync();

        // The outbox itself: every row has its place, and the places are 1..N with no hole and no repeat.
        Assert.DoesNotContain(table, r => r.Seq is null);
        var seqs = table.Select(r => r.Seq!.Value).Order().ToList();
        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs);

        // What the live client saw before the crash is what the table holds under those ids: nothing was renumbered.
        var bySeq = table.ToDictionary(r => r.Seq!.Value);
        foreach (var seen in run.LiveBeforeCrash)
        {
            Assert.True(bySeq.TryGetValue(seen.Id(), out var row), $"Event {seen.Id()} was streamed before the crash and is gone after it.");
            Assert.True(Matches(seen, row), $"Event {seen.Id()} was streamed before the crash as {seen} and is {row} after it.");
        }

        // Resuming from the cursor (each group of topics on one connection): exactly the rows after it, once each, in id order.
        Assert.True(run.LiveBeforeCrash.Any(e => e.Id() > run.Cursor), "The live client saw no event after the cursor before the crash.");
        var resumed = new List<JsonElement>();
        foreach (var topics in run.TopicGroups())
        {
            resumed.AddRange(await run.ReplayAsync(topics, run.Cursor));
        }

        var resumedIds = resumed.Select(e => e.Id()).ToHashSet();
        foreach (var seen in run.LiveBeforeCrash.Where(e => e.Id() > run.Cursor))
        {
            Assert.Contains(seen.Id(), resumedIds);
        }

        output.WriteLine($"Resumed after {run.Cursor}: {resumed.Count} events, {resumed.Count(e => run.LiveBeforeCrash.All(l => l.Id() != e.Id()))} of them never streamed before the crash.");

        // A browser's EventSource resumes with the Last-Event-ID header: the same events, in the same order.
        var overSse = (await run.ResumeOverSseAsync(run.Cursor)).Select(e => e.Id!.Value).ToList();
        var overWebSocket = resumed.Where(e => CrashRun.BroadTopics.Contains(e.Str("topic"))).Select(e => e.Id()).ToList();
        Assert.Equal(overWebSocket, overSse.Take(overWebSocket.Count));
    }

    [Fact]
    public async Task KillDashNine_EveryAcknowledgedChangeHasExactlyOneAuditEntry_AndTheChainVerifies()
    {
        output.WriteLine(run.Timeline);
        var entries = await run.ReadAuditAsync();
        var byKey = entries.GroupBy(AuditKey).ToDictionary(g => g.Key, g => g.Count());

        // At least once: every acknowledged change has its entry. At most once: no change, acknowledged or not, has two.
        var expected = ExpectedAuditEntries(run.Ledger).ToList();
        foreach (var key in expected)
        {
            Assert.True(byKey.TryGetValue(key, out var n) && n == 1, $"The acknowledged change {key} has {byKey.GetValueOrDefault(key)} audit entries, not exactly one.");
        }

        var audited = expected.Select(k => k.Action).ToHashSet();
        var repeated = byKey.Where(g => audited.Contains(g.Key.Action) && g.Value > 1).Select(g => $"{g.Key} ×{g.Value}").ToList();
        Assert.True(repeated.Count == 0, "Changes with more than one audit entry: " + string.Join(", ", repeated));
        output.WriteLine($"{entries.Count} audit entries in the chain; {expected.Count} acknowledged changes checked.");

        // The chain verifies: over the API on the restarted server, and with the CLI straight on the database.
        using var owner = ClarityHost.ClientFor(run.Server.BaseAddress, run.OwnerToken);
        var verdict = await owner.GetAsync("api/v1/orgs/acme/audit/verify").ExpectAsync(HttpStatusCode.OK);
        Assert.True(verdict.GetProperty("intact").GetBoolean(), $"The chain does not verify after the crash: {verdict}");
        Assert.True(verdict.GetProperty("entries").GetInt64() >= entries.Count, $"The verifier saw fewer entries than the table holds ({entries.Count}): {verdict}");

        var (exit, stdout, stderr) = await Cli.ClarityProcess.RunAsync(run.Database is null
            ? ["audit", "verify", "--org", "acme", "--data", run.DataDirectory]
            : ["audit", "verify", "--org", "acme", "--database", run.Database]);
        Assert.True(exit == 0, $"clarity audit verify exited {exit}:{Environment.NewLine}{stdout}{Environment.NewLine}{stderr}");
        Assert.Contains("intact", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KillDashNine_WebhookReceiverSeesEveryAcknowledgedEventAtLeastOnce_EachDeliverySigned()
    {
        output.WriteLine(run.Timeline);
        var expected = ExpectedWebhookEvents(run.Ledger).GroupBy(k => k).ToDictionary(g => g.Key, g => g.Count());

        // The restarted server catches up on what the crash interrupted: wait (generously) until every event has arrived.
        Dictionary<(string Type, string Subject), int> Seen() => run.Hooks.Received
            .Select(d => (d.MessageId, Key: WebhookKey(d.Json)))
            .Distinct()
            .GroupBy(d => d.Key)
            .ToDictionary(g => g.Key, g => g.Count());
        List<string> Missing(Dictionary<(string Type, string Subject), int> seen) =>
            [.. expected.Where(e => seen.GetValueOrDefault(e.Key) < e.Value).Select(e => $"{e.Key} (seen {seen.GetValueOrDefault(e.Key)} of {e.Value})")];
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        var missing = Missing(Seen());
        while (missing.Count > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
            missing = Missing(Seen());
        }

        Assert.True(missing.Count == 0, $"The receiver never saw {missing.Count} acknowledged events: {string.Join(", ", missing.Take(20))}{Environment.NewLine}{run.Hooks}{Environment.NewLine}{run.Server.OutputTail}");

        // Every delivery (duplicates included) carries our signature over its exact bytes, and its id and type are the event's.
        var received = run.Hooks.Received;
        foreach (var delivery in received)
        {
            Assert.True(delivery.SignedWith(run.HookSecret), $"Delivery {delivery.MessageId} ({System.Text.Encoding.UTF8.GetString(delivery.Body)}) is not signed with the endpoint's secret: {delivery.Signature}");
            Assert.StartsWith("msg_", delivery.MessageId, StringComparison.Ordinal);
        }

        var duplicates = received.Count - received.Select(d => d.MessageId).Distinct().Count();
        output.WriteLine($"{received.Count} deliveries received, {duplicates} of them again (same webhook-id); {expected.Values.Sum()} acknowledged events checked.");
    }

    /// <summary>What identifies an audit entry's change: its action and target, and for a role change the role it set.</summary>
    private static (string Action, string Target) AuditKey(AuditEntryRow row)
    {
        var target = $"{row.TargetType}:{row.TargetId}";
        if (row.Action == "member.role_changed" && row.Entry is { } entry)
        {
            using var json = JsonDocument.Parse(entry);
            target += "→" + json.RootElement.GetProperty("after").Str("role");
        }

        return (row.Action, target);
    }

    /// <summary>The audit entries the acknowledged changes must have written (checkouts, resumptions and log lines are not audited).</summary>
    private static IEnumerable<(string Action, string Target)> ExpectedAuditEntries(CrashLedger ledger)
    {
        yield return ("webhook.created", $"webhook:{ledger.WebhookId}");
        foreach (var (id, _) in ledger.ApiKeys)
        {
            yield return ("apikey.created", $"apikey:{id}");
        }

        foreach (var (id, statuses) in ledger.TaskStatuses)
        {
            List<string> acked;
            lock (statuses)
            {
                acked = [.. statuses];
            }

            yield return ("task.created", $"task:{id}");
            if (acked[^1] is "succeeded" or "cancelled")
            {
                yield return ($"task.{acked[^1]}", $"task:{id}");
            }
        }

        foreach (var (id, statuses) in ledger.ClarificationStatuses)
        {
            List<string> acked;
            lock (statuses)
            {
                acked = [.. statuses];
            }

            foreach (var status in acked)
            {
                yield return (status == "pending" ? "clarification.asked" : $"clarification.{status}", $"clarification:{id}");
            }
        }

        foreach (var (id, _) in ledger.Invited)
        {
            yield return ("invitation.created", $"invitation:{id}");
        }

        foreach (var (userId, joined) in ledger.Joined)
        {
            yield return ("invitation.accepted", $"invitation:{joined.InvitationId}");
            yield return ("member.joined", $"member:{userId}");
            List<string> roles;
            lock (joined.Roles)
            {
                roles = [.. joined.Roles];
            }

            foreach (var role in roles.Skip(1))
            {
                yield return ("member.role_changed", $"member:{userId}→{role}");
            }
        }
    }

    /// <summary>What identifies a delivered event: its public type and subject, and for a role change the role it set.</summary>
    private static (string Type, string Subject) WebhookKey(JsonElement body)
    {
        var type = body.Str("type");
        var data = body.GetProperty("data");
        var subject = type.Split('.')[0] switch
        {
            "task" => data.Str("taskId"),
            "clarification" => data.Str("clarificationId"),
            "invitation" => data.Str("invitationId"),
            "member" => type == "member.role_changed" ? $"{data.Str("userId")}→{data.Str("to")}" : data.Str("userId"),
            "apikey" => data.Str("keyId"),
            _ => "",
        };
        return (type, subject);
    }

    /// <summary>The public events of the acknowledged changes, one item per event (a task starts twice when its question is answered).</summary>
    private static IEnumerable<(string Type, string Subject)> ExpectedWebhookEvents(CrashLedger ledger)
    {
        foreach (var (id, _) in ledger.ApiKeys)
        {
            yield return ("apikey.created", id);
        }

        foreach (var (id, statuses) in ledger.TaskStatuses)
        {
            List<string> acked;
            lock (statuses)
            {
                acked = [.. statuses];
            }

            foreach (var status in acked)
            {
                yield return (status switch { "queued" => "task.created", "running" => "task.started", _ => $"task.{status}" }, id);
            }
        }

        foreach (var (id, statuses) in ledger.ClarificationStatuses)
        {
            List<string> acked;
            lock (statuses)
            {
                acked = [.. statuses];
            }

            foreach (var status in acked)
            {
                yield return (status == "pending" ? "clarification.asked" : $"clarification.{status}", id);
            }
        }

        foreach (var (id, _) in ledger.Invited)
        {
            yield return ("invitation.created", id);
        }

        foreach (var (userId, joined) in ledger.Joined)
        {
            yield return ("invitation.accepted", joined.InvitationId);
            yield return ("member.joined", userId);
            List<string> roles;
            lock (joined.Roles)
            {
                roles = [.. joined.Roles];
            }

            foreach (var role in roles.Skip(1))
            {
                yield return ("member.role_changed", $"{userId}→{role}");
            }
        }
    }

    private async Task VerifyStateAsync(HttpClient member, HttpClient owner, CrashLedger ledger)
    {
        foreach (var (id, title) in ledger.Tasks)
        {
            var task = await member.GetAsync($"api/v1/orgs/acme/tasks/{id}").ExpectAsync(HttpStatusCode.OK);
            Assert.Equal(title, task.Str("title"));
            var statuses = ledger.TaskStatuses[id];
            if (statuses[^1] is "succeeded" or "cancelled")
            {
                Assert.Equal(statuses[^1], task.Str("status"));
            }
        }

        foreach (var group in ledger.LogBatches.GroupBy(b => b.TaskId))
        {
            var stored = new Dictionary<long, string>();
            long after = 0;
            while (true)
            {
                var page = await member.GetAsync($"api/v1/orgs/acme/tasks/{group.Key}/logs?afterSeq={after}&limit=1000").ExpectAsync(HttpStatusCode.OK);
                foreach (var entry in page.GetProperty("entries").EnumerateArray())
                {
                    stored[entry.GetProperty("seq").GetInt64()] = entry.Str("text");
                }

                if (page.IsNull("nextAfterSeq"))
                {
                    break;
                }

                after = page.GetProperty("nextAfterSeq").GetInt64();
            }

            foreach (var batch in group)
            {
                for (var i = 0; i < batch.Texts.Count; i++)
                {
                    Assert.True(stored.TryGetValue(batch.FirstSeq + i, out var text), $"Acknowledged log line {batch.TaskId}#{batch.FirstSeq + i} is missing.");
                    Assert.Equal(batch.Texts[i], text);
                }
            }
        }

        foreach (var (id, statuses) in ledger.ClarificationStatuses)
        {
            var clarification = await member.GetAsync($"api/v1/orgs/acme/clarifications/{id}").ExpectAsync(HttpStatusCode.OK);
            if (statuses[^1] != "pending")
            {
                Assert.Equal(statuses[^1], clarification.Str("status"));
            }

            if (ledger.Answers.TryGetValue(id, out var answer))
            {
                Assert.Equal(answer, clarification.Str("answer"));
            }
        }

        var members = (await owner.GetAsync("api/v1/orgs/acme/members?limit=200").ExpectAsync(HttpStatusCode.OK)).GetProperty("items")
            .EnumerateArray().ToDictionary(m => m.Str("userId"), m => m.Str("role"));
        var accepted = (await owner.GetAsync("api/v1/orgs/acme/invitations?status=accepted&limit=200").ExpectAsync(HttpStatusCode.OK)).GetProperty("items")
            .EnumerateArray().Select(i => i.Str("id")).ToHashSet();
        foreach (var (userId, joined) in ledger.Joined)
        {
            Assert.True(members.TryGetValue(userId, out var role), $"Member {userId} joined (acknowledged) and is not a member after the crash.");

            // The last role acknowledged, or the next one: a change can commit and the kill land before its answer is sent.
            string[] roles;
            lock (joined.Roles)
            {
                roles = [.. joined.Roles];
            }

            string[] possible = [roles[^1], .. CrashRun.RoleChanges.Skip(roles.Length - 1).Take(1)];
            Assert.True(possible.Contains(role), $"Member {userId}: role {role} after the crash; acknowledged [{string.Join(", ", roles)}], so it must be one of [{string.Join(", ", possible)}].");
            Assert.Contains(joined.InvitationId, accepted);
        }
    }

    /// <summary>A streamed event and the outbox row it came from agree (for <c>logs</c>, the stored part of the data).</summary>
    internal static bool Matches(JsonElement streamed, OutboxRow row)
    {
        if (streamed.Id() != row.Seq || streamed.Str("event") != row.Kind || streamed.Str("topic") != row.Topic)
        {
            return false;
        }

        using var stored = JsonDocument.Parse(row.Payload);
        var data = streamed.GetProperty("data");
        return row.Kind == "logs"
            ? stored.RootElement.EnumerateObject().All(p => data.TryGetProperty(p.Name, out var v) && JsonElement.DeepEquals(v, p.Value))
            : JsonElement.DeepEquals(data, stored.RootElement);
    }

    private static bool IsSubsequence<T>(IReadOnlyList<T> wanted, IReadOnlyList<T> actual)
    {
        var i = 0;
        foreach (var item in actual)
        {
            if (i < wanted.Count && EqualityComparer<T>.Default.Equals(item, wanted[i]))
            {
                i++;
            }
        }

        return i == wanted.Count;
    }
}

/// <summary>One outbox row as the test reads it from the database.</summary>
public sealed record OutboxRow(long? Seq, string Topic, string Kind, string Payload);

/// <summary>One audit entry as the test reads it from the database.</summary>
public sealed record AuditEntryRow(long? Seq, string Action, string? TargetType, string? TargetId, string? Entry);

public sealed record AckedLogBatch(string TaskId, long FirstSeq, long LastSeq, IReadOnlyList<string> Texts);

public sealed record AckedMember(string InvitationId, List<string> Roles);

/// <summary>Everything the server acknowledged with a 2xx before it was killed. Each task, clarification and member belongs to one client loop.</summary>
public sealed class CrashLedger
{
    public ConcurrentDictionary<string, string> Tasks { get; } = new();

    /// <summary>Per task, the statuses its acknowledged transitions led to, in order.</summary>
    public ConcurrentDictionary<string, List<string>> TaskStatuses { get; } = new();

    public ConcurrentBag<AckedLogBatch> LogBatches { get; } = [];

    public ConcurrentDictionary<string, List<string>> ClarificationStatuses { get; } = new();

    public ConcurrentDictionary<string, string> Answers { get; } = new();

    /// <summary>Invitation id → email.</summary>
    public ConcurrentDictionary<string, string> Invited { get; } = new();

    /// <summary>User id → the invitation accepted, and the roles the member held, in order (member first).</summary>
    public ConcurrentDictionary<string, AckedMember> Joined { get; } = new();

    /// <summary>The webhook endpoint created before the load.</summary>
    public string? WebhookId { get; set; }

    /// <summary>API key id → name: the keys of the task loops, created after the webhook endpoint.</summary>
    public ConcurrentDictionary<string, string> ApiKeys { get; } = new();

    public ConcurrentBag<string> Unexpected { get; } = [];

    /// <summary>How many tasks' last acknowledged transition led to <paramref name="status"/>.</summary>
    public int Count(string status) => TaskStatuses.Values.Count(s =>
    {
        lock (s)
        {
            return s[^1] == status;
        }
    });

    public int RoleChanges => Joined.Values.Sum(m => m.Roles.Count - 1);

    public void Moved(string taskId, string status) => Append(TaskStatuses, taskId, status);

    public void Asked(string clarificationId, string status) => Append(ClarificationStatuses, clarificationId, status);

    // The monitor reads these lists while the loops append: a list is never empty, and is read and written under its lock.
    private static void Append(ConcurrentDictionary<string, List<string>> lists, string id, string status)
    {
        if (lists.TryAdd(id, [status]))
        {
            return;
        }

        var list = lists[id];
        lock (list)
        {
            list.Add(status);
        }
    }

    public string Summary =>
        $"{Tasks.Count} tasks, {Count("succeeded")} completed, {Count("cancelled")} cancelled, {LogBatches.Count} log batches, " +
        $"{ClarificationStatuses.Count} questions, {Answers.Count} answers, {Invited.Count} invitations, {Joined.Count} joined, {RoleChanges} role changes";
}

/// <summary>
/// The crash, once per backend: start the server, set up org acme, follow the stream live, run the client loops,
/// take a cursor (the last id the live client has seen) in the middle of the load, SIGKILL the server once enough has
/// been acknowledged, and start it again on the same data; then wait until the outbox has no unsequenced row.
/// </summary>
public abstract class CrashRun(Backend backend) : IAsyncLifetime
{
    /// <summary>The roles the owner's loop gives each member who joined (as a member), in this order.</summary>
    public static readonly string[] RoleChanges = ["viewer", "admin"];

    private const int TaskLoops = 3;
    private const int MaxIterations = 150;
    private const int LinesPerBatch = 5;

    /// <summary>The topics that are not about one task: what the live client follows.</summary>
    public static readonly IReadOnlyList<string> BroadTopics = ["tasks", "clarifications", "agents"];

    private readonly string _dataDirectory = TestDatabases.NewTempDirectory();
    private readonly List<string> _timeline = [];
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private readonly List<JsonElement> _live = [];
    private string? _database;

    /// <summary>Both servers may deliver to the test's loopback receiver, and retry soon when an attempt fails.</summary>
    private static readonly Dictionary<string, string> s_environment = new()
    {
        ["CLARITY_WEBHOOKS__ALLOWPRIVATENETWORKS"] = "true",
        ["CLARITY_WEBHOOKS__RETRYSCHEDULE"] = "1s,2s,5s,10s,20s,30s",
    };

    public CrashLedger Ledger { get; } = new();

    /// <summary>The restarted server.</summary>
    public ServerProcess Server { get; private set; } = null!;

    public string MemberKey { get; private set; } = "";

    public string OwnerToken { get; private set; } = "";

    /// <summary>The webhook receiver in the test process, subscribed to <c>*</c> before the load; it lives through the crash.</summary>
    public WebhookSink Hooks { get; private set; } = null!;

    /// <summary>The signing secret of the endpoint that points at <see cref="Hooks"/>.</summary>
    public string HookSecret { get; private set; } = "";

    /// <summary>The database's connection string (PostgreSQL), or null (SQLite in the data directory).</summary>
    public string? Database => _database;

    public string DataDirectory => _dataDirectory;

    /// <summary>The last event id the live client had received when the cursor was taken, mid-load before the crash.</summary>
    public long Cursor { get; private set; }

    /// <summary>Every event the live client received before the crash.</summary>
    public IReadOnlyList<JsonElement> LiveBeforeCrash
    {
        get
        {
            lock (_live)
            {
                return [.. _live];
            }
        }
    }

    public string Timeline => string.Join(Environment.NewLine, _timeline);

    public async Task InitializeAsync()
    {
        _database = backend == Backend.Postgres ? await TestDatabases.CreatePostgresAsync() : null;
        Hooks = await WebhookSink.StartAsync();
        await using (var first = await ServerProcess.StartAsync(_dataDirectory, _database, s_environment))
        {
            Note("first server up");
            (OwnerToken, MemberKey) = await ServerProcess.SetupOrgAsync(first.BaseAddress, "crash");
            var keys = new List<string>();
            using (var owner = ClarityHost.ClientFor(first.BaseAddress, OwnerToken))
            {
                var hook = await owner.PostAsJsonAsync("api/v1/orgs/acme/webhooks", new { url = Hooks.UrlOf("crash"), events = new[] { "*" } })
                    .ExpectAsync(HttpStatusCode.Created);
                HookSecret = hook.Str("secret");
                Ledger.WebhookId = hook.Str("id");
                for (var w = 0; w < TaskLoops; w++)
                {
                    var key = await owner.PostAsJsonAsync("api/v1/orgs/acme/api-keys", new { name = $"loop-{w}", role = "member" }).ExpectAsync(HttpStatusCode.Created);
                    Ledger.ApiKeys[key.Str("id")] = key.Str("name");
                    keys.Add(key.Str("secret"));
                }
            }

            var live = await StreamSocket.ConnectAsync(first.BaseAddress, "acme", MemberKey);
            await live.SubscribeAsync([.. BroadTopics]);
            var following = Task.Run(() => FollowAsync(live));

            using var stop = new CancellationTokenSource();
            var loops = Enumerable.Range(0, TaskLoops).Select(w => Task.Run(() => TaskLoopAsync(first.BaseAddress, keys[w], w, stop.Token)))
                .Append(Task.Run(() => MemberLoopAsync(first.BaseAddress, stop.Token))).ToArray();

            // Take the cursor once some work is done; kill once every kind of change has been acknowledged a few times
            // and the live client has seen events past the cursor, while every loop is still busy.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
            long? cursor = null;
            while (DateTime.UtcNow < deadline && loops.All(l => !l.IsCompleted))
            {
                var seen = LiveBeforeCrash;
                if (cursor is null && Ledger.Tasks.Count >= 10 && seen.Count > 0)
                {
                    cursor = seen[^1].Id();
                    Note($"cursor {cursor} taken after {Ledger.Summary}");
                }

                if (cursor is not null && seen.Count(e => e.Id() > cursor) >= 10 && Ledger.Count("succeeded") >= 6 && Ledger.Count("cancelled") >= 4
                    && Ledger.Answers.Count >= 4 && Ledger.RoleChanges >= 4)
                {
                    break;
                }

                await Task.Delay(20);
            }

            Assert.True(loops.All(l => !l.IsCompleted), "A client loop stopped before the kill: " + string.Join("; ", Ledger.Unexpected) + Environment.NewLine + first.OutputTail);
            Assert.True(cursor is not null && Ledger.RoleChanges >= 4 && Ledger.Count("cancelled") >= 4, $"Not enough was acknowledged in time: {Ledger.Summary}{Environment.NewLine}{first.OutputTail}");
            Cursor = cursor!.Value;
            Note($"SIGKILL after {Ledger.Summary}; the live client saw {LiveBeforeCrash.Count} events, the last {LiveBeforeCrash[^1].Id()}; the webhook receiver had {Hooks.Received.Count} deliveries");
            await first.KillAsync();
            var endings = await Task.WhenAll(loops);
            await stop.CancelAsync();
            await following;
            await live.DisposeAsync();
            Assert.True(Ledger.Unexpected.IsEmpty, "Unexpected answers before the kill: " + string.Join("; ", Ledger.Unexpected));
            Assert.Contains(LoopEnding.ServerGone, endings);
        }

        Server = await ServerProcess.StartAsync(_dataDirectory, _database, s_environment);
        Note("second server up");

        // PostgreSQL: rows committed just before the crash wait for the new leader's sequencer.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((await ReadOutboxAsync()).Any(r => r.Seq is null))
        {
            Assert.True(DateTime.UtcNow < until, "The restarted server left outbox rows unsequenced for 30 s:" + Environment.NewLine + Server.OutputTail);
            await Task.Delay(100);
        }

        Note("outbox fully sequenced");

        // PostgreSQL: audit entries committed just before the crash wait for the new leader's chainer.
        while ((await ReadAuditAsync()).Any(r => r.Seq is null))
        {
            Assert.True(DateTime.UtcNow < until, "The restarted server left audit entries unchained for 30 s:" + Environment.NewLine + Server.OutputTail);
            await Task.Delay(100);
        }

        Note("audit log fully chained");
    }

    public async Task DisposeAsync()
    {
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }

        if (Hooks is not null)
        {
            await Hooks.DisposeAsync();
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        TestDatabases.DeleteDirectory(_dataDirectory);
    }

    /// <summary>Every row of the outbox, read straight from the database (the server's own record of what happened).</summary>
    public async Task<IReadOnlyList<OutboxRow>> ReadOutboxAsync()
    {
        await using DbConnection connection = _database is null
            ? new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_dataDirectory, "clarity.db")};Mode=ReadOnly;Pooling=False")
            : new Npgsql.NpgsqlConnection(_database);
        await connection.OpenAsync();
        var rows = await connection.QueryAsync<(long? Seq, string Topic, string Kind, string Payload)>("SELECT seq, topic, kind, payload FROM events");
        return [.. rows.Select(r => new OutboxRow(r.Seq, r.Topic, r.Kind, r.Payload))];
    }

    /// <summary>Every audit entry of org acme's chain, read straight from the database.</summary>
    public async Task<IReadOnlyList<AuditEntryRow>> ReadAuditAsync()
    {
        await using DbConnection connection = _database is null
            ? new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_dataDirectory, "clarity.db")};Mode=ReadOnly;Pooling=False")
            : new Npgsql.NpgsqlConnection(_database);
        await connection.OpenAsync();
        var rows = await connection.QueryAsync<(long? Seq, string Action, string? TargetType, string? TargetId, string? Entry)>(
            "SELECT a.seq, a.action, a.target_type, a.target_id, a.entry FROM audit_entries a JOIN orgs o ON o.id = a.chain_id WHERE o.slug = 'acme'");
        return [.. rows.Select(r => new AuditEntryRow(r.Seq, r.Action, r.TargetType, r.TargetId, r.Entry))];
    }

    /// <summary>
    /// Resumes over server-sent events from <paramref name="after"/> (the <c>Last-Event-ID</c> header) on the broad topics, and
    /// reads until every row of them after it that the outbox held when the stream opened has arrived: those rows exactly,
    /// in seq order, each once (rows added since may follow).
    /// </summary>
    public async Task<List<SseEvent>> ResumeOverSseAsync(long after)
    {
        var expected = (await ReadOutboxAsync()).Where(r => r.Seq > after && BroadTopics.Contains(r.Topic)).OrderBy(r => r.Seq).ToList();
        var client = ClarityHost.ClientFor(Server.BaseAddress, MemberKey);
        client.DefaultRequestHeaders.Add("Last-Event-ID", after.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await using var sse = await SseReader.OpenAsync(client, "api/v1/orgs/acme/events?topics=" + string.Join(',', BroadTopics));
        var received = new List<SseEvent>();
        while (received.Count < expected.Count)
        {
            received.Add(await sse.ReadAsync() ?? throw new InvalidOperationException($"The event stream ended after {received.Count} of {expected.Count} events."));
        }

        Assert.Equal(expected.Select(r => r.Seq), received.Select(e => e.Id));
        for (var i = 0; i < received.Count; i++)
        {
            Assert.True(CrashConsistencyTests.Matches(received[i].Data, expected[i]), $"Streamed {received[i].Data} does not match its row {expected[i]}.");
        }

        return received;
    }

    /// <summary>The streamed topics of the acknowledged work, in groups of at most 100 (one subscribe message each): the broad topics and every task's log.</summary>
    public IEnumerable<string[]> TopicGroups() =>
        BroadTopics.Concat(Ledger.Tasks.Keys.Order(StringComparer.Ordinal).Select(id => $"task:{id}:logs")).Chunk(100);

    /// <summary>
    /// Subscribes to <paramref name="topics"/> from <paramref name="after"/> on one connection to the restarted server, and
    /// checks what arrives against the outbox: ids strictly increasing, each once, each the row with that seq, and no row
    /// of those topics after <paramref name="after"/> missing up to the newest id the server reported (its hello, or the last delivered).
    /// </summary>
    public async Task<List<JsonElement>> ReplayAsync(string[] topics, long after)
    {
        await using var socket = await StreamSocket.ConnectAsync(Server.BaseAddress, "acme", MemberKey);
        var newest = socket.Hello.GetProperty("lastEventId").GetInt64();
        await socket.SendAsync(new { type = "subscribe", topics, lastEventId = after });

        // The replay is queued before the socket reads its next message: the pong comes after the last replayed event.
        await socket.SendAsync(new { type = "ping" });
        var messages = await socket.ReadUntilAsync(m => m.Str("type") == "pong", "the pong after the replay");
        Assert.DoesNotContain(messages, m => m.Str("type") is "error" or "resync");
        var events = messages.Where(m => m.Str("type") == "event").ToList();
        var ids = events.Select(e => e.Id()).ToList();
        for (var i = 1; i < ids.Count; i++)
        {
            Assert.True(ids[i] > ids[i - 1], $"Event {ids[i]} came after {ids[i - 1]}: ids must rise strictly, each once.");
        }

        // Later rows (the restarted server's own sweeps) may or may not have arrived: compare up to the newest reported.
        var through = Math.Max(newest, ids.LastOrDefault());
        var wanted = topics.ToHashSet(StringComparer.Ordinal);
        var table = await ReadOutboxAsync();
        var expected = table.Where(r => r.Seq > after && r.Seq <= through && wanted.Contains(r.Topic)).OrderBy(r => r.Seq).ToList();
        Assert.Equal(expected.Select(r => r.Seq!.Value), ids);
        for (var i = 0; i < events.Count; i++)
        {
            Assert.True(CrashConsistencyTests.Matches(events[i], expected[i]), $"Streamed {events[i]} does not match its row {expected[i]}.");
        }

        return events;
    }

    private void Note(string what)
    {
        lock (_timeline)
        {
            _timeline.Add($"{_clock.Elapsed}: {what}");
        }
    }

    private async Task FollowAsync(StreamSocket live)
    {
        try
        {
            while (await live.ReceiveAsync(TimeSpan.FromMinutes(5)) is { } message)
            {
                if (message.Str("type") == "event")
                {
                    lock (_live)
                    {
                        _live.Add(message);
                    }
                }
                else if (message.Str("type") is "resync" or "error")
                {
                    Note($"live client: {message}");
                }
            }
        }
        catch (Exception ex) when (ex is System.Net.WebSockets.WebSocketException or IOException or OperationCanceledException)
        {
            // The server was killed.
        }
    }

    /// <summary>One agent's loop. Each iteration creates a task and takes it down one of four paths.</summary>
    private async Task<LoopEnding> TaskLoopAsync(Uri baseAddress, string key, int loop, CancellationToken stop)
    {
        using var client = ClarityHost.ClientFor(baseAddress, key);
        var queue = $"crash-{loop}";
        var agent = $"agent-{loop}";
        try
        {
            for (var i = 0; i < MaxIterations && !stop.IsCancellationRequested; i++)
            {
                var title = $"l{loop}-task{i}";
                if (await SendAsync(client, HttpMethod.Post, "tasks", new { queue, title }) is not { } task)
                {
                    return LoopEnding.Unexpected;
                }

                var id = task.Str("id");
                Ledger.Tasks[id] = title;
                Ledger.Moved(id, "queued");
                var path = i % 4;
                if (path == 2)
                {
                    // Cancelled while queued.
                    if (await SendAsync(client, HttpMethod.Post, $"tasks/{id}/cancel", new { }) is null)
                    {
                        return LoopEnding.Unexpected;
                    }

                    Ledger.Moved(id, "cancelled");
                    continue;
                }

                // A lease far longer than the test: however slow the machine, no lease expires under the loop's feet.
                if (await SendAsync(client, HttpMethod.Post, "work/checkout", new { agent, queues = new[] { queue }, taskId = id, leaseSeconds = 600 }) is not { } lease)
                {
                    return LoopEnding.Unexpected;
                }

                var token = lease.Str("leaseToken");
                Ledger.Moved(id, "running");
                if (!await AppendLogsAsync(client, id, $"{title}-before"))
                {
                    return LoopEnding.Unexpected;
                }

                if (path == 3)
                {
                    // Completed without a question.
                    if (await SendAsync(client, HttpMethod.Post, $"tasks/{id}/complete", new { leaseToken = token, output = new { loop, i } }) is null)
                    {
                        return LoopEnding.Unexpected;
                    }

                    Ledger.Moved(id, "succeeded");
                    continue;
                }

                if (await SendAsync(client, HttpMethod.Post, $"tasks/{id}/clarifications", new { leaseToken = token, question = $"{title}?", expiresInSeconds = 3600, onExpiry = "fail" }) is not { } question)
                {
                    return LoopEnding.Unexpected;
                }

                var clarificationId = question.Str("id");
                Ledger.Asked(clarificationId, "pending");
                Ledger.Moved(id, "awaiting_response");
                if (path == 1)
                {
                    // Cancelled while it waits for an answer: the question is cancelled with it.
                    if (await SendAsync(client, HttpMethod.Post, $"tasks/{id}/cancel", new { }) is null)
                    {
                        return LoopEnding.Unexpected;
                    }

                    Ledger.Moved(id, "cancelled");
                    Ledger.Asked(clarificationId, "cancelled");
                    continue;
                }

                var answer = $"{title}-answer";
                if (await SendAsync(client, HttpMethod.Post, $"clarifications/{clarificationId}/answer", new { answer }) is null)
                {
                    return LoopEnding.Unexpected;
                }

                Ledger.Answers[clarificationId] = answer;
                Ledger.Asked(clarificationId, "answered");
                Ledger.Moved(id, "running");
                if (!await AppendLogsAsync(client, id, $"{title}-after"))
                {
                    return LoopEnding.Unexpected;
                }

                if (await SendAsync(client, HttpMethod.Post, $"tasks/{id}/complete", new { leaseToken = token, output = new { loop, i } }) is null)
                {
                    return LoopEnding.Unexpected;
                }

                Ledger.Moved(id, "succeeded");
            }

            return LoopEnding.Finished;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException or JsonException)
        {
            // The server was killed under this request: whatever it had not acknowledged may or may not be stored.
            return LoopEnding.ServerGone;
        }
    }

    /// <summary>The owner's loop: invite someone new, who accepts through the link (creating their account), then change their role twice.</summary>
    private async Task<LoopEnding> MemberLoopAsync(Uri baseAddress, CancellationToken stop)
    {
        using var owner = ClarityHost.ClientFor(baseAddress, OwnerToken);
        using var anonymous = ClarityHost.ClientFor(baseAddress, null);
        try
        {
            for (var i = 0; i < MaxIterations && !stop.IsCancellationRequested; i++)
            {
                var email = Work.Unique($"person{i}") + "@example.com";
                if (await SendAsync(owner, HttpMethod.Post, "invitations", new { email, role = "member" }) is not { } invitation)
                {
                    return LoopEnding.Unexpected;
                }

                var invitationId = invitation.Str("id");
                Ledger.Invited[invitationId] = email;
                if (await SendAsync(anonymous, HttpMethod.Post, "/api/v1/invitations/accept", new { token = ClarityHost.TokenOf(invitation), password = ClarityHost.MemberPassword }) is not { } accepted)
                {
                    return LoopEnding.Unexpected;
                }

                var userId = accepted.GetProperty("user").Str("id");
                var joined = new AckedMember(invitationId, ["member"]);
                Ledger.Joined[userId] = joined;
                foreach (var role in RoleChanges)
                {
                    if (await SendAsync(owner, HttpMethod.Put, $"members/{userId}", new { role }) is null)
                    {
                        return LoopEnding.Unexpected;
                    }

                    lock (joined.Roles)
                    {
                        joined.Roles.Add(role);
                    }
                }
            }

            return LoopEnding.Finished;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException or JsonException)
        {
            return LoopEnding.ServerGone;
        }
    }

    private async Task<bool> AppendLogsAsync(HttpClient client, string taskId, string prefix)
    {
        var texts = Enumerable.Range(0, LinesPerBatch).Select(j => $"{prefix}-line{j}").ToArray();
        if (await SendAsync(client, HttpMethod.Post, $"tasks/{taskId}/logs", texts.Select(text => new { text }).ToArray()) is not { } appended)
        {
            return false;
        }

        Ledger.LogBatches.Add(new AckedLogBatch(taskId, appended.GetProperty("firstSeq").GetInt64(), appended.GetProperty("lastSeq").GetInt64(), texts));
        return true;
    }

    /// <summary>Sends and returns the JSON answer of a 2xx; a 4xx/5xx is recorded as unexpected and returns null. Paths without a leading slash are the org's.</summary>
    private async Task<JsonElement?> SendAsync<T>(HttpClient client, HttpMethod method, string path, T body)
    {
        var uri = path.StartsWith('/') ? path[1..] : $"api/v1/orgs/acme/{path}";
        using var request = new HttpRequestMessage(method, uri) { Content = JsonContent.Create(body) };
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode || text.Length == 0)
        {
            Ledger.Unexpected.Add($"{method} {path} → {(int)response.StatusCode} {text}");
            return null;
        }

        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private enum LoopEnding
    {
        Finished,
        ServerGone,
        Unexpected,
    }
}

public sealed class SqliteCrashRun() : CrashRun(Backend.Sqlite);

public sealed class PostgresCrashRun() : CrashRun(Backend.Postgres);

public sealed class SqliteCrashConsistencyTests(SqliteCrashRun run, ITestOutputHelper output) : CrashConsistencyTests(run, output), IClassFixture<SqliteCrashRun>;

public sealed class PostgresCrashConsistencyTests(PostgresCrashRun run, ITestOutputHelper output) : CrashConsistencyTests(run, output), IClassFixture<PostgresCrashRun>;
