using System.Net;
using System.Net.Http.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Tasks;

public abstract class TaskLifecycleTests(Backend backend) : IAsyncLifetime
{
    private ClarityHost _host = null!;
    private OrgSession _org = null!;

    public async Task InitializeAsync()
    {
        _host = await ClarityHost.StartAsync(backend);
        _org = await _host.SetupAsync();
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task CreateCheckoutComplete_RunsTheWholeLifecycle()
    {
        using var agent = _host.CreateClient(_org.MemberKey);
        var task = await agent.PostAsJsonAsync(_org.Api("tasks"), new { queue = "q1", title = "t", input = new { n = 1 } }).ExpectAsync(HttpStatusCode.Created);
        var id = task.GetProperty("id").GetString();

        var lease = await agent.PostAsJsonAsync(_org.Api("work/checkout"), new { agent = "a1", queues = new[] { "q1" }, waitSeconds = 1 }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(id, lease.GetProperty("task").GetProperty("id").GetString());
        Assert.Equal("running", lease.GetProperty("task").GetProperty("status").GetString());

        var done = await agent.PostAsJsonAsync(_org.Api($"tasks/{id}/complete"), new { leaseToken = lease.GetProperty("leaseToken").GetString(), output = new { ok = true } })
            .ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("succeeded", done.GetProperty("status").GetString());
        Assert.True(done.GetProperty("output").GetProperty("ok").GetBoolean());
    }
}

public sealed class SqliteTaskLifecycleTests() : TaskLifecycleTests(Backend.Sqlite);

public sealed class PostgresTaskLifecycleTests() : TaskLifecycleTests(Backend.Postgres);
