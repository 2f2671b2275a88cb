using System.Text.Json;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Tasks;
using Clarity.Hosting;
using Clarity.Storage;
using Dapper;

namespace Clarity.Features.Notifications.OnCall;

/// <summary>What an escalation is about: a clarification, an approval, or a drill's test page.</summary>
public sealed record EscalationSubject(string Kind, Guid Id);

/// <summary>
/// The escalation engine. <see cref="StartAsync"/> starts a policy for a subject inside the caller's unit of work and
/// pages level 1 at once; the leader's sweep pages the next levels as their delays run out, then the fallback, then marks
/// the escalation exhausted; an acknowledgement (dashboard, email link, Slack, API) or the question's answer stops it.
/// Every step is a unit of work that writes the timeline and emits <see cref="EscalationChanged"/>, all under the
/// escalation's one correlation id. Times come from <see cref="OnCallClock"/>.
/// </summary>
public sealed class EscalationService(EscalationStore store, Changes changes, IEscalationPager pager, OnCallClock clock)
{
    /// <summary>
    /// Starts an escalation of <paramref name="policyId"/> about <paramref name="subject"/> in the caller's change (the
    /// notification core calls this when a rule with a policy fires) and pages level 1. The policy's levels are copied, so
    /// a later edit never changes a running escalation. 404 when the policy is not the org's.
    /// </summary>
    public async Task<EscalationRow> StartAsync(
        Change change, Guid orgId, Guid policyId, EscalationSubject subject, string correlationId, NotificationView? view = null, Guid? ruleId = null)
    {
        var policy = await OnCallStore.GetPolicyAsync(change, orgId, policyId) ?? throw Problems.NotFound("Escalation policy");
        var now = clock.Now;
        var row = new EscalationRow
        {
            Id = Guid.CreateVersion7(),
            OrgId = orgId,
            PolicyId = policyId,
            PolicyName = policy.Name,
            Plan = JsonSerializer.Serialize(new StoredPlan(policy.ToModel().Levels, policy.RepeatCount, policy.ToModel().Fallback, view), JsonDefaults.Options),
            SubjectKind = subject.Kind,
            SubjectId = subject.Id,
            CorrelationId = correlationId,
            StartedAt = DbTime.ToDb(now),
            NextAt = DbTime.ToDb(now),
            Status = EscalationStatuses.Open,
            IsDrill = subject.Kind == EscalationSubjects.Test ? 1 : 0,
            RuleId = ruleId,
        };
        await EscalationStore.InsertAsync(change, row);
        Emit(change, row, EscalationStatuses.Open, "started", 0, []);
        await ProgressAsync(change, row, now);
        return row;
    }

    /// <summary>Pages every step of the open escalations that is due now, each escalation in its own unit of work under its correlation id.</summary>
    public async Task<int> SweepAsync(CancellationToken ct)
    {
        var now = clock.Now;
        var advanced = 0;
        foreach (var id in await store.DueAsync(DbTime.ToDb(now), ct))
        {
            var previous = CorrelationContext.Current;
            try
            {
                CorrelationContext.Current = await CorrelationOfAsync(id, ct);
                advanced += await changes.RunAsync(Actor.System, async change =>
                    await store.LockDueAsync(change, id, DbTime.ToDb(now)) is { } row && await ProgressAsync(change, row, now) ? 1 : 0, ct);
            }
            finally
            {
                CorrelationContext.Current = previous;
            }
        }

        return advanced;
    }

