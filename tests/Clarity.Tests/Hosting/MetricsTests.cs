using System.Net;
using System.Net.Http.Json;
using Clarity.Tests.Features.Stream;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Hosting;

/// <summary>GET /metrics on a real host after real traffic: the numbers match what happened, and Prometheus's own tool accepts the text.</summary>
public abstract class MetricsTests(HostFixture fixture)
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    [Fact]
    public async Task Scrape_AfterRealTraffic_CountsWhatHappened_AndPassesPromtool()
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var queue = Work.Unique("metrics");
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add((await agent.CreateTaskAsync(Org, new { queue, title = $"job {i}", idempotencyKey = $"{queue}-{i}" })).Str("id"));
        }

        // An idempotent replay is not a new task.
        await agent.PostAsJsonAsync(Org.Api("tasks"), new { queue, title = "job 0", idempotencyKey = $"{queue}-0" }).ExpectAsync(HttpStatusCode.OK);

        var agentName = Work.Unique("agent");
        var succeeded = await agent.CheckoutTaskAsync(Org, agentName, queue);
        var failed = await agent.CheckoutTaskAsync(Org, agentName, queue);
        var asking = await agent.CheckoutTaskAsync(Org, agentName, queue);
        var retried = await agent.CheckoutTaskAsync(Org, agentName, queue);
        await agent.PostAsJsonAsync(Org.Api($"tasks/{succeeded.TaskId}/logs"), Enumerable.Range(0, 7).Select(i => new { text = $"line {i}" })).ExpectAsync(HttpStatusCode.OK);
        await agent.PostAsJsonAsync(Org.Api($"tasks/{succeeded.TaskId}/complete"), new { leaseToken = succeeded.Token }).ExpectAsync(HttpStatusCode.OK);
        await agent.PostAsJsonAsync(Org.Api($"tasks/{failed.TaskId}/fail"), new { leaseToken = failed.Token, error = "no" }).ExpectAsync(HttpStatusCode.OK);
        await agent.PostAsJsonAsync(Org.Api($"tasks/{retried.TaskId}/fail"), new { leaseToken = retried.Token, error = "again", retryable = true }).ExpectAsync(HttpStatusCode.OK);
        await agent.PostAsJsonAsync(Org.Api($"tasks/{asking.TaskId}/clarifications"), new { leaseToken = asking.Token, question = "Which branch?" }).ExpectAsync(HttpStatusCode.Created);
        var last = ids.Except([succeeded.TaskId, failed.TaskId, asking.TaskId, retried.TaskId]).Single();
        await agent.PostAsync(Org.Api($"tasks/{last}/cancel"), null).ExpectAsync(HttpStatusCode.OK);

        var (text, families) = await ScrapeAsync(Host);

        var created = families["clarity_tasks_created_total"];
        Assert.Equal(5, created.Value("clarity_tasks_created_total", ("org", "acme"), ("queue", queue)));
        var finished = families["clarity_tasks_finished_total"];
        Assert.Equal(1, finished.Value("clarity_tasks_finished_total", ("org", "acme"), ("queue", queue), ("status", "succeeded")));
        Assert.Equal(1, finished.Value("clarity_tasks_finished_total", ("org", "acme"), ("queue", queue), ("status", "failed")));
        Assert.Equal(1, finished.Value("clarity_tasks_finished_total", ("org", "acme"), ("queue", queue), ("status", "cancelled")));
        Assert.Equal(7, families["clarity_log_lines_ingested_total"].Value("clarity_log_lines_ingested_total", ("org", "acme")));
        Assert.Equal(1, families["clarity_clarifications_pending"].Value("clarity_clarifications_pending", ("org", "acme")));
        // One node: it leads, and by the time of the scrape the sequencer has no backlog left to speak of (SQLite has none at all).
        Assert.Equal(1, families["clarity_leader"].Value("clarity_leader"));
        Assert.True(families.ContainsKey("clarity_events_unsequenced"), text);
        Assert.True(families.ContainsKey("clarity_audit_unchained"), text);

        var checkout = families["clarity_checkout_duration_seconds"];
        Assert.Equal("histogram", checkout.Type);
        Assert.Equal(4, checkout.Value("clarity_checkout_duration_seconds_count", ("org", "acme"), ("waited", "false")));

        var http = families["http_server_request_duration_seconds"];
        Assert.Equal("histogram", http.Type);
        var creates = http.Value("http_server_request_duration_seconds_count",
            ("http_route", "/api/v1/orgs/{org}/tasks"), ("http_request_method", "POST"), ("http_response_status_code", "201"));
        Assert.True(creates >= 5, $"POST /tasks answered 201 five times here; the histogram counts {creates}.\n{text}");

        var (exit, output) = await PrometheusScrape.PromtoolAsync(text);
        Assert.True(exit == 0 && output.Trim().Length == 0, $"promtool check metrics: exit {exit}\n{output}\n---\n{text}");

        // Answering the question brings the gauge back to zero rather than dropping the series.
        var question = (await agent.GetAsync(Org.Api("clarifications?status=pending")).ExpectAsync(HttpStatusCode.OK)).GetProperty("items")
            .EnumerateArray().Single(c => c.Str("taskId") == asking.TaskId);
        using var person = Host.CreateClient(Org.OwnerToken);
        await person.PostAsJsonAsync(Org.Api($"clarifications/{question.Str("id")}/answer"), new { answer = "main" }).ExpectAsync(HttpStatusCode.OK);
        (_, families) = await ScrapeAsync(Host);
        Assert.Equal(0, families["clarity_clarifications_pending"].Value("clarity_clarifications_pending", ("org", "acme")));
    }

    [Fact]
    public async Task Scrape_CountsOpenStreamConnections_ByTransport_AndDropsThemWhenTheyClose()
    {
        var first = await StreamSocket.ConnectAsync(Host.BaseAddress, Org.Org, Org.MemberKey);
        var second = await StreamSocket.ConnectAsync(Host.BaseAddress, Org.Org, Org.MemberKey);

        var (text, families) = await ScrapeAsync(Host);
        var streams = families["clarity_stream_connections"];
        Assert.Equal("gauge", streams.Type);
        Assert.Equal(2, streams.Value("clarity_stream_connections", ("transport", "websocket")));
        Assert.Equal(0, streams.Value("clarity_stream_connections", ("transport", "sse")));
        Assert.Equal(0, (await PrometheusScrape.PromtoolAsync(text)).ExitCode);

        await first.DisposeAsync();
        await second.DisposeAsync();

        // The server notices the close on its own schedule; poll until the gauge has caught up.
        var deadline = DateTime.UtcNow + StreamSocket.Timeout;
        double? open;
        do
        {
            (_, families) = await ScrapeAsync(Host);
            open = families["clarity_stream_connections"].Value("clarity_stream_connections", ("transport", "websocket"));
        }
        while (open != 0 && DateTime.UtcNow < deadline && await Task.Delay(50).ContinueWith(_ => true));

        Assert.Equal(0, open);
    }

    [Fact]
    public async Task PendingClarifications_AreReadFromTheDatabase_SoASecondNodeReportsThemToo()
    {
        await using var second = await ClarityHost.StartNodeAsync(Host);
        using var agent = Host.CreateClient(fixture.OtherOrg.MemberKey);
        var lease = await agent.StartTaskAsync(fixture.OtherOrg);
        await agent.PostAsJsonAsync(fixture.OtherOrg.Api($"tasks/{lease.TaskId}/clarifications"), new { leaseToken = lease.Token, question = "Ship it?" })
            .ExpectAsync(HttpStatusCode.Created);

        var (_, families) = await ScrapeAsync(second);
        Assert.Equal(1, families["clarity_clarifications_pending"].Value("clarity_clarifications_pending", ("org", "other")));
    }

    [Fact]
    public async Task FinishedTasks_AreCountedOnce_OnTheNodeThatFinishedThem()
    {
        // A second node that has served nothing for this org: if its sweep fails the task, it must look the org's slug up.
        await using var second = await ClarityHost.StartNodeAsync(Host);
        using var agent = Host.CreateClient(fixture.OtherOrg.MemberKey);
        var lease = await agent.StartTaskAsync(fixture.OtherOrg, new { timeoutSeconds = 1 });
        var queue = lease.Task.Str("queue");
        await agent.WaitForStatusAsync(fixture.OtherOrg, lease.TaskId, "failed");

        // The event follows the commit by a moment: scrape until a node has counted it, then no node may count it twice.
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        double total;
        do
        {
            total = 0;
            foreach (var node in new[] { Host, second })
            {
                var (_, families) = await ScrapeAsync(node);
                // A metric appears with its first measurement: a node that finished nothing yet has no such family.
                total += families.GetValueOrDefault("clarity_tasks_finished_total")?.Value("clarity_tasks_finished_total", ("org", "other"), ("queue", queue), ("status", "failed")) ?? 0;
            }
        }
        while (total == 0 && DateTimeOffset.UtcNow < deadline);

        Assert.Equal(1, total);
    }

    [Fact]
    public async Task Metrics_WithAToken_RequireItAsABearer()
    {
        const string token = "scrape-token-0123456789";
        await using var host = await ClarityHost.StartAsync(fixture.Backend, new Dictionary<string, string?> { ["Clarity:Metrics:Token"] = token });

        using var anonymous = host.CreateClient();
        await anonymous.GetAsync("metrics").ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        using var wrong = host.CreateClient("scrape-token-0123456780");
        await wrong.GetAsync("metrics").ExpectProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");

        using var right = host.CreateClient(token);
        var response = await right.GetAsync("metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        PrometheusScrape.Parse(await response.Content.ReadAsStringAsync());
    }

    /// <summary>Scrapes from loopback (the tests' hosts listen on 127.0.0.1) and parses strictly.</summary>
    [Fact]
    public async Task QueueLabels_PastTheCap_AreCountedUnderOther_SoAnOrgHasAtMostCapPlusOneSeries()
    {
        const int Cap = 3;
        await using var host = await ClarityHost.StartAsync(fixture.Backend, new Dictionary<string, string?> { ["Clarity:Metrics:MaxQueueLabels"] = $"{Cap}" });
        var org = await host.SetupAsync("acme");
        using var agent = host.CreateClient(org.MemberKey);
        var queues = Enumerable.Range(0, 8).Select(i => Work.Unique($"cap{i}")).ToList();
        foreach (var queue in queues)
        {
            await agent.CreateTaskAsync(org, new { queue, title = "t" });
            await agent.CreateTaskAsync(org, new { queue, title = "t" });
        }

        // A task of a named queue, and one of a queue past the cap, finish.
        foreach (var queue in new[] { queues[0], queues[^1] })
        {
            var lease = await agent.CheckoutTaskAsync(org, "cap-agent", queue);
            await agent.PostAsJsonAsync(org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token }).ExpectAsync(HttpStatusCode.OK);
        }

        var (text, families) = await ScrapeAsync(host);
        var created = families["clarity_tasks_created_total"].Samples.Where(s => s.Has(("org", "acme"))).ToList();
        Assert.Equal(Cap + 1, created.Count);
        Assert.Equal(queues.Take(Cap).Append("_other").Order(StringComparer.Ordinal), created.Select(s => s.Labels["queue"]).Order(StringComparer.Ordinal));
        Assert.All(created.Where(s => s.Labels["queue"] != "_other"), s => Assert.Equal(2, s.Value));
        Assert.Equal(2 * (queues.Count - Cap), created.Single(s => s.Labels["queue"] == "_other").Value);

        var finished = families["clarity_tasks_finished_total"];
        Assert.Equal(1, finished.Value("clarity_tasks_finished_total", ("org", "acme"), ("queue", queues[0]), ("status", "succeeded")));
        Assert.Equal(1, finished.Value("clarity_tasks_finished_total", ("org", "acme"), ("queue", "_other"), ("status", "succeeded")));

        var (exit, output) = await PrometheusScrape.PromtoolAsync(text);
        Assert.True(exit == 0 && output.Trim().Length == 0, $"promtool check metrics: exit {exit}\n{output}\n---\n{text}");
    }

    public static async Task<(string Text, IReadOnlyDictionary<string, PromFamily> Families)> ScrapeAsync(ClarityHost host)
    {
        using var client = host.CreateClient();
        using var response = await client.GetAsync("metrics");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET /metrics answered {(int)response.StatusCode}: {text}");
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        return (text, PrometheusScrape.Parse(text));
    }
}

public sealed class SqliteMetricsTests(SqliteHostFixture fixture) : MetricsTests(fixture), IClassFixture<SqliteHostFixture>;

public sealed class PostgresMetricsTests(PostgresHostFixture fixture) : MetricsTests(fixture), IClassFixture<PostgresHostFixture>;
