using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Workflows;

/// <summary>
/// Workflow runs end to end over the API, with real agents' calls: steps become tasks when their needs succeed,
/// fan-out and fan-in, failures skip dependents, conditions, signals, approvals, waits, child workflows, and the
/// interventions (pause, resume, cancel, retry, skip, the debugger).
/// </summary>
public abstract class WorkflowRunTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : HostFixture
{
    private ClarityHost Host => fixture.Host;

    private OrgSession Org => fixture.Org;

    private static string Name() => Work.Unique("wf").ToLowerInvariant();

    private async Task UploadAsync(string yaml)
    {
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        var response = await admin.PostAsync(Org.Api("workflows"), new StringContent(yaml, Encoding.UTF8, new MediaTypeHeaderValue("application/yaml")));
        Assert.True(response.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    private async Task<string> StartAsync(string name, object? input = null, bool debug = false, string[]? breakpoints = null, HttpClient? client = null)
    {
        using var member = Host.CreateClient(Org.MemberKey);
        var run = await (client ?? member).PostAsJsonAsync(Org.Api($"workflows/{name}/runs"), new { input = input ?? new { }, debug, breakpoints })
            .ExpectAsync(HttpStatusCode.Created);
        Assert.Equal("running", run.Str("status"));
        return run.Str("id");
    }

    private async Task<JsonElement> RunAsync(string id)
    {
        using var member = Host.CreateClient(Org.MemberKey);
        return await member.GetAsync(Org.Api($"runs/{id}")).ExpectAsync(HttpStatusCode.OK);
    }

    private static JsonElement Step(JsonElement run, string id) => run.GetProperty("steps").EnumerateArray().Single(s => s.Str("id") == id);

    private static string StatusOf(JsonElement run, string id) => Step(run, id).Str("status");

    /// <summary>Polls the run until <paramref name="done"/> holds (timers run on the sweep) or a generous deadline passes.</summary>
    private async Task<JsonElement> WaitForRunAsync(string id, Func<JsonElement, bool> done, string what)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        while (true)
        {
            var run = await RunAsync(id);
            if (done(run))
            {
                return run;
            }

            Assert.True(DateTimeOffset.UtcNow < deadline, $"Gave up waiting for the run to be {what}; it is: {run}");
            await Task.Delay(100);
        }
    }

    /// <summary>Checks out the next task of the queue as an agent and completes it with the output.</summary>
    private async Task<JsonElement> DoTaskAsync(string queue, object? output = null)
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var lease = await agent.CheckoutTaskAsync(Org, "agent-" + queue, queue);
        await agent.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/complete"), new { leaseToken = lease.Token, output }).ExpectAsync(HttpStatusCode.OK);
        return lease.Task;
    }