    /// <summary>
    /// Acknowledges an open escalation: the caller was paged by it, or holds tasks:respond. A second acknowledgement (or
    /// one of a resolved or exhausted escalation) is a 409 that says who acknowledged, when and through which channel.
    /// </summary>
    public async Task<Escalation> AcknowledgeAsync(OrgContext org, Guid id, AcknowledgeRequest? request, CancellationToken ct)
    {
        var via = (Check.Optional(request?.Via, "via", 20) ?? AcknowledgeChannels.Api).ToLowerInvariant();
        if (!AcknowledgeChannels.All.Contains(via))
        {
            throw Problems.Validation("via", $"must be one of {string.Join(", ", AcknowledgeChannels.All)}.");
        }

        var previous = CorrelationContext.Current;
        try
        {
            // The acknowledgement joins the escalation's correlation id, whatever request carried it.
            CorrelationContext.Current = await CorrelationOfAsync(id, ct) ?? previous;
            await changes.RunAsync(org.Caller.Actor, async change =>
            {
                var row = await store.LockAsync(change, org.OrgId, id) ?? throw Problems.NotFound("Escalation");
                if (row.Status != EscalationStatuses.Open)
                {
                    throw NotOpen(row);
                }

                if (!org.Can(Permissions.TasksRespond) && !(org.Caller.UserId is { } user && await EscalationStore.WasPagedAsync(change, id, user)))
                {
                    throw Problems.Forbidden("Only someone the escalation paged, or who may respond to tasks (tasks:respond), may acknowledge it.");
                }

                var name = await change.Connection.ExecuteScalarAsync<string?>(
                    "SELECT COALESCE((SELECT email FROM users WHERE id = @actor), (SELECT 'API key ' || name FROM api_keys WHERE id = @actor))",
                    new { actor = org.Caller.ActorId }, change.Transaction);
                var at = clock.Now;
                var acked = await EscalationStore.AcknowledgeAsync(change, org.OrgId, id, org.Caller.ActorId, name, via, DbTime.ToDb(at)) ?? throw NotOpen(row);
                await AddEventAsync(change, acked, at, EscalationEventKinds.Acknowledged, acked.LevelReached, [org.Caller.ActorId], $"by {name ?? "someone"} via {via}");
                Emit(change, acked, acked.Status, EscalationEventKinds.Acknowledged, acked.LevelReached, [org.Caller.ActorId]);
                change.Audit(new AuditRecord(org.OrgId, OnCallAuditActions.EscalationAcknowledged, new AuditTarget("escalation", id, row.PolicyName),
                    Before: new AuditFields().Add("status", row.Status),
                    After: new AuditFields().Add("status", acked.Status).Add("via", via).Add("level", acked.LevelReached).Add("correlationId", acked.CorrelationId)));
                return acked;
            }, ct);
        }
        finally
        {
            CorrelationContext.Current = previous;
        }

        return await GetAsync(org, id, ct);
    }

    /// <summary>
    /// Resolves the open escalations of the task's clarifications that are no longer pending (answered, expired or
    /// cancelled), in the unit of work that closed the question, with an <c>answered</c> timeline entry. An answer counts
    /// as the acknowledgement: its person and channel are recorded as such.
    /// </summary>
    public async Task ResolveForTaskAsync(Change change, Guid taskId)
    {
        var closed = (await change.Connection.QueryAsync<ClosedQuestion>(
            "SELECT c.id AS Id, c.status AS Status, c.answered_by AS AnsweredBy, c.answered_by_name AS AnsweredByName, c.answered_via AS AnsweredVia " +
            "FROM clarifications c WHERE c.task_id = @taskId AND c.status <> 'pending' " +
            "AND EXISTS (SELECT 1 FROM escalations e WHERE e.subject_id = c.id AND e.status = 'open')",
            new { taskId }, change.Transaction)).AsList();
        foreach (var question in closed)
        {
            var at = clock.Now;
            foreach (var row in await EscalationStore.ResolveAsync(change, question.Id, DbTime.ToDb(at)))
            {
                var answered = question.Status == "answered";
                if (answered)
                {
                    await change.Connection.ExecuteAsync(
                        "UPDATE escalations SET acknowledged_by = @by, acknowledged_by_name = @name, acknowledged_via = @via, acknowledged_at = @at WHERE id = @id",
                        new { id = row.Id, by = question.AnsweredBy, name = question.AnsweredByName, via = question.AnsweredVia ?? AcknowledgeChannels.Api, at = DbTime.ToDb(at) },
                        change.Transaction);
                }

                var detail = answered ? $"answered by {question.AnsweredByName ?? "someone"} via {question.AnsweredVia ?? AcknowledgeChannels.Api}" : $"question {question.Status}";
                IReadOnlyList<Guid> who = question.AnsweredBy is { } by && answered ? [by] : [];
                await AddEventAsync(change, row, at, EscalationEventKinds.Answered, row.LevelReached, who, detail);
                Emit(change, row, EscalationStatuses.Resolved, EscalationEventKinds.Answered, row.LevelReached, who);
            }
        }
    }

    /// <summary>
    /// Resolves the open escalations about an approval step that was decided (approved, rejected, expired) or ended
    /// otherwise (skipped, cancelled), with an <c>answered</c> timeline entry naming the outcome. The notification core
    /// calls it when it reads the step's change; nobody is recorded as the acknowledger (the votes say who decided).
    /// </summary>
    public async Task ResolveApprovalAsync(Change change, Guid subjectId, string outcome)
    {
        var at = clock.Now;
        foreach (var row in await EscalationStore.ResolveAsync(change, subjectId, DbTime.ToDb(at)))
        {
            await AddEventAsync(change, row, at, EscalationEventKinds.Answered, row.LevelReached, [], $"approval {outcome}");
            Emit(change, row, EscalationStatuses.Resolved, EscalationEventKinds.Answered, row.LevelReached, []);
        }
    }

