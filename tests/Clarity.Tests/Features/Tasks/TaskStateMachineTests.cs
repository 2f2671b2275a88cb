using Clarity.Client;
using Clarity.Events;
using Clarity.Features.Identity;
using Clarity.Features.Tasks;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using CsCheck;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Tasks;

/// <summary>The task lifecycle as a pure state machine: which transitions are allowed from where, and where they lead.</summary>
public sealed class TaskStateMachineTests
{
    private static readonly Gen<string> Status = Gen.OneOf([.. TaskStatuses.All]);
    private static readonly Gen<TaskTransition> Transition = Gen.Enum<TaskTransition>();

    [Theory]
    [InlineData("queued", TaskTransition.Claim, "running")]
    [InlineData("running", TaskTransition.Ask, "awaiting_response")]
    [InlineData("awaiting_response", TaskTransition.Resume, "running")]
    [InlineData("running", TaskTransition.Complete, "succeeded")]
    [InlineData("queued", TaskTransition.Cancel, "cancelled")]
    [InlineData("running", TaskTransition.Cancel, "cancelled")]
    [InlineData("awaiting_response", TaskTransition.Cancel, "cancelled")]
    [InlineData("running", TaskTransition.TimedOut, "failed")]
    [InlineData("awaiting_response", TaskTransition.QuestionExpired, "failed")]
    [InlineData("blocked", TaskTransition.Unblock, "queued")]
    [InlineData("blocked", TaskTransition.DependencyFailed, "cancelled")]
    [InlineData("blocked", TaskTransition.Cancel, "cancelled")]
    public void Transition_FromItsStatus_LeadsWhereTheLifecycleSays(string from, TaskTransition transition, string to) =>
        Assert.Equal(to, TaskStateMachine.Next(from, transition, attempts: 1, maxAttempts: 3));

    [Theory]
    [InlineData(1, 3, true, "queued")]
    [InlineData(3, 3, true, "failed")]
    [InlineData(1, 3, false, "failed")]
    public void Fail_RetriesOnlyWhenRetryableAndAttemptsRemain(int attempts, int max, bool retryable, string to) =>
        Assert.Equal(to, TaskStateMachine.Next("running", TaskTransition.Fail, attempts, max, retryable));

    [Theory]
    [InlineData(1, 3, "queued")]
    [InlineData(3, 3, "failed")]
    public void LeaseExpiry_RequeuesWhileAttemptsRemain_ThenFails(int attempts, int max, string to) =>
        Assert.Equal(to, TaskStateMachine.Next("running", TaskTransition.LeaseExpired, attempts, max));

    [Theory]
    [InlineData(new string[0], "queued")]
    [InlineData(new[] { "succeeded", "succeeded" }, "queued")]
    [InlineData(new[] { "succeeded", "running" }, "blocked")]
    [InlineData(new[] { "blocked" }, "blocked")]
    [InlineData(new[] { "queued", "failed" }, "blocked")]
    public void ANewTask_StartsQueued_OnlyWhenEveryDependencySucceeded(string[] dependencies, string initial) =>
        Assert.Equal(initial, TaskStateMachine.Initial(dependencies));

    [Fact]
    public void ABlockedTask_IsLeftOnlyByUnblockDependencyFailedOrCancel() =>
        Assert.Equal(
            [TaskTransition.Cancel, TaskTransition.Unblock, TaskTransition.DependencyFailed],
            Enum.GetValues<TaskTransition>().Where(t => TaskStateMachine.Next(TaskStatuses.Blocked, t, 0, 3) is not null));

    [Fact]
    public void FinishedTasks_AcceptNoTransition() =>
        Gen.Select(Gen.OneOf(TaskStatuses.Succeeded, TaskStatuses.Failed, TaskStatuses.Cancelled), Transition, Gen.Int[0, 10], Gen.Int[1, 10], Gen.Bool, (a, b, c, d, e) => (a, b, c, d, e))
            .Sample((status, transition, attempts, max, retryable) => TaskStateMachine.Next(status, transition, attempts, max, retryable) is null);

    [Fact]
    public void EveryAllowedTransition_LeadsToAStatus_AndOnlyFromItsSources() =>
        Gen.Select(Status, Transition, Gen.Int[0, 10], Gen.Int[1, 10], Gen.Bool, (a, b, c, d, e) => (a, b, c, d, e)).Sample((status, transition, attempts, max, retryable) =>
        {
            var next = TaskStateMachine.Next(status, transition, attempts, max, retryable);
            var allowed = TaskStateMachine.From(transition).Contains(status);
            return allowed ? next is not null && TaskStatuses.All.Contains(next) : next is null;
        });

    [Fact]
    public void AFailedAttempt_GoesBackToTheQueue_ExactlyWhenRetriesSaysSo() =>
        Gen.Select(Gen.Int[0, 10], Gen.Int[1, 10], Gen.Bool, (a, b, c) => (a, b, c)).Sample((attempts, max, retryable) =>
            (TaskStateMachine.Next(TaskStatuses.Running, TaskTransition.Fail, attempts, max, retryable) == TaskStatuses.Queued)
                == TaskStateMachine.Retries(attempts, max, retryable));
}

/// <summary>
/// The database does exactly what the state machine says: random tasks in random states get random transitions through
/// the store's statements, on both backends, and the resulting status (or the refusal) matches <see cref="TaskStateMachine.Next"/>.
/// </summary>
public abstract class TaskTransitionConformanceTests(Backend backend) : IAsyncLifetime
{
    private ClarityHost _host = null!;
    private Guid _orgId;
    private Guid _agentId;