    private async Task FailTaskAsync(string queue, string error = "boom")
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        var lease = await agent.CheckoutTaskAsync(Org, "agent-" + queue, queue);
        await agent.PostAsJsonAsync(Org.Api($"tasks/{lease.TaskId}/fail"), new { leaseToken = lease.Token, error }).ExpectAsync(HttpStatusCode.OK);
    }

    private async Task AssertQueueEmptyAsync(string queue)
    {
        using var agent = Host.CreateClient(Org.MemberKey);
        Assert.Equal(HttpStatusCode.NoContent, (await agent.CheckoutAsync(Org, "agent-" + queue, queue)).StatusCode);
    }

    [Fact]
    public async Task Run_Chain_DispatchesEachStepWhenItsNeedSucceeds_RendersUpstreamOutputs_AndSucceedsWithTheLeafOutput()
    {
        var name = Name();
        var q = Work.Unique("q");
        await UploadAsync($$$"""
            name: {{{name}}}
            inputs:
              topic: { type: string, required: true }
              words: { type: integer, default: 300 }
            steps:
              - id: draft
                kind: task
                queue: {{{q}}}-draft
                title: "Draft ${{ inputs.topic }}"
                input: { topic: "${{ inputs.topic }}", words: "${{ inputs.words }}" }
                labels: { stage: draft }
              - id: review
                kind: task
                queue: {{{q}}}-review
                needs: [draft]
                title: "Review ${{ steps.draft.output.text }}"
                input: { text: "${{ steps.draft.output.text }}" }
            """);
        var id = await StartAsync(name, new { topic = "otters" });

        var started = await RunAsync(id);
        Assert.Equal(("running", "pending"), (StatusOf(started, "draft"), StatusOf(started, "review")));
        await AssertQueueEmptyAsync(q + "-review");

        var draft = await DoTaskAsync(q + "-draft", new { text = "otters swim" });
        Assert.Equal(("Draft otters", id, "draft"), (draft.Str("title"), draft.Str("runId"), draft.Str("stepId")));
        Assert.Equal(300, draft.GetProperty("input").GetProperty("words").GetInt32());
        var context = draft.GetProperty("context");
        Assert.Equal((name, "draft", 1), (context.GetProperty("workflow").Str("name"), context.GetProperty("workflow").Str("stepId"), context.GetProperty("workflow").Int("attempt")));
        Assert.Equal("draft", context.GetProperty("labels").Str("stage"));
        Assert.Empty(draft.GetProperty("labels").EnumerateArray());

        var review = await DoTaskAsync(q + "-review", new { verdict = "fine" });
        Assert.Equal(("Review otters swim", "otters swim"), (review.Str("title"), review.GetProperty("input").Str("text")));

        var done = await RunAsync(id);
        Assert.Equal("succeeded", done.Str("status"));
        Assert.Equal("fine", done.GetProperty("output").GetProperty("review").Str("verdict"));
        Assert.All(done.GetProperty("steps").EnumerateArray(), s => Assert.Equal("succeeded", s.Str("status")));
        Assert.Equal("otters swim", Step(done, "draft").GetProperty("output").Str("text"));
        Assert.False(Step(done, "draft").IsNull("taskId"));
    }

    [Fact]
    public async Task FanOutFanIn_RunsBranchesInParallel_AndTheMergeWaitsForAllOfThem()
    {
        var name = Name();
        var q = Work.Unique("q");
        await UploadAsync($$$"""
            name: {{{name}}}
            steps:
              - { id: a, kind: task, queue: {{{q}}}-branch, title: A }
              - { id: b, kind: task, queue: {{{q}}}-branch, title: B }
              - { id: c, kind: task, queue: {{{q}}}-branch, title: C }
              - id: merge
                kind: task
                queue: {{{q}}}-merge
                needs: [a, b, c]
                title: Merge
                input: { parts: ["${{ steps.a.output }}", "${{ steps.b.output }}", "${{ steps.c.output }}"] }
            """);
        var id = await StartAsync(name);

        var titles = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var task = await DoTaskAsync(q + "-branch", i);
            titles.Add(task.Str("title"));
            if (i < 2)
            {
                await AssertQueueEmptyAsync(q + "-merge");
            }
        }

        Assert.Equal(["A", "B", "C"], titles.Order());
        var merge = await DoTaskAsync(q + "-merge");
        Assert.Equal(3, merge.GetProperty("input").GetProperty("parts").GetArrayLength());
        Assert.Equal("succeeded", (await RunAsync(id)).Str("status"));
    }

    [Fact]
    public async Task WideFanOut_DispatchedByOneCompletion_GivesEveryStepOneTaskOfItsOwn_AndTheMergeWaitsForAllOfThem()
    {
        // More branches than one write of the dispatch holds (100 tasks and 100 steps per round trip), and not a multiple of it.
        const int branches = 230;
        var name = Name();
        var q = Work.Unique("q");
        var yaml = new StringBuilder($"name: {name}\nsteps:\n  - {{ id: start, kind: task, queue: {q}-start, title: Start }}\n");
        for (var i = 0; i < branches; i++)
        {
            yaml.Append($"  - {{ id: b{i:D3}, kind: task, queue: {q}-branch, title: B{i:D3}, needs: [start], input: {{ n: {i} }} }}\n");
        }

        yaml.Append($"  - {{ id: merge, kind: task, queue: {q}-merge, title: Merge, needs: [{string.Join(", ", Enumerable.Range(0, branches).Select(i => $"b{i:D3}"))}] }}\n");
        await UploadAsync(yaml.ToString());
        var id = await StartAsync(name);
        await DoTaskAsync(q + "-start");

        var run = await RunAsync(id);
        var taskOfStep = run.GetProperty("steps").EnumerateArray().Where(s => s.Str("id").StartsWith('b'))
            .ToDictionary(s => s.Str("id"), s => { Assert.Equal("running", s.Str("status")); return s.Str("taskId"); });
        Assert.Equal(branches, taskOfStep.Count);
        Assert.Equal(branches, taskOfStep.Values.Distinct().Count());

        using var agent = Host.CreateClient(Org.MemberKey);
        var done = new HashSet<string>();
        while (true)
        {
            var response = await agent.PostAsJsonAsync(Org.Api("work/checkout"), new { agent = "agent-" + q, queues = new[] { q + "-branch" }, maxTasks = 100 });
            if (response.StatusCode == HttpStatusCode.NoContent)
            {
                break;
            }

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            foreach (var lease in (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("leases").EnumerateArray())
            {
                var task = lease.GetProperty("task");
                var step = $"b{task.GetProperty("input").GetProperty("n").GetInt32():D3}";
                Assert.Equal(taskOfStep[step], task.Str("id"));
                Assert.Equal("B" + step[1..], task.Str("title"));
                Assert.True(done.Add(step), $"The step {step} was handed out twice.");
                if (done.Count == branches)
                {
                    // All but this one have finished: the merge still waits.
                    await AssertQueueEmptyAsync(q + "-merge");
                }

                await agent.PostAsJsonAsync(Org.Api($"tasks/{task.Str("id")}/complete"), new { leaseToken = lease.Str("leaseToken"), output = new { step } })
                    .ExpectAsync(HttpStatusCode.OK);
            }
        }

        Assert.Equal(branches, done.Count);
        await DoTaskAsync(q + "-merge");
        var finished = await RunAsync(id);
        Assert.Equal("succeeded", finished.Str("status"));
        Assert.All(taskOfStep.Keys, step => Assert.Equal("succeeded", StatusOf(finished, step)));
    }

    [Fact]
    public async Task Failure_SkipsDependents_IndependentBranchesFinish_RunFails_AndRetryingTheStepReopensThemAndSucceeds()
    {
        var name = Name();
        var q = Work.Unique("q");
        await UploadAsync($$$"""
            name: {{{name}}}
            steps:
              - { id: fetch, kind: task, queue: {{{q}}}-fetch, title: Fetch }
              - { id: parse, kind: task, queue: {{{q}}}-parse, title: Parse, needs: [fetch] }
              - { id: report, kind: task, queue: {{{q}}}-report, title: Report, needs: [parse] }
              - { id: side, kind: task, queue: {{{q}}}-side, title: Side }
            """);
        var id = await StartAsync(name);

        await FailTaskAsync(q + "-fetch", "network down");
        var afterFailure = await RunAsync(id);
        Assert.Equal(("failed", "skipped", "skipped", "running"), (StatusOf(afterFailure, "fetch"), StatusOf(afterFailure, "parse"), StatusOf(afterFailure, "report"), StatusOf(afterFailure, "side")));
        Assert.Equal("upstream", Step(afterFailure, "parse").Str("skipReason"));
        Assert.Equal("running", afterFailure.Str("status"));

        await DoTaskAsync(q + "-side");
        var failed = await RunAsync(id);
        Assert.Equal("failed", failed.Str("status"));
        Assert.Contains("fetch", failed.Str("error"));

        using var member = Host.CreateClient(Org.MemberKey);
        var retried = await member.PostAsync(Org.Api($"runs/{id}/steps/fetch/retry"), null).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("running", retried.Str("status"));
        var reopened = await RunAsync(id);
        Assert.Equal(("running", "pending", "pending", "succeeded"), (StatusOf(reopened, "fetch"), StatusOf(reopened, "parse"), StatusOf(reopened, "report"), StatusOf(reopened, "side")));

        await DoTaskAsync(q + "-fetch");
        await DoTaskAsync(q + "-parse");
        await DoTaskAsync(q + "-report");
        Assert.Equal("succeeded", (await RunAsync(id)).Str("status"));

        await member.PostAsync(Org.Api($"runs/{id}/steps/fetch/retry"), null).ExpectProblemAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task TaskStepRetry_DispatchesANewAttempt_UntilTheAttemptsAreUsed()
    {
        var name = Name();
        var q = Work.Unique("q");
        await UploadAsync($$$"""
            name: {{{name}}}
            steps:
              - { id: flaky, kind: task, queue: {{{q}}}, title: Flaky, retry: { attempts: 2, backoffSeconds: 0 } }
            """);
        var id = await StartAsync(name);

        await FailTaskAsync(q, "first try fails");
        var second = await RunAsync(id);
        Assert.Equal(("running", 2), (StatusOf(second, "flaky"), Step(second, "flaky").Int("attempts")));
        await FailTaskAsync(q, "second try fails");
        var failed = await RunAsync(id);
        Assert.Equal(("failed", "failed"), (failed.Str("status"), StatusOf(failed, "flaky")));
        Assert.Contains("second try fails", Step(failed, "flaky").Str("error"));
    }

    [Fact]
    public async Task When_False_SkipsTheStep_AndItsDependents_WhileTrueRuns()
    {
        var name = Name();
        var q = Work.Unique("q");
        await UploadAsync($$$"""
            name: {{{name}}}
            inputs:
              urgent: { type: boolean, default: false }
            steps:
              - { id: alert, kind: task, queue: {{{q}}}, title: Alert, when: "inputs.urgent" }
              - { id: follow, kind: task, queue: {{{q}}}, title: Follow, needs: [alert] }
              - { id: always, kind: task, queue: {{{q}}}, title: Always, when: "!inputs.urgent" }
            """);
        var id = await StartAsync(name);
        var run = await RunAsync(id);
        Assert.Equal(("skipped", "condition"), (StatusOf(run, "alert"), Step(run, "alert").Str("skipReason")));
        Assert.Equal(("skipped", "upstream"), (StatusOf(run, "follow"), Step(run, "follow").Str("skipReason")));
        Assert.Equal("Always", (await DoTaskAsync(q)).Str("title"));
        Assert.Equal("succeeded", (await RunAsync(id)).Str("status"));
    }

    [Fact]
    public async Task FanIn_WhoseOtherNeedIsSkippedInTheSameChange_IsSkipped_AndTheRunStillFinishes()
    {
        var name = Name();
        var q = Work.Unique("q");
        await UploadAsync($$$"""
            name: {{{name}}}
            steps:
              - { id: a, kind: task, queue: {{{q}}}, title: A }
              - { id: b, kind: task, queue: {{{q}}}, title: B, needs: [a], when: "steps.a.output.go" }
              - { id: join, kind: task, queue: {{{q}}}, title: Join, needs: [a, b] }
            """);
        var id = await StartAsync(name);
        await DoTaskAsync(q, new { go = false });
        var run = await RunAsync(id);
        Assert.Equal(("skipped", "skipped", "succeeded"), (StatusOf(run, "b"), StatusOf(run, "join"), run.Str("status")));
        await AssertQueueEmptyAsync(q);
    }

    [Fact]
    public async Task Profile_ShowsEachStepsPhases_TheCriticalPath_AndTheVersionsBottleneckTable()
    {
        var name = Name();
        var q = Work.Unique("q");
        await UploadAsync($$$"""
            name: {{{name}}}
            steps:
              - { id: quick, kind: task, queue: {{{q}}}-quick, title: Quick }
              - { id: slow, kind: task, queue: {{{q}}}-slow, title: Slow }
              - { id: last, kind: task, queue: {{{q}}}-last, title: Last, needs: [quick, slow] }
            """);
        var id = await StartAsync(name);
        await DoTaskAsync(q + "-quick");
        await Task.Delay(50);
        await DoTaskAsync(q + "-slow");
        await DoTaskAsync(q + "-last");
        var run = await RunAsync(id);
        Assert.True(Step(run, "slow").GetProperty("profile").GetProperty("onCriticalPath").GetBoolean());
        Assert.True(Step(run, "last").GetProperty("profile").GetProperty("onCriticalPath").GetBoolean());
        Assert.False(Step(run, "quick").GetProperty("profile").GetProperty("onCriticalPath").GetBoolean());
        Assert.True(Step(run, "slow").GetProperty("profile").GetProperty("queuedMs").GetInt64() >= 0);
        Assert.True(Step(run, "slow").GetProperty("profile").GetProperty("runningMs").GetInt64() >= 0);

        using var member = Host.CreateClient(Org.MemberKey);
        var profile = await member.GetAsync(Org.Api($"workflows/{name}/versions/latest/profile")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(1, profile.Int("runs"));
        Assert.Equal(["last", "quick", "slow"], profile.GetProperty("steps").EnumerateArray().Select(s => s.Str("stepId")).Order());
        Assert.All(profile.GetProperty("steps").EnumerateArray(), s => Assert.True(s.GetProperty("p95Ms").GetInt64() >= s.GetProperty("p50Ms").GetInt64()));
    }

    [Fact]
    public async Task Signal_SentBeforeTheWaitStarts_IsKept_AndCompletesTheWait_AndAFinishedRunAnswers409()
    {
        var name = Name();
        var q = Work.Unique("q");
        await UploadAsync($$$"""
            name: {{{name}}}
            steps:
              - { id: build, kind: task, queue: {{{q}}}-build, title: Build }
              - { id: deployed, kind: wait, needs: [build], signal: deployed, timeoutSeconds: 3600 }
              - id: verify
                kind: task
                queue: {{{q}}}-verify
                needs: [deployed]
                title: "Verify ${{ steps.deployed.output.url }}"
            """);
        var id = await StartAsync(name);
        using var member = Host.CreateClient(Org.MemberKey);

        var early = await member.PostAsJsonAsync(Org.Api($"runs/{id}/signals/deployed"), new { payload = new { url = "https://example.test/v2" } }).ExpectAsync(HttpStatusCode.OK);
        Assert.False(early.GetProperty("delivered").GetBoolean());
        Assert.Equal("pending", StatusOf(await RunAsync(id), "deployed"));

        await DoTaskAsync(q + "-build");
        var run = await RunAsync(id);
        Assert.Equal("succeeded", StatusOf(run, "deployed"));
        Assert.Equal("Verify https://example.test/v2", (await DoTaskAsync(q + "-verify")).Str("title"));
        Assert.Equal("succeeded", (await RunAsync(id)).Str("status"));

        await member.PostAsJsonAsync(Org.Api($"runs/{id}/signals/deployed"), new { payload = 1 }).ExpectProblemAsync(HttpStatusCode.Conflict, "run-finished");
    }

    [Fact]
    public async Task Signal_ToAWaitingStep_CompletesItAtOnce_WithThePayloadAsOutput()
    {
        var name = Name();
        await UploadAsync($$"""
            name: {{name}}
            steps:
              - { id: gate, kind: wait, signal: go }
            """);
        var id = await StartAsync(name);
        Assert.Equal("waiting", StatusOf(await RunAsync(id), "gate"));
        using var member = Host.CreateClient(Org.MemberKey);
        var sent = await member.PostAsJsonAsync(Org.Api($"runs/{id}/signals/go"), new { payload = new { ok = true } }).ExpectAsync(HttpStatusCode.OK);
        Assert.True(sent.GetProperty("delivered").GetBoolean());
        Assert.Equal(["gate"], sent.GetProperty("steps").EnumerateArray().Select(s => s.GetString()));
        var run = await RunAsync(id);
        Assert.Equal("succeeded", run.Str("status"));
        Assert.True(Step(run, "gate").GetProperty("output").GetProperty("ok").GetBoolean());
    }

    [Fact]
    public async Task Wait_ForSeconds_EndsOnTheTimer_AndASignalWaitThatTimesOutFailsOrContinuesAsDefined()
    {
        var name = Name();
        await UploadAsync($$"""
            name: {{name}}
            steps:
              - { id: pause, kind: wait, seconds: 1 }
              - { id: strict, kind: wait, signal: never, timeoutSeconds: 1 }
              - { id: lenient, kind: wait, signal: never, timeoutSeconds: 1, onTimeout: continue }
            """);
        var id = await StartAsync(name);
        var run = await WaitForRunAsync(id, r => r.Str("status") != "running", "finished");
        Assert.Equal(("succeeded", "failed", "succeeded"), (StatusOf(run, "pause"), StatusOf(run, "strict"), StatusOf(run, "lenient")));
        Assert.True(Step(run, "lenient").GetProperty("output").GetProperty("timedOut").GetBoolean());
        Assert.Equal("failed", run.Str("status"));
    }

    [Fact]
    public async Task Approval_NeedsDistinctPeople_RefusesSecondVotesSelfApprovalKeysAndOutsiders_AndPassesOnTheNthApproval()
    {
        var name = Name();
        var q = Work.Unique("q");
        await UploadAsync($$$"""
            name: {{{name}}}
            steps:
              - { id: approve, kind: approval, votes: 2, from: tasks:respond, description: Two people sign off }
              - { id: publish, kind: task, queue: {{{q}}}, title: Publish, needs: [approve] }
            """);
        var requester = await Host.AddPersonAsync(Org, "member");
        using var requesterClient = Host.CreateClient(requester.Token);
        var id = await StartAsync(name, client: requesterClient);
        var first = await Host.AddPersonAsync(Org, "member");
        var second = await Host.AddPersonAsync(Org, "admin");
        var viewer = await Host.AddPersonAsync(Org, "viewer");
        using var firstClient = Host.CreateClient(first.Token);
        using var secondClient = Host.CreateClient(second.Token);
        using var viewerClient = Host.CreateClient(viewer.Token);
        using var key = Host.CreateClient(Org.Keys["admin"]);
        var votes = Org.Api($"runs/{id}/steps/approve/votes");

        var inbox = await firstClient.GetAsync(Org.Api("approvals")).ExpectAsync(HttpStatusCode.OK);
        Assert.Contains(inbox.EnumerateArray(), a => a.Str("runId") == id && a.Str("stepId") == "approve" && a.Int("required") == 2);

        await requesterClient.PostAsJsonAsync(votes, new { decision = "approve" }).ExpectProblemAsync(HttpStatusCode.Forbidden);
        await key.PostAsJsonAsync(votes, new { decision = "approve" }).ExpectProblemAsync(HttpStatusCode.Forbidden);
        await viewerClient.PostAsJsonAsync(votes, new { decision = "approve" }).ExpectProblemAsync(HttpStatusCode.Forbidden);
        await firstClient.PostAsJsonAsync(votes, new { decision = "maybe" }).ExpectProblemAsync(HttpStatusCode.BadRequest);

        var one = await firstClient.PostAsJsonAsync(votes, new { decision = "approve", comment = "looks right" }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("waiting", one.Str("status"));
        await firstClient.PostAsJsonAsync(votes, new { decision = "approve" }).ExpectProblemAsync(HttpStatusCode.Conflict, "already-voted");
        await AssertQueueEmptyAsync(q);

        var two = await secondClient.PostAsJsonAsync(votes, new { decision = "approve" }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("succeeded", two.Str("status"));
        var voters = two.GetProperty("approval").GetProperty("votes").EnumerateArray().Select(v => Guid.Parse(v.Str("userId"))).ToHashSet();
        Assert.Equal(new HashSet<Guid> { first.UserId, second.UserId }, voters);
        Assert.Equal("looks right", two.GetProperty("approval").GetProperty("votes").EnumerateArray().Single(v => v.Str("userId") == first.UserId.ToString()).Str("comment"));
        await DoTaskAsync(q);
        Assert.Equal("succeeded", (await RunAsync(id)).Str("status"));
        await secondClient.PostAsJsonAsync(votes, new { decision = "reject" }).ExpectProblemAsync(HttpStatusCode.Conflict);

        using var owner = Host.CreateClient(Org.OwnerToken);
        var audit = await owner.GetAsync(Org.Api($"audit?action=approval.voted&limit=50")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(2, audit.GetProperty("items").EnumerateArray().Count(e => e.GetProperty("target").Str("id") == id));
    }

    [Fact]
    public async Task Approval_OneRejectionFailsIt_AndSkipsWhatNeedsIt()
    {
        var name = Name();
        var q = Work.Unique("q");
        await UploadAsync($$$"""
            name: {{{name}}}
            steps:
              - { id: approve, kind: approval, votes: 3, from: member }
              - { id: publish, kind: task, queue: {{{q}}}, title: Publish, needs: [approve] }
            """);
        var id = await StartAsync(name);
        var voter = await Host.AddPersonAsync(Org, "member");
        using var client = Host.CreateClient(voter.Token);
        var step = await client.PostAsJsonAsync(Org.Api($"runs/{id}/steps/approve/votes"), new { decision = "reject", comment = "not yet" }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("failed", step.Str("status"));
        var run = await RunAsync(id);
        Assert.Equal(("failed", "skipped"), (run.Str("status"), StatusOf(run, "publish")));
    }

    [Fact]
    public async Task Approval_ThatExpires_FollowsOnExpiry()
    {
        var name = Name();
        await UploadAsync($$"""
            name: {{name}}
            steps:
              - { id: yes, kind: approval, votes: 1, from: tasks:respond, expiresInSeconds: 1, onExpiry: approve }
              - { id: no, kind: approval, votes: 1, from: tasks:respond, expiresInSeconds: 1, onExpiry: reject }
            """);
        var id = await StartAsync(name);
        var run = await WaitForRunAsync(id, r => r.Str("status") != "running", "finished");
        Assert.Equal(("succeeded", "failed"), (StatusOf(run, "yes"), StatusOf(run, "no")));
        Assert.True(Step(run, "yes").GetProperty("output").GetProperty("expired").GetBoolean());
    }

    [Fact]
    public async Task Pause_DispatchesNothingNew_Resume_DispatchesWhatBecameReady_AndIllegalTransitionsAnswer409()
    {
        var name = Name();
        var q = Work.Unique("q");
        await UploadAsync($$$"""
            name: {{{name}}}
            steps:
              - { id: one, kind: task, queue: {{{q}}}, title: One }
              - { id: two, kind: task, queue: {{{q}}}, title: Two, needs: [one] }
            """);
        var id = await StartAsync(name);
        using var member = Host.CreateClient(Org.MemberKey);
        Assert.Equal("paused", (await member.PostAsync(Org.Api($"runs/{id}/pause"), null).ExpectAsync(HttpStatusCode.OK)).Str("status"));
        await member.PostAsync(Org.Api($"runs/{id}/pause"), null).ExpectProblemAsync(HttpStatusCode.Conflict);

        await DoTaskAsync(q);
        await AssertQueueEmptyAsync(q);
        var paused = await RunAsync(id);
        Assert.Equal(("paused", "succeeded", "pending"), (paused.Str("status"), StatusOf(paused, "one"), StatusOf(paused, "two")));

        Assert.Equal("running", (await member.PostAsync(Org.Api($"runs/{id}/resume"), null).ExpectAsync(HttpStatusCode.OK)).Str("status"));
        Assert.Equal("Two", (await DoTaskAsync(q)).Str("title"));
        Assert.Equal("succeeded", (await RunAsync(id)).Str("status"));
        await member.PostAsync(Org.Api($"runs/{id}/resume"), null).ExpectProblemAsync(HttpStatusCode.Conflict);
        await member.PostAsync(Org.Api($"runs/{id}/cancel"), null).ExpectProblemAsync(HttpStatusCode.Conflict, "run-finished");
    }

    [Fact]
    public async Task Cancel_CancelsRunningTasksAndChildRuns()
    {
        var child = Name();
        var parent = Name();
        var q = Work.Unique("q");
        await UploadAsync($$$"""
            name: {{{child}}}
            steps:
              - { id: inner, kind: task, queue: {{{q}}}-inner, title: Inner }
            """);
        await UploadAsync($$$"""
            name: {{{parent}}}
            steps:
              - { id: outer, kind: task, queue: {{{q}}}-outer, title: Outer }
              - { id: sub, kind: workflow, workflow: {{{child}}} }
            """);
        var id = await StartAsync(parent);
        var run = await RunAsync(id);
        var childId = Step(run, "sub").Str("childRunId");
        var outerTask = Step(run, "outer").Str("taskId");

        using var member = Host.CreateClient(Org.MemberKey);
        Assert.Equal("cancelled", (await member.PostAsync(Org.Api($"runs/{id}/cancel"), null).ExpectAsync(HttpStatusCode.OK)).Str("status"));
        var cancelled = await RunAsync(id);
        Assert.All(cancelled.GetProperty("steps").EnumerateArray(), s => Assert.Equal("cancelled", s.Str("status")));
        Assert.Equal("cancelled", (await member.GetTaskAsync(Org, outerTask)).Str("status"));
        var childRun = await RunAsync(childId);
        Assert.Equal("cancelled", childRun.Str("status"));
        Assert.Equal("cancelled", (await member.GetTaskAsync(Org, Step(childRun, "inner").Str("taskId"))).Str("status"));
        await AssertQueueEmptyAsync(q + "-inner");
    }

    [Fact]
    public async Task ChildWorkflow_GetsRenderedInputs_AndItsOutputComesBackToTheParent()
    {
        var child = Name();
        var parent = Name();
        var q = Work.Unique("q");
        await UploadAsync($$$"""
            name: {{{child}}}
            inputs:
              subject: { type: string, required: true }
            steps:
              - { id: summarize, kind: task, queue: {{{q}}}-child, title: "Summarize ${{ inputs.subject }}" }
            """);
        await UploadAsync($$$"""
            name: {{{parent}}}
            steps:
              - id: sub
                kind: workflow
                workflow: {{{child}}}
                inputs: { subject: "tides" }
              - id: use
                kind: task
                queue: {{{q}}}-parent
                needs: [sub]
                title: "Use ${{ steps.sub.output.summarize.text }}"
            """);
        var id = await StartAsync(parent);
        Assert.Equal("Summarize tides", (await DoTaskAsync(q + "-child", new { text = "high and low" })).Str("title"));
        Assert.Equal("Use high and low", (await DoTaskAsync(q + "-parent")).Str("title"));
        var run = await RunAsync(id);
        Assert.Equal("succeeded", run.Str("status"));

        using var member = Host.CreateClient(Org.MemberKey);
        var children = await member.GetAsync(Org.Api($"runs?parent={id}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(Step(run, "sub").Str("childRunId"), Assert.Single(children.GetProperty("items").EnumerateArray()).Str("id"));
    }

    [Fact]
    public async Task Skip_WithAnOutput_LetsDependentsRunWithIt_EvenAfterTheStepFailed()
    {
        var name = Name();
        var q = Work.Unique("q");
        await UploadAsync($$$"""
            name: {{{name}}}
            steps:
              - { id: lookup, kind: task, queue: {{{q}}}-lookup, title: Lookup }
              - { id: use, kind: task, queue: {{{q}}}-use, title: "Use ${{ steps.lookup.output.value }}", needs: [lookup] }
            """);
        var id = await StartAsync(name);
        await FailTaskAsync(q + "-lookup");
        Assert.Equal("failed", (await RunAsync(id)).Str("status"));

        using var member = Host.CreateClient(Org.MemberKey);
        await member.PostAsJsonAsync(Org.Api($"runs/{id}/steps/lookup/skip"), new { output = new { value = "manual" } }).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("Use manual", (await DoTaskAsync(q + "-use")).Str("title"));
        var run = await RunAsync(id);
        Assert.Equal(("succeeded", "skipped", "operator"), (run.Str("status"), StatusOf(run, "lookup"), Step(run, "lookup").Str("skipReason")));
        await member.PostAsJsonAsync(Org.Api($"runs/{id}/steps/lookup/skip"), new { output = 1 }).ExpectProblemAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task DebugRun_HoldsEachStepBeforeDispatch_WithItsResolvedInput_StepReleasesOne_ContinueRunsTheRest()
    {
        var name = Name();
        var q = Work.Unique("q");
        await UploadAsync($$$"""
            name: {{{name}}}
            inputs:
              who: { type: string, default: world }
            steps:
              - { id: hello, kind: task, queue: {{{q}}}, title: "Hello ${{ inputs.who }}" }
              - { id: bye, kind: task, queue: {{{q}}}, title: Bye, needs: [hello] }
            """);
        var id = await StartAsync(name, debug: true);
        var held = await RunAsync(id);
        Assert.True(Step(held, "hello").GetProperty("held").GetBoolean());
        Assert.Equal("Hello world", Step(held, "hello").GetProperty("input").GetProperty("resolved").Str("title"));
        await AssertQueueEmptyAsync(q);

        using var member = Host.CreateClient(Org.MemberKey);
        await member.PostAsync(Org.Api($"runs/{id}/steps/hello/release"), null).ExpectAsync(HttpStatusCode.OK);
        await member.PostAsync(Org.Api($"runs/{id}/steps/hello/release"), null).ExpectProblemAsync(HttpStatusCode.Conflict);
        await DoTaskAsync(q);
        Assert.True(Step(await RunAsync(id), "bye").GetProperty("held").GetBoolean());

        await member.PostAsync(Org.Api($"runs/{id}/continue"), null).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("Bye", (await DoTaskAsync(q)).Str("title"));
        Assert.Equal("succeeded", (await RunAsync(id)).Str("status"));
    }

    [Fact]
    public async Task RoleStep_GoesToTheBoundQueue_AsksForTheRolesAgentLabels_AndHandsOverModelAndPrompt()
    {
        var name = Name();
        var role = "writer" + Work.UniqueWord("r");
        var q = Work.Unique("q");
        using var admin = Host.CreateClient(Org.Keys["admin"]);
        await admin.PutAsJsonAsync(Org.Api($"workflow-roles/{role}"), new { queue = q, agentLabels = new[] { "gpu" }, modelAlias = "fast", promptTemplate = "Write well." })
            .ExpectAsync(HttpStatusCode.OK);
        await UploadAsync($$$"""
            name: {{{name}}}
            steps:
              - { id: write, kind: task, role: {{{role}}}, title: Write }
            """);
        await StartAsync(name);
        using var agent = Host.CreateClient(Org.MemberKey);
        Assert.Equal(HttpStatusCode.NoContent, (await agent.CheckoutAsync(Org, "plain", q)).StatusCode);
        var lease = await agent.CheckoutTaskAsync(Org, "gpu-agent", q, labels: ["gpu"]);
        var context = lease.Task.GetProperty("context").GetProperty("role");
        Assert.Equal((role, "fast", "Write well."), (context.Str("name"), context.Str("modelAlias"), context.Str("promptTemplate")));
    }

    [Fact]
    public async Task Start_BadInputs_UnknownWorkflowsAndOtherOrgs_AreRefusedWithProblems()
    {
        var name = Name();
        await UploadAsync($$"""
            name: {{name}}
            inputs:
              count: { type: integer, required: true }
            steps:
              - { id: gate, kind: wait, signal: go }
            """);
        using var member = Host.CreateClient(Org.MemberKey);
        using var viewer = Host.CreateClient(Org.Keys["viewer"]);
        var runs = Org.Api($"workflows/{name}/runs");
        await member.PostAsJsonAsync(runs, new { input = new { } }).ExpectProblemAsync(HttpStatusCode.BadRequest);
        await member.PostAsJsonAsync(runs, new { input = new { count = "three" } }).ExpectProblemAsync(HttpStatusCode.BadRequest);
        await member.PostAsJsonAsync(runs, new { input = new { count = 1.5 } }).ExpectProblemAsync(HttpStatusCode.BadRequest);
        await member.PostAsJsonAsync(runs, new { input = new { count = 1, extra = 2 } }).ExpectProblemAsync(HttpStatusCode.BadRequest);
        await member.PostAsJsonAsync(runs, new { input = 5 }).ExpectProblemAsync(HttpStatusCode.BadRequest);
        await member.PostAsJsonAsync(runs, new { input = new { count = 1 }, breakpoints = new[] { "nope" } }).ExpectProblemAsync(HttpStatusCode.BadRequest);
        await member.PostAsJsonAsync(runs, new { input = new { count = 1 }, version = 9 }).ExpectProblemAsync(HttpStatusCode.NotFound);
        await member.PostAsJsonAsync(Org.Api("workflows/nosuchflow/runs"), new { input = new { } }).ExpectProblemAsync(HttpStatusCode.NotFound);
        await viewer.PostAsJsonAsync(runs, new { input = new { count = 1 } }).ExpectProblemAsync(HttpStatusCode.Forbidden);

        var id = await StartAsync(name, new { count = 1 });
        using var other = Host.CreateClient(fixture.OtherOrg.MemberKey);
        await other.GetAsync(fixture.OtherOrg.Api($"runs/{id}")).ExpectProblemAsync(HttpStatusCode.NotFound);
        await other.PostAsJsonAsync(fixture.OtherOrg.Api($"runs/{id}/signals/go"), new { payload = 1 }).ExpectProblemAsync(HttpStatusCode.NotFound);
        await other.PostAsync(fixture.OtherOrg.Api($"runs/{id}/cancel"), null).ExpectProblemAsync(HttpStatusCode.NotFound);
        await member.PostAsJsonAsync(Org.Api($"runs/{id}/signals/Not%20A%20Name"), new { payload = 1 }).ExpectProblemAsync(HttpStatusCode.BadRequest);
        await member.PostAsync(Org.Api($"runs/{id}/steps/nope/retry"), null).ExpectProblemAsync(HttpStatusCode.NotFound);
        await member.PostAsJsonAsync(Org.Api($"runs/{id}/steps/gate/votes"), new { decision = "approve" }).ExpectProblemAsync(HttpStatusCode.Forbidden);
        await member.GetAsync(Org.Api("runs?status=bogus")).ExpectProblemAsync(HttpStatusCode.BadRequest);
        var listed = await member.GetAsync(Org.Api($"runs?workflow={name}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(id, Assert.Single(listed.GetProperty("items").EnumerateArray()).Str("id"));
    }

    [Fact]
    public async Task Run_SurvivesARestart_AndGoesOnFromWhereItsLastCommitLeftIt()
    {
        var name = Name();
        var q = Work.Unique("q");
        await UploadAsync($$$"""
            name: {{{name}}}
            steps:
              - { id: one, kind: task, queue: {{{q}}}, title: One }
              - { id: two, kind: task, queue: {{{q}}}, title: Two, needs: [one] }
            """);
        var id = await StartAsync(name);
        await DoTaskAsync(q);
        await Host.RestartAsync();
        Assert.Equal("Two", (await DoTaskAsync(q)).Str("title"));
        Assert.Equal("succeeded", (await RunAsync(id)).Str("status"));
    }
}

public sealed class SqliteWorkflowRunTests(SqliteHostFixture fixture) : WorkflowRunTests<SqliteHostFixture>(fixture);

public sealed class PostgresWorkflowRunTests(PostgresHostFixture fixture) : WorkflowRunTests<PostgresHostFixture>(fixture);