    public async Task<Escalation> GetAsync(OrgContext org, Guid id, CancellationToken ct)
    {
        var row = await store.GetAsync(org.OrgId, id, ct) ?? throw Problems.NotFound("Escalation");
        return row.ToModel(await store.TimelineAsync(id, ct));
    }

    /// <summary>The org's escalations, newest first; <paramref name="subject"/> narrows to one question, approval or drill.</summary>
    public async Task<EscalationPage> ListAsync(OrgContext org, Guid? subject, string? status, string? cursor, int? limit, bool withTimeline, CancellationToken ct)
    {
        if (status is not null && !EscalationStatuses.All.Contains(status))
        {
            throw Problems.Validation("status", $"must be one of {string.Join(", ", EscalationStatuses.All)}.");
        }

        var take = Check.Range(limit, "limit", 1, 200, 50);
        var rows = await store.ListAsync(org.OrgId, subject, status, Cursor.Decode(cursor), take + 1, ct);
        var items = new List<Escalation>();
        foreach (var row in rows.Take(take))
        {
            items.Add(row.ToModel(withTimeline ? await store.TimelineAsync(row.Id, ct) : null));
        }

        return new EscalationPage(items, rows.Count > take ? Cursor.Encode(items[^1].Id) : null);
    }

    /// <summary>Starts a drill: a test page through the policy's chain, marked as a test everywhere, acknowledged like any other.</summary>
    public async Task<Escalation> DrillAsync(OrgContext org, Guid policyId, string publicBase, CancellationToken ct)
    {
        var correlationId = CorrelationContext.Current ?? Guid.CreateVersion7().ToString("N");
        var subject = new EscalationSubject(EscalationSubjects.Test, Guid.CreateVersion7());
        var started = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var policy = await OnCallStore.GetPolicyAsync(change, org.OrgId, policyId) ?? throw Problems.NotFound("Escalation policy");
            var view = new NotificationView
            {
                EventType = "oncall.drill",
                EventSeq = 0,
                OrgId = org.OrgId,
                OrgSlug = org.Slug,
                OccurredAt = clock.Now,
                Summary = $"TEST PAGE: on-call drill of escalation policy '{policy.Name}'. Please acknowledge it.",
                Url = $"{publicBase}/api/v1/orgs/{org.Slug}/escalations?subject={subject.Id}",
                Detail = "This is a drill (clarity oncall drill); nothing is wrong.",
                IsTest = true,
            };
            var row = await StartAsync(change, org.OrgId, policyId, subject, correlationId, view);
            change.Audit(new AuditRecord(org.OrgId, OnCallAuditActions.DrillStarted, new AuditTarget("escalation", row.Id, policy.Name),
                After: new AuditFields().Add("policyId", policyId).Add("correlationId", correlationId)));
            return row;
        }, ct);
        return await GetAsync(org, started.Id, ct);
    }

    /// <summary>Pages the steps due at <paramref name="now"/> and records progress; false when there was nothing to do or another sweep got there first.</summary>
    private async Task<bool> ProgressAsync(Change change, EscalationRow row, DateTimeOffset now)
    {
        var stored = JsonSerializer.Deserialize<StoredPlan>(row.Plan, JsonDefaults.Options)!;
        var plan = stored.ToPlan();
        var due = plan.Due(DbTime.FromDb(row.StartedAt), row.StepsPaged, false, now);
        if (due.Steps.Count == 0 && !due.Exhausted && DbTime.ToDb(due.NextAt) == row.NextAt)
        {
            return false;
        }

        var level = due.Steps.Count > 0 ? due.Steps[^1].Level : row.LevelReached;
        var status = due.Exhausted ? EscalationStatuses.Exhausted : EscalationStatuses.Open;
        if (!await EscalationStore.AdvanceAsync(change, row.Id, row.StepsPaged, row.StepsPaged + due.Steps.Count, level, DbTime.ToDb(due.NextAt), status,
                due.Exhausted ? DbTime.ToDb(now) : null))
        {
            return false;
        }

        foreach (var step in due.Steps)
        {
            var users = await OnCallUsersAsync(change, row.OrgId, step.Targets, now);
            var targets = await pager.PageAsync(change, new EscalationPageRequest(row.OrgId, row.Id, users, step, row.CorrelationId, stored.View, row.IsDrill == 1, now));
            Emit(change, row, EscalationStatuses.Open, EscalationEventKinds.Notified, step.Level, users, targets, step.IsFallback);
        }

        if (due.Exhausted)
        {
            await AddEventAsync(change, row, now, EscalationEventKinds.Exhausted, level, [], "nobody acknowledged");
            Emit(change, row, EscalationStatuses.Exhausted, EscalationEventKinds.Exhausted, level, []);
        }

        return true;
    }

    /// <summary>Who the targets page at <paramref name="now"/>: the named users, and whoever is on call in each roster (distinct, in order).</summary>
    public static async Task<IReadOnlyList<Guid>> OnCallUsersAsync(Change change, Guid orgId, EscalationTargets targets, DateTimeOffset now)
    {
        var users = new List<Guid>();
        foreach (var rosterId in targets.Rosters)
        {
            if (await OnCallStore.GetRosterAsync(change, orgId, rosterId) is { } roster
                && roster.ToRotation(await OnCallStore.ListOverridesAsync(change, orgId, rosterId, DbTime.ToDb(now)))?.OnCallAt(now) is { } user)
            {
                users.Add(user);
            }
        }

        users.AddRange(targets.Users);
        return [.. users.Distinct()];
    }

    private async Task<string?> CorrelationOfAsync(Guid id, CancellationToken ct)
    {
        await using var c = await changes.Database.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<string>("SELECT correlation_id FROM escalations WHERE id = @id", new { id });
    }

    private static Task AddEventAsync(Change change, EscalationRow row, DateTimeOffset at, string kind, int level, IReadOnlyList<Guid> recipients, string? detail) =>
        EscalationStore.InsertEventAsync(change, new EscalationEventRow
        {
            Id = Guid.CreateVersion7(),
            EscalationId = row.Id,
            OrgId = row.OrgId,
            At = DbTime.ToDb(at),
            Kind = kind,
            Level = level,
            Recipients = JsonSerializer.Serialize(recipients),
            Detail = detail,
        });

    /// <summary>Emits the step under the escalation's own correlation id, whatever change carries it.</summary>
    private static void Emit(
        Change change, EscalationRow row, string status, string step, int level, IReadOnlyList<Guid> recipients, IReadOnlyList<PageTarget>? targets = null, bool fallback = false) =>
        change.Emit(new EscalationChanged(row.OrgId, row.Id, row.SubjectKind, row.SubjectId, status, step, level, recipients, row.IsDrill == 1, row.CorrelationId)
        {
            CorrelationId = row.CorrelationId,
            Targets = targets is { Count: > 0 } ? targets : null,
            Fallback = fallback ? true : null,
        });

    private static ApiException NotOpen(EscalationRow row)
    {
        var detail = row.Status switch
        {
            EscalationStatuses.Acknowledged => $"The escalation was already acknowledged by {row.AcknowledgedByName ?? "someone"} via {row.AcknowledgedVia}" +
                (row.AcknowledgedAt is { } at ? $" at {DbTime.FromDb(at):yyyy-MM-dd HH:mm:ss} UTC." : "."),
            EscalationStatuses.Resolved => "The escalation was resolved: its question was answered or closed.",
            _ => "The escalation ran out: nobody acknowledged it.",
        };
        return new ApiException(409, "escalation-closed", "Conflict", detail)
        {
            Extensions = new Dictionary<string, object?>
            {
                ["status"] = row.Status,
                ["acknowledgedBy"] = row.AcknowledgedByName,
                ["acknowledgedVia"] = row.AcknowledgedVia,
                ["acknowledgedAt"] = DbTime.FromDb(row.AcknowledgedAt),
            },
        };
    }

    private sealed class ClosedQuestion
    {
        public Guid Id { get; set; }
        public string Status { get; set; } = "";
        public Guid? AnsweredBy { get; set; }
        public string? AnsweredByName { get; set; }
        public string? AnsweredVia { get; set; }
    }
}

