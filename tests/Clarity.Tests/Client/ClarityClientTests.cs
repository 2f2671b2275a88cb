using System.Net;
using Clarity.Client;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Client;

/// <summary>The SDK against a real server: one host per class, set up through the SDK itself.</summary>
public abstract class ClarityClientTests(Backend backend) : IAsyncLifetime
{
    private const string Email = "owner@acme.example";
    private const string Password = "owner-password-123";

    private ClarityHost _host = null!;
    private ClarityClient _owner = null!;
    private ClarityClient _agent = null!;
    private SetupResult _setup = null!;

    public async Task InitializeAsync()
    {
        _host = await ClarityHost.StartAsync(backend);
        using var anonymous = new ClarityClient(_host.BaseAddress);
        Assert.True((await anonymous.GetSetupStatusAsync()).Required);
        _setup = await anonymous.SetupAsync(new SetupRequest("acme", "Acme", Email, Password));
        var login = await anonymous.LoginAsync(Email, Password);
        _owner = new ClarityClient(_host.BaseAddress, login.Token, "acme");
        var key = await _owner.CreateApiKeyAsync("agent-key", Roles.Member);
        _agent = new ClarityClient(_host.BaseAddress, key.Secret, "acme");
    }

    public async Task DisposeAsync()
    {
        _agent.Dispose();
        _owner.Dispose();
        await _host.DisposeAsync();
    }

    [Fact]
    public async Task Setup_WhenAlreadyDone_IsNotRequiredAndRefusedWithProblem()
    {
        using var anonymous = new ClarityClient(_host.BaseAddress);

        Assert.False((await anonymous.GetSetupStatusAsync()).Required);
        var ex = await Assert.ThrowsAsync<ClarityApiException>(() => anonymous.SetupAsync(new SetupRequest("other", "Other", "x@other.example", Password)));
        Assert.Equal(HttpStatusCode.Conflict, ex.StatusCode);
        Assert.Equal("urn:clarity:problem:setup-done", ex.Type);
        Assert.True(ex.Is("setup-done"));
        Assert.False(string.IsNullOrEmpty(ex.Detail));
    }

    [Fact]
    public async Task Me_NamesTheUserForATokenAndTheKeyForAnApiKey()
    {
        var user = await _owner.GetMeAsync();
        Assert.Equal(Email, user.User!.Email);
        Assert.Contains(user.Orgs, o => o.Slug == "acme" && o.Role == Roles.Owner);

        var key = await _agent.GetMeAsync();
        Assert.Null(key.User);
        Assert.Equal("agent-key", key.ApiKey!.Name);
        Assert.Equal("acme", key.ApiKey.Org);
        Assert.Equal(_setup.Org.Id, (await _agent.GetOrgAsync()).Id);
    }

    [Fact]
    public async Task Members_JoinByInvitation_ThenCanBeChangedAndRemoved()
    {
        var invitation = await _owner.CreateInvitationAsync(new CreateInvitationRequest("dev@acme.example", Roles.Viewer));
        Assert.Equal(InvitationStatuses.Pending, invitation.Status);
        Assert.Contains((await _owner.ListInvitationsAsync(InvitationStatuses.Pending)).Items, i => i.Id == invitation.Id);

        using var anonymous = new ClarityClient(_host.BaseAddress);
        var accepted = await anonymous.AcceptInvitationWithNewAccountAsync(invitation.AcceptUrl!.Split("/invite/")[1], "dev-password-123", "Dev");
        Assert.Equal(("acme", Roles.Viewer), (accepted.Org.Slug, accepted.Org.Role));
        using var dev = new ClarityClient(_host.BaseAddress, accepted.Token, "acme");
        var devId = (await dev.GetMeAsync()).User!.Id;
        var added = (await _owner.ListMembersAsync()).Items.Single(m => m.UserId == devId);
        Assert.Equal(Roles.Viewer, added.Role);

        var changed = await _owner.ChangeMemberRoleAsync(added.UserId, Roles.Admin);
        Assert.Equal(Roles.Admin, changed.Member.Role);
        Assert.Empty(changed.CappedApiKeys);

        var removal = await _owner.RemoveMemberAsync(added.UserId);
        Assert.Equal(added.UserId, removal.UserId);
        Assert.DoesNotContain((await _owner.ListMembersAsync()).Items, m => m.UserId == added.UserId);
    }

