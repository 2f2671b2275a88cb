using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Identity;
using Clarity.Features.Tasks;
using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Clarifications;

/// <summary>Questions from agents to people: ask (task → awaiting_response), list, answer (task → running), wait for the answer, expire.</summary>
public sealed class ClarificationService(
    ClarificationStore store, TaskService tasks, Changes changes, KeyedSignals signals, IOptions<ClarityOptions> options, TimeProvider clock)
{
    public async Task<Clarification> CreateAsync(OrgContext org, Guid taskId, CreateClarificationRequest request, CancellationToken ct)
    {
        var token = Check.Required(request.LeaseToken, "leaseToken", 200);
        var question = Check.Required(request.Question, "question", 10_000);
        IReadOnlyList<string>? choices = null;
        if (request.Options is not null)
        {
            if (request.Options.Count is 0 or > 20)
            {
                throw Problems.Validation("options", "must hold 1 to 20 choices when given.");
            }

            choices = request.Options.Select((o, i) => Check.Required(o, $"options[{i}]", 500)).ToList();
        }

        var expiresIn = Check.Range(request.ExpiresInSeconds, "expiresInSeconds", 1, 30 * 86_400, 3600);
        var onExpiry = (request.OnExpiry ?? OnExpiry.Fail).ToLowerInvariant();
        if (onExpiry is not (OnExpiry.Fail or OnExpiry.Default))
        {
            throw Problems.Validation("onExpiry", "must be 'fail' or 'default'.");
        }

        var defaultAnswer = Check.Optional(request.DefaultAnswer, "defaultAnswer", 10_000);
        if (onExpiry == OnExpiry.Default && defaultAnswer is null)
        {
            throw Problems.Validation("defaultAnswer", "is required when onExpiry is 'default'.");
        }

        var hash = ApiKeySecret.Hash(token);
        var created = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            // Ask: the task parks in awaiting_response, fenced by the lease, and the question is stored with it.
            if (await tasks.TransitionAsync(change, TaskTransition.Ask, TaskStore.AskAsync(change, org.OrgId, taskId, hash)) is null)
            {
                return null;
            }

            var row = new ClarificationRow
            {
                Id = Guid.CreateVersion7(),
                OrgId = org.OrgId,
                TaskId = taskId,
                Question = question,
                Options = ClarificationStore.OptionsJson(choices),
                Status = ClarificationStatuses.Pending,
                OnExpiry = onExpiry,
                DefaultAnswer = defaultAnswer,
                CreatedAt = change.Now,
                ExpiresAt = change.Now + expiresIn * 1000L,
            };
            await ClarificationStore.InsertAsync(change, row);
            change.Emit(Changed(row));
            change.Audit(new AuditRecord(org.OrgId, AuditActions.ClarificationAsked, Target(row),
                After: new AuditFields().Add("taskId", taskId).Add("question", question).Add("options", choices).Add("onExpiry", onExpiry)
                    .Add("expiresAt", DbTime.FromDb(row.ExpiresAt)).Add("status", row.Status)));
            return row;
        }, ct) ?? throw await tasks.LeaseConflictAsync(org, taskId, hash, ct);
        return created.ToModel();
    }

    public async Task<ClarificationPage> ListAsync(OrgContext org, string? status, string? cursor, int? limit, CancellationToken ct)
    {
        if (status is not null && !ClarificationStatuses.All.Contains(status))
        {
            throw Problems.Validation("status", $"must be one of {string.Join(", ", ClarificationStatuses.All)}.");
        }

        var take = Check.Range(limit, "limit", 1, 200, 50);
        var rows = await store.ListAsync(org.OrgId, status, Cursor.Decode(cursor), take + 1, ct);
        var items = rows.Take(take).Select(r => r.ToModel()).ToList();
        return new ClarificationPage(items, rows.Count > take ? Cursor.Encode(items[^1].Id) : null);
    }

    /// <summary>The task's clarifications, oldest first (at most 200): the task page's timeline.</summary>
    public async Task<IReadOnlyList<Clarification>> ListForTaskAsync(OrgContext org, Guid taskId, CancellationToken ct) =>
        (await store.ListForTaskAsync(org.OrgId, taskId, 200, ct)).Select(r => r.ToModel()).ToList();

    /// <summary>Returns the clarification, first waiting up to waitSeconds for it to stop being pending.</summary>
    public async Task<Clarification> GetAsync(OrgContext org, Guid id, int? waitSeconds, CancellationToken ct)
    {
        var wait = TimeSpan.FromSeconds(Check.Range(waitSeconds, "waitSeconds", 0, options.Value.Limits.MaxWaitSeconds, 0));
        var deadline = clock.GetUtcNow() + wait;
        while (true)
        {
            using var waiter = signals.Register(id);
            var row = await store.GetAsync(org.OrgId, id, ct) ?? throw Problems.NotFound("Clarification");
            var remaining = deadline - clock.GetUtcNow();
            if (row.Status != ClarificationStatuses.Pending || remaining <= TimeSpan.Zero)
            {
                return row.ToModel();
            }

            try
            {
                await waiter.Task.WaitAsync(remaining < TimeSpan.FromSeconds(5) ? remaining : TimeSpan.FromSeconds(5), clock, ct);
            }
            catch (TimeoutException)
            {
                // Re-read: covers a notification lost between nodes.
            }
        }
    }

    public Task<Clarification> AnswerAsync(OrgContext org, Guid id, AnswerRequest request, CancellationToken ct, string via = AnswerChannels.Api) =>
        AnswerAsync(org.OrgId, id, request, Answerer.Of(org.Caller, via), ct);

    /// <summary>
    /// Answers a pending question: the first answer wins, whatever the channel. A later one is a 409 that says which answer
    /// won (who, through which channel, when); an expired question says it expired, never that a person answered it.
    /// </summary>
    public async Task<Clarification> AnswerAsync(Guid orgId, Guid id, AnswerRequest request, Answerer by, CancellationToken ct)
    {
        var answer = Check.Required(request.Answer, "answer", 10_000);
        var answered = await changes.RunAsync(by.Actor, async change =>
        {
            var row = await ClarificationStore.AnswerAsync(change, orgId, id, answer, by);
            if (row is not null)
            {
                change.Emit(Changed(row));
                change.Audit(new AuditRecord(orgId, AuditActions.ClarificationAnswered, Target(row),
                    Before: new AuditFields().Add("status", ClarificationStatuses.Pending),
                    After: new AuditFields().Add("status", row.Status).Add("answer", answer).Add("taskId", row.TaskId).Add("via", row.AnsweredVia)
                        .Add("answeredBy", row.AnsweredByName)));
                await tasks.TransitionAsync(change, TaskTransition.Resume, TaskStore.ResumeAsync(change, row.TaskId, options.Value.Tasks.LeaseSeconds));
            }

            return row;
        }, ct);
        if (answered is null)
        {
            var current = await store.GetAsync(orgId, id, ct) ?? throw Problems.NotFound("Clarification");
            throw NotPending(current);
        }

        return answered.ToModel();
    }

    /// <summary>The 409 for an answer to a question that is no longer pending: which answer won, or that it expired.</summary>
    public static ApiException NotPending(ClarificationRow current)
    {
        var detail = current.Status switch
        {
            ClarificationStatuses.Answered => $"The clarification was already answered by {current.AnsweredByName ?? "someone"}" +
                (current.AnsweredVia is { } via ? $" via {via}" : "") +
                (current.AnsweredAt is { } at ? $" at {DbTime.FromDb(at):yyyy-MM-dd HH:mm:ss} UTC." : "."),
            ClarificationStatuses.Expired => current.Answer is null
                ? "The clarification expired unanswered."
                : "The clarification expired, and its default answer was applied.",
            _ => $"The clarification is already {current.Status}.",
        };
        return new ApiException(409, "not-pending", "Conflict", detail)
        {
            Extensions = new Dictionary<string, object?>
            {
                ["clarificationStatus"] = current.Status,
                ["answeredBy"] = current.AnsweredByName,
                ["answeredVia"] = current.AnsweredVia,
                ["answeredAt"] = current.AnsweredAt is { } when ? DbTime.FromDb(when) : null,
            },
        };
    }

    /// <summary>
    /// Expires every pending clarification past its time, by the system: with onExpiry=default it is answered with the
    /// default answer and the task resumes; with onExpiry=fail the task fails.
    /// </summary>
    public Task<int> ExpireDueAsync(CancellationToken ct) =>
        changes.RunAsync(Actor.System, async change =>
        {
            var expired = 0;
            foreach (var due in await store.DueAsync(change))
            {
                var useDefault = due.OnExpiry == OnExpiry.Default;
                if (await ClarificationStore.ExpireAsync(change, due.Id, useDefault ? due.DefaultAnswer : null) is not { } row)
                {
                    continue;
                }

                change.Emit(Changed(row));
                change.Audit(new AuditRecord(row.OrgId, AuditActions.ClarificationExpired, Target(row),
                    Before: new AuditFields().Add("status", ClarificationStatuses.Pending),
                    After: new AuditFields().Add("status", row.Status).Add("onExpiry", due.OnExpiry).Add("answer", row.Answer).Add("taskId", row.TaskId)));
                await tasks.TransitionAsync(change, useDefault ? TaskTransition.Resume : TaskTransition.QuestionExpired, useDefault
                    ? TaskStore.ResumeAsync(change, row.TaskId, options.Value.Tasks.LeaseSeconds)
                    : TaskStore.FailUnansweredAsync(change, row.TaskId));
                expired++;
            }

            return expired;
        }, ct);

    public static ClarificationChanged Changed(ClarificationRow row) => new(row.OrgId, row.Id, row.TaskId, row.Status);

    public static AuditTarget Target(ClarificationRow row) => new("clarification", row.Id);
}

/// <summary>A cancelled task's pending question is cancelled with it, in the same unit of work, and says so in its own event.</summary>
public sealed class ClarificationTaskObserver : ITaskTransitionObserver
{
    public async Task OnTransitionAsync(Change change, TaskTransition transition, TaskRow task)
    {
        if (transition != TaskTransition.Cancel)
        {
            return;
        }

        foreach (var row in await ClarificationStore.CancelPendingAsync(change, task.Id))
        {
            change.Emit(ClarificationService.Changed(row));
            change.Audit(new AuditRecord(row.OrgId, AuditActions.ClarificationCancelled, ClarificationService.Target(row),
                Before: new AuditFields().Add("status", ClarificationStatuses.Pending), After: new AuditFields().Add("status", row.Status).Add("taskId", row.TaskId)));
        }
    }
}

public sealed class ClarificationSweep(ClarificationService clarifications) : ISweep
{
    public string Name => "clarifications";

    public Task<int> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken) => clarifications.ExpireDueAsync(cancellationToken);
}