    public async Task InitializeAsync()
    {
        // No background sweeps: the test applies the sweeps' transitions itself, one task at a time.
        _host = await ClarityHost.StartAsync(backend, new Dictionary<string, string?> { ["Clarity:Tasks:SweepIntervalMilliseconds"] = "60000" });
        await _host.SetupAsync("acme");
        _orgId = (await _host.Services.GetRequiredService<IdentityStore>().FindOrgBySlugAsync("acme", CancellationToken.None))!.Id;
        _agentId = Guid.CreateVersion7();
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task EveryTransition_InTheDatabase_LeadsWhereTheStateMachineSays()
    {
        // A fixed seed: the same 120 cases every run, covering every (status, transition) pair several times.
        var random = new Random(20261128);
        var transitions = Enum.GetValues<TaskTransition>();
        var cases = Enumerable.Range(0, 120).Select(_ => (
            Status: TaskStatuses.All[random.Next(TaskStatuses.All.Count)],
            Transition: transitions[random.Next(transitions.Length)],
            Attempts: random.Next(0, 5),
            Max: random.Next(1, 5),
            Retryable: random.Next(2) == 1)).ToList();
        var changes = _host.Services.GetRequiredService<Changes>();
        var store = _host.Services.GetRequiredService<TaskStore>();
        foreach (var (status, transition, attempts, max, retryable) in cases)
        {
            var id = Guid.CreateVersion7();
            const string Lease = "lease-hash";
            var expected = TaskStateMachine.Next(status, transition, attempts, max, retryable);
            var moved = await changes.RunAsync(Actor.System, async change =>
            {
                await InsertAsync(change, id, status, attempts, max, Lease, expired: transition is TaskTransition.LeaseExpired or TaskTransition.TimedOut);

                // Unblock and DependencyFailed act on the dependents of a task that just ended: give this one such a dependency.
                var dependency = new TaskRow { Id = Guid.CreateVersion7(), Status = transition == TaskTransition.Unblock ? TaskStatuses.Succeeded : TaskStatuses.Failed };
                if (transition is TaskTransition.Unblock or TaskTransition.DependencyFailed)
                {
                    await InsertAsync(change, dependency.Id, dependency.Status, 1, 1, Lease, expired: false);
                    await TaskStore.InsertDependenciesAsync(change, _orgId, id, [dependency.Id]);
                }

                return transition switch
                {
                    TaskTransition.Claim => await store.ClaimAsync(change, _orgId, _agentId, null, "[]", id, "new-lease", 30),
                    TaskTransition.Ask => await TaskStore.AskAsync(change, _orgId, id, Lease),
                    TaskTransition.Resume => await TaskStore.ResumeAsync(change, id, 30),
                    TaskTransition.Complete => await TaskStore.CompleteAsync(change, _orgId, id, Lease, null),
                    TaskTransition.Fail => await TaskStore.FailAsync(change, _orgId, id, Lease, "boom", retryable),
                    TaskTransition.Cancel => await TaskStore.CancelAsync(change, _orgId, id),
                    TaskTransition.LeaseExpired => (await TaskStore.ExpireLeasesAsync(change)).SingleOrDefault(r => r.Id == id),
                    TaskTransition.TimedOut => (await TaskStore.FailTimedOutAsync(change)).SingleOrDefault(r => r.Id == id),
                    TaskTransition.QuestionExpired => await TaskStore.FailUnansweredAsync(change, id),
                    TaskTransition.Unblock => (await TaskStore.UnblockDependentsAsync(change, dependency.Id)).SingleOrDefault(r => r.Id == id),
                    TaskTransition.DependencyFailed => (await TaskStore.CancelDependentsAsync(change, dependency)).SingleOrDefault(r => r.Id == id),
                    _ => throw new ArgumentOutOfRangeException(nameof(transition)),
                };
            });

            var what = $"{transition} from {status} (attempts {attempts} of {max}, retryable {retryable})";
            Assert.True(expected == moved?.Status, $"{what}: the state machine says {expected ?? "refused"}, the database did {moved?.Status ?? "nothing"}");
            var now = await store.GetAsync(_orgId, id, CancellationToken.None);
            Assert.Equal(expected ?? status, now!.Status);
        }
    }

    /// <summary>A task straight into the given state; a running or awaiting one holds a lease (and, when asked, an expired lease and deadline).</summary>
    private Task InsertAsync(Change change, Guid id, string status, int attempts, int max, string lease, bool expired)
    {
        var past = change.Now - 60_000;
        var future = change.Now + 600_000;
        var held = status is "running" or "awaiting_response";
        return change.Connection.ExecuteAsync(
            "INSERT INTO tasks (id, org_id, queue, title, status, labels, priority, attempts, max_attempts, timeout_seconds, agent_id, lease_token_hash, " +
            "lease_expires_at, lease_seconds, deadline_at, awaiting_since, log_seq, created_at, updated_at, started_at) " +
            "VALUES (@id, @org, 'conformance', 't', @status, '[]', 0, @attempts, @max, 60, @agent, @lease, @leaseAt, 30, @deadline, @awaiting, 0, @now, @now, @started)",
            new
            {
                id,
                org = _orgId,
                status,
                attempts,
                max,
                agent = held ? _agentId : (Guid?)null,
                lease = held ? lease : null,
                leaseAt = held ? (expired ? past : future) : (long?)null,
                deadline = held ? (expired ? past : future) : (long?)null,
                awaiting = status == "awaiting_response" ? change.Now : (long?)null,
                now = change.Now,
                started = held ? change.Now : (long?)null,
            },
            change.Transaction);
    }
}

public sealed class SqliteTaskTransitionConformanceTests() : TaskTransitionConformanceTests(Backend.Sqlite);

public sealed class PostgresTaskTransitionConformanceTests() : TaskTransitionConformanceTests(Backend.Postgres);