    [Fact]
    public async Task Sessions_CanBeListedAndSignedOutEverywhere()
    {
        using var anonymous = new ClarityClient(_host.BaseAddress);
        var first = await anonymous.LoginAsync(Email, Password);
        var second = await anonymous.LoginAsync(Email, Password);
        using var one = new ClarityClient(_host.BaseAddress, first.Token, "acme");
        using var two = new ClarityClient(_host.BaseAddress, second.Token, "acme");
        var sessions = await one.ListSessionsAsync();
        Assert.Single(sessions.Items, s => s.Current);

        Assert.True((await one.SignOutEverywhereAsync(keepCurrent: true)).Revoked >= 1);
        await one.GetOrgAsync();
        var ex = await Assert.ThrowsAsync<ClarityApiException>(() => two.GetOrgAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, ex.StatusCode);

        await one.LogoutAsync();
        ex = await Assert.ThrowsAsync<ClarityApiException>(() => one.GetOrgAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, ex.StatusCode);
    }

    [Fact]
    public async Task ApiKey_WhenRevoked_IsRefusedAsUnauthorized()
    {
        var key = await _owner.CreateApiKeyAsync("short-lived", Roles.Viewer);
        Assert.StartsWith("clk_", key.Secret, StringComparison.Ordinal);
        Assert.Contains((await _owner.ListApiKeysAsync()).Items, k => k.Id == key.Id);
        using var viewer = new ClarityClient(_host.BaseAddress, key.Secret, "acme");
        await viewer.GetOrgAsync();

        await _owner.RevokeApiKeyAsync(key.Id);

        var ex = await Assert.ThrowsAsync<ClarityApiException>(() => viewer.GetOrgAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, ex.StatusCode);
        Assert.True(ex.Is(ProblemTypes.Unauthorized));
    }

    [Fact]
    public async Task OrgScopedCall_InAnotherOrg_ThrowsNotFound()
    {
        using var stranger = new ClarityClient(_host.BaseAddress, (await _owner.CreateApiKeyAsync("k", Roles.Member)).Secret, "no-such-org");

        var ex = await Assert.ThrowsAsync<ClarityApiException>(() => stranger.ListTasksAsync());
        Assert.Equal(HttpStatusCode.NotFound, ex.StatusCode);
        Assert.True(ex.Is(ProblemTypes.NotFound));
    }

    [Fact]
    public async Task CreateTask_WithoutTitle_ThrowsValidationProblemNamingTheField()
    {
        var ex = await Assert.ThrowsAsync<ClarityApiException>(() => _agent.CreateTaskAsync(new CreateTaskRequest("q-validation", "")));

        Assert.Equal(HttpStatusCode.BadRequest, ex.StatusCode);
        Assert.True(ex.Is(ProblemTypes.Validation));
        Assert.Contains("title", ex.Errors!.Keys);
    }

    [Fact]
    public async Task Agent_WhenRegistered_IsListedWithItsLabels()
    {
        var agent = await _agent.RegisterAgentAsync("builder-1", ["linux", "gpu"]);

        Assert.Equal(["gpu", "linux"], (await _agent.GetAgentAsync(agent.Id)).Labels.Order());
        Assert.Contains(await _agent.EnumerateAgentsAsync().ToListAsync(), a => a.Name == "builder-1");
    }

    [Fact]
    public async Task Task_RunsCreateCheckoutHeartbeatLogComplete()
    {
        var created = await _agent.CreateTaskAsync(new CreateTaskRequest("q-life", "build", Input: new { branch = "main" }));
        Assert.Equal(TaskStatuses.Queued, created.Status);

        var lease = await _agent.CheckoutAsync(new CheckoutRequest("worker", Queues: ["q-life"], WaitSeconds: 1));
        Assert.NotNull(lease);
        Assert.Equal(created.Id, lease.Task.Id);
        Assert.Equal("main", lease.Task.Input!.Value.GetProperty("branch").GetString());

        var beat = await _agent.HeartbeatAsync(created.Id, lease.LeaseToken);
        Assert.Equal(TaskStatuses.Running, beat.Status);

        var appended = await _agent.AppendLogsAsync(created.Id, [new LogLine("compiling"), new LogLine("warning: x", "stderr", LogLevels.Warn)]);
        Assert.Equal(2, appended.Count);

        var done = await _agent.CompleteTaskAsync(created.Id, lease.LeaseToken, new { artifacts = 3 });
        Assert.Equal(TaskStatuses.Succeeded, done.Status);
        Assert.Equal(3, (await _agent.GetTaskAsync(created.Id)).Output!.Value.GetProperty("artifacts").GetInt32());

        var logs = await _agent.ReadLogsAsync(created.Id);
        Assert.Equal(["compiling", "warning: x"], logs.Entries.Select(e => e.Text));
        Assert.Equal(["stdout", "stderr"], logs.Entries.Select(e => e.Stream));
        Assert.Equal(LogLevels.Warn, logs.Entries[1].Level);
        Assert.Empty((await _agent.ReadLogsAsync(created.Id, afterSeq: logs.LastSeq)).Entries);
    }