/// <summary>A policy as an escalation copied it when it started, with the view its pages render.</summary>
public sealed record StoredPlan(IReadOnlyList<LevelModel> Levels, int Repeat, TargetsModel? Fallback, NotificationView? View)
{
    public EscalationPlan ToPlan() => new(
        [.. Levels.Select(l => new EscalationLevel(Targets(l.Targets), l.DelayMinutes ?? 1))], Repeat, Fallback is null ? null : Targets(Fallback));

    private static EscalationTargets Targets(TargetsModel? t) => new(t?.Rosters ?? [], t?.Users ?? []);
}

/// <summary>A question leaving pending (answered, expired, cancelled) resolves its escalations in the same unit of work.</summary>
public sealed class EscalationTaskObserver(EscalationService escalations) : ITaskTransitionObserver
{
    public Task OnTransitionAsync(Change change, TaskTransition transition, TaskRow task) =>
        transition is TaskTransition.Resume or TaskTransition.QuestionExpired or TaskTransition.Cancel
            ? escalations.ResolveForTaskAsync(change, task.Id)
            : Task.CompletedTask;
}

/// <summary>The leader's sweep that pages the next levels of due escalations.</summary>
public sealed class EscalationSweep(EscalationService escalations) : ISweep
{
    public string Name => "escalations";

    public Task<int> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken) => escalations.SweepAsync(cancellationToken);
}