    [Fact]
    public async Task Checkout_WhenQueueIsEmpty_ReturnsNull()
    {
        Assert.Null(await _agent.CheckoutAsync(new CheckoutRequest("idle-worker", Queues: ["q-empty"], WaitSeconds: 0)));
    }

    [Fact]
    public async Task CheckoutMany_ClaimsUpToMaxTasks_ThenReturnsEmpty()
    {
        var created = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            created.Add((await _agent.CreateTaskAsync(new CreateTaskRequest("q-many", $"t{i}"))).Id);
        }

        var first = await _agent.CheckoutManyAsync(new CheckoutRequest("batcher", Queues: ["q-many"]), maxTasks: 2);
        var second = await _agent.CheckoutManyAsync(new CheckoutRequest("batcher", Queues: ["q-many"]), maxTasks: 2);

        Assert.Equal(2, first.Count);
        Assert.Equal(created, first.Concat(second).Select(l => l.Task.Id));
        Assert.Empty(await _agent.CheckoutManyAsync(new CheckoutRequest("batcher", Queues: ["q-many"]), maxTasks: 2));
        foreach (var lease in first.Concat(second))
        {
            Assert.Equal(TaskStatuses.Succeeded, (await _agent.CompleteTaskAsync(lease.Task.Id, lease.LeaseToken)).Status);
        }

        var ex = await Assert.ThrowsAsync<ClarityApiException>(() => _agent.CheckoutManyAsync(new CheckoutRequest("batcher"), maxTasks: 0));
        Assert.Equal(HttpStatusCode.BadRequest, ex.StatusCode);
        Assert.True(ex.Errors!.ContainsKey("maxTasks"));
    }

    [Fact]
    public async Task CompleteAndCheckout_HandsOverTheNextTask_ThenNullWhenTheQueueIsEmpty()
    {
        var first = await _agent.CreateTaskAsync(new CreateTaskRequest("q-eager", "first"));
        var second = await _agent.CreateTaskAsync(new CreateTaskRequest("q-eager", "second"));
        var lease = await _agent.CheckoutAsync(new CheckoutRequest("eager", Queues: ["q-eager"]));

        var done = await _agent.CompleteAndCheckoutAsync(first.Id, lease!.LeaseToken, new { n = 1 }, new NextTaskRequest(Queues: ["q-eager"]));

        Assert.Equal((first.Id, TaskStatuses.Succeeded), (done.Task.Id, done.Task.Status));
        Assert.NotNull(done.Next);
        Assert.Equal((second.Id, TaskStatuses.Running), (done.Next.Task.Id, done.Next.Task.Status));

        var last = await _agent.CompleteAndCheckoutAsync(second.Id, done.Next.LeaseToken, null, new NextTaskRequest(Queues: ["q-eager"]));
        Assert.Equal(TaskStatuses.Succeeded, last.Task.Status);
        Assert.Null(last.Next);
    }

    [Fact]
    public async Task Checkout_ByTaskId_ClaimsThatTask()
    {
        var first = await _agent.CreateTaskAsync(new CreateTaskRequest("q-by-id", "first"));
        var second = await _agent.CreateTaskAsync(new CreateTaskRequest("q-by-id", "second"));

        var lease = await _agent.CheckoutAsync(new CheckoutRequest("picker", Queues: ["q-by-id"], TaskId: second.Id));

        Assert.Equal(second.Id, lease!.Task.Id);
        Assert.Equal(TaskStatuses.Queued, (await _agent.GetTaskAsync(first.Id)).Status);
    }

    [Fact]
    public async Task Fail_WhenRetryable_RequeuesTheTask_AndTheOldLeaseIsStale()
    {
        var created = await _agent.CreateTaskAsync(new CreateTaskRequest("q-fail", "flaky", MaxAttempts: 2));
        var lease = await _agent.CheckoutAsync(new CheckoutRequest("w", Queues: ["q-fail"]));

        var failed = await _agent.FailTaskAsync(created.Id, lease!.LeaseToken, "network down", retryable: true);

        Assert.Equal(TaskStatuses.Queued, failed.Status);
        var ex = await Assert.ThrowsAsync<ClarityApiException>(() => _agent.HeartbeatAsync(created.Id, lease.LeaseToken));
        Assert.Equal(HttpStatusCode.Conflict, ex.StatusCode);
        Assert.True(ex.Is(ProblemTypes.StaleLease));
    }

    [Fact]
    public async Task Cancel_WhileRunning_MakesTheHeartbeatFailWithConflict()
    {
        var created = await _agent.CreateTaskAsync(new CreateTaskRequest("q-cancel", "long"));
        var lease = await _agent.CheckoutAsync(new CheckoutRequest("w", Queues: ["q-cancel"]));

        Assert.Equal(TaskStatuses.Cancelled, (await _agent.CancelTaskAsync(created.Id)).Status);

        var ex = await Assert.ThrowsAsync<ClarityApiException>(() => _agent.HeartbeatAsync(created.Id, lease!.LeaseToken));
        Assert.Equal(HttpStatusCode.Conflict, ex.StatusCode);
    }

    [Fact]
    public async Task EnumerateTasks_FollowsTheCursorAcrossPages()
    {
        var ids = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add((await _agent.CreateTaskAsync(new CreateTaskRequest("q-pages", $"t{i}"))).Id);
        }

        var firstPage = await _agent.ListTasksAsync(new TaskQuery(Queue: "q-pages", Limit: 2));
        Assert.Equal(2, firstPage.Items.Count);
        Assert.NotNull(firstPage.NextCursor);

        var all = new List<Guid>();
        await foreach (var task in _agent.EnumerateTasksAsync(new TaskQuery(Queue: "q-pages", Limit: 2)))
        {
            all.Add(task.Id);
        }

        Assert.Equal(ids.Order(), all.Order());
    }

    [Fact]
    public async Task SearchLogs_FindsAnAppendedWord()
    {
        var created = await _agent.CreateTaskAsync(new CreateTaskRequest("q-search", "search me"));
        await _agent.AppendLogsAsync(created.Id, [new LogLine("the flux capacitor is charging"), new LogLine("done")]);

        var result = await _agent.SearchLogsAsync("capacitor", created.Id);

        var hit = Assert.Single(result.Results);
        Assert.Equal(created.Id, hit.TaskId);
        Assert.Contains("<mark>capacitor</mark>", hit.Snippet, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Clarification_LongPoll_ReturnsTheAnswerOnceGiven()
    {
        var created = await _agent.CreateTaskAsync(new CreateTaskRequest("q-ask", "needs a human"));
        var lease = await _agent.CheckoutAsync(new CheckoutRequest("asker", Queues: ["q-ask"]));
        var question = await _agent.CreateClarificationAsync(created.Id, new CreateClarificationRequest(lease!.LeaseToken, "Deploy now?", 300, Options: ["yes", "no"]));
        Assert.Equal(ClarificationStatuses.Pending, question.Status);
        Assert.Equal(TaskStatuses.AwaitingResponse, (await _agent.GetTaskAsync(created.Id)).Status);
        Assert.Contains((await _owner.ListClarificationsAsync(ClarificationStatuses.Pending)).Items, c => c.Id == question.Id);

        var waiting = _agent.GetClarificationAsync(question.Id, waitSeconds: 50);
        await _owner.AnswerClarificationAsync(question.Id, "yes");

        var answered = await waiting;
        Assert.Equal(ClarificationStatuses.Answered, answered.Status);
        Assert.Equal("yes", answered.Answer);
    }

    [Fact]
    public async Task Call_WhenCallerCancels_ThrowsOperationCanceled()
    {
        using var cts = new CancellationTokenSource();
        var waiting = _agent.CheckoutAsync(new CheckoutRequest("patient", Queues: ["q-never"], WaitSeconds: 20), cts.Token);

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }

    [Fact]
    public async Task OrgScopedCall_WithoutOrg_ThrowsInvalidOperation()
    {
        using var noOrg = new ClarityClient(_host.BaseAddress, "clk_unused");

        await Assert.ThrowsAsync<InvalidOperationException>(() => noOrg.ListTasksAsync());
    }
}

public sealed class SqliteClarityClientTests() : ClarityClientTests(Backend.Sqlite);

public sealed class PostgresClarityClientTests() : ClarityClientTests(Backend.Postgres);
