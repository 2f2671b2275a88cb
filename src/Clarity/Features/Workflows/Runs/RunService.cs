using System.Text.Json;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Tasks;
using Clarity.Features.Workflows.Definitions;
using Clarity.Hosting;
using Clarity.Storage;

namespace Clarity.Features.Workflows.Runs;

/// <summary>
/// Workflow runs for the API and the dashboard: start, read, list, and the interventions — pause, resume, cancel,
/// retry a step, skip a step with an output, signal, vote, and the debugger's release and continue. Each is one unit of
/// work under the run's lock, with its events and audit entry; illegal ones answer 409.
/// </summary>
public sealed class RunService(RunStore store, RunEngine engine, WorkflowService workflows, TaskService tasks, Changes changes)
{
    /// <summary>The most bytes of a signal payload, a skip output or a run's inputs.</summary>
    public const int MaxPayloadBytes = 256 * 1024;

    public async Task<RunState> StartAsync(OrgContext org, string name, StartRunRequest request, CancellationToken ct)
    {
        if (request.Version is not null && request.Label is not null)
        {
            throw Problems.Validation("label", "give a version or a label, not both.");
        }

        var selector = request.Version is { } v ? (v >= 1 ? v.ToString(System.Globalization.CultureInfo.InvariantCulture) : throw Problems.Validation("version", "must be 1 or more."))
            : request.Label ?? WorkflowService.Latest;
        var (workflow, version, _) = await workflows.ResolveAsync(org, name, selector, ct);
        var definition = CompiledWorkflow.For(workflow.Id, version.Version, version.Yaml).Definition;
        CheckSize(request.Input, "input");
        var inputs = RunInputs.Resolve(definition, RunInputs.FromRequest(request.Input, "input"), "input");
        var breakpoints = (request.Breakpoints ?? []).Distinct(StringComparer.Ordinal).ToList();
        if (breakpoints.Count > 1000)
        {
            throw Problems.Validation("breakpoints", "may name at most 1,000 steps.");
        }

        foreach (var (id, i) in breakpoints.Select((b, i) => (b, i)))
        {
            if (definition.FindStep(id) is null)
            {
                throw Problems.Validation($"breakpoints[{i}]", $"'{Shorten(id)}' is not a step of this workflow.");
            }
        }

        var run = await changes.RunAsync(org.Caller.Actor, change => engine.StartAsync(change, workflow, version, inputs, request.Debug == true, breakpoints), ct);
        return await StateAsync(org, run.Id, ct);
    }

    public async Task<RunDetail> GetAsync(OrgContext org, Guid id, CancellationToken ct)
    {
        var run = await store.GetRunAsync(org.OrgId, id, ct) ?? throw Problems.NotFound("Run");
        var compiled = await CompiledAsync(run, ct);
        var (steps, votes) = await store.GetStepsAndVotesAsync(run.Id, ct);
        var critical = RunProfile.CriticalPath(compiled, steps);
        var byStep = votes.ToLookup(v => v.StepId);
        return new RunDetail(
            run.Id, run.WorkflowName, (int)run.Version, run.Status, JsonText.ParseStored(run.Input), JsonText.ParseStored(run.Output), run.Error, run.Debug != 0,
            JsonSerializer.Deserialize<string[]>(run.Breakpoints) ?? [], run.ParentRunId, run.ParentStepId, run.CreatedByKind, run.CreatedById,
            DbTime.FromDb(run.CreatedAt), DbTime.FromDb(run.FinishedAt), DbTime.FromDb(run.UpdatedAt),
            [.. steps.Select(s => ToModel(compiled.Steps[s.StepId], s, byStep[s.StepId], critical.Contains(s.StepId)))]);
    }

    public async Task<RunPage> ListAsync(OrgContext org, string? workflow, string? status, Guid? parent, string? cursor, int? limit, CancellationToken ct)
    {
        if (status is not null && !RunStatuses.All.Contains(status))
        {
            throw Problems.Validation("status", $"must be one of {string.Join(", ", RunStatuses.All)}.");
        }

        Guid? workflowId = null;
        if (workflow is not null)
        {
            workflowId = (await workflows.FindOrNullAsync(org, workflow, ct))?.Id ?? Guid.Empty;
        }

        var take = Check.Range(limit, "limit", 1, 200, 50);
        var rows = await store.ListRunsAsync(org.OrgId, workflowId, status, parent, Cursor.Decode(cursor), take + 1, ct);
        var items = rows.Take(take).Select(ToSummary).ToList();
        return new RunPage(items, rows.Count > take ? Cursor.Encode(items[^1].Id) : null);
    }

    /// <summary>Pause: the run dispatches nothing new; steps under way go on and finish.</summary>
    public Task<RunState> PauseAsync(OrgContext org, Guid id, CancellationToken ct) =>
        InterveneAsync(org, id, ct, async scope =>
        {
            RequireOpen(scope, "paused");
            if (scope.Run.Status == RunStatuses.Paused)
            {
                throw Problems.Conflict("invalid-transition", "The run is already paused.");
            }

            SetStatus(scope, RunStatuses.Paused, "paused");
            scope.Change.Audit(new AuditRecord(scope.Run.OrgId, AuditActions.RunPaused, RunEngine.Target(scope.Run)));
            await engine.FlushRunAsync(scope);
        });

    /// <summary>Resume a paused run: every step that became ready meanwhile is dispatched.</summary>
    public Task<RunState> ResumeAsync(OrgContext org, Guid id, CancellationToken ct) =>
        InterveneAsync(org, id, ct, async scope =>
        {
            if (scope.Run.Status != RunStatuses.Paused)
            {
                throw Problems.Conflict("invalid-transition", $"The run is {scope.Run.Status}; only a paused run can be resumed.");
            }

            SetStatus(scope, RunStatuses.Running, "resumed");
            scope.Change.Audit(new AuditRecord(scope.Run.OrgId, AuditActions.RunResumed, RunEngine.Target(scope.Run)));
            foreach (var ready in await RunStore.ReadyStepIdsAsync(scope.Change, scope.Run.Id))
            {
                scope.Ready.Enqueue(ready);
            }

            await engine.ProcessAsync(scope);
        });

    /// <summary>Cancel: the run ends cancelled; its running tasks and child runs are cancelled, open steps with it.</summary>
    public Task<RunState> CancelAsync(OrgContext org, Guid id, CancellationToken ct) =>
        InterveneAsync(org, id, ct, async scope =>
        {
            RequireOpen(scope, "cancelled");
            await CancelRunAsync(scope);
        }, cancelsTasks: true);

    private async Task CancelRunAsync(RunEngine.RunScope scope)
    {
        var change = scope.Change;
        var run = scope.Run;
        SetStatus(scope, RunStatuses.Cancelled, "cancelled");
        run.FinishedAt = change.Now;
        run.Error = "Cancelled.";
        change.Audit(new AuditRecord(run.OrgId, AuditActions.RunCancelled, RunEngine.Target(run), After: new AuditFields().Add("status", run.Status)));
        await RunEngine.LoadAllAsync(scope);
        foreach (var step in scope.Steps.Values.Where(s => !StepStatuses.IsFinal(s.Status)).OrderBy(s => s.Position).ToList())
        {
            var taskId = step.Status == StepStatuses.Running ? step.TaskId : null;
            var childId = step.Status == StepStatuses.Running ? step.ChildRunId : null;
            await RunEngine.FinishAsync(scope, step, StepStatuses.Cancelled, error: "The run was cancelled.");
            if (taskId is { } task)
            {
                await tasks.CancelAsync(change, run.OrgId, task);
            }

            if (childId is { } child && await engine.OpenAsync(change, run.OrgId, child) is { IsFinal: false } childScope)
            {
                await CancelRunAsync(childScope);
            }
        }

        await engine.FlushRunAsync(scope);
    }

    /// <summary>Retry a failed (or cancelled) step: it runs again, and the steps it skipped on failing are reopened.</summary>
    public Task<RunState> RetryStepAsync(OrgContext org, Guid id, string stepId, CancellationToken ct) =>
        InterveneAsync(org, id, ct, async scope =>
        {
            var step = await StepOrThrowAsync(scope, stepId);
            if (scope.Run.Status == RunStatuses.Cancelled)
            {
                throw Problems.Conflict("invalid-transition", "The run was cancelled; start a new run instead.");
            }

            if (step.Status is not (StepStatuses.Failed or StepStatuses.Cancelled))
            {
                throw Problems.Conflict("invalid-transition", $"The step is {step.Status}; only a failed or cancelled step can be retried.");
            }

            var previous = step.Status;
            step.Status = StepStatuses.Pending;
            step.Attempts = 0;
            step.Error = null;
            step.Output = null;
            step.FinishedAt = null;
            step.ReadyAt = null;
            step.WakeAt = null;
            step.NeedsLeft = 0;
            if (step.Kind == "approval")
            {
                await RunStore.ClearVotesAsync(scope.Change, scope.Run.Id, stepId);
            }

            await RunEngine.SaveAsync(scope, step);
            scope.Change.Audit(new AuditRecord(scope.Run.OrgId, AuditActions.RunStepRetried, RunEngine.StepTarget(scope.Run, stepId),
                Before: new AuditFields().Add("status", previous)));
            await ReopenAsync(scope, stepId);
            scope.Ready.Enqueue(stepId);
            await engine.ProcessAsync(scope);
        });

    /// <summary>Skip a step that has not succeeded, with the output its dependents will read; they run as if it had succeeded.</summary>
    public Task<RunState> SkipStepAsync(OrgContext org, Guid id, string stepId, SkipStepRequest request, CancellationToken ct)
    {
        CheckSize(request.Output, "output");
        var output = request.Output is { ValueKind: not JsonValueKind.Undefined } o ? o.GetRawText() : "null";
        return InterveneAsync(org, id, ct, async scope =>
        {
            var step = await StepOrThrowAsync(scope, stepId);
            if (scope.Run.Status == RunStatuses.Cancelled)
            {
                throw Problems.Conflict("invalid-transition", "The run was cancelled; start a new run instead.");
            }

            if (step.Status is StepStatuses.Succeeded or StepStatuses.Skipped)
            {
                throw Problems.Conflict("invalid-transition", $"The step is already {step.Status}.");
            }

            var previous = step.Status;
            var taskId = step.Status == StepStatuses.Running ? step.TaskId : null;
            var childId = step.Status == StepStatuses.Running ? step.ChildRunId : null;
            scope.Change.Audit(new AuditRecord(scope.Run.OrgId, AuditActions.RunStepSkipped, RunEngine.StepTarget(scope.Run, stepId),
                Before: new AuditFields().Add("status", previous), After: new AuditFields().Add("status", StepStatuses.Skipped)));
            if (previous is StepStatuses.Failed or StepStatuses.Cancelled)
            {
                // Its dependents were skipped when it failed: reopen them, now that it satisfies them.
                step.Status = StepStatuses.Skipped;
                step.SkipReason = SkipReasons.Operator;
                step.Output = output;
                step.Error = null;
                step.FinishedAt = scope.Change.Now;
                await RunEngine.SaveAsync(scope, step);
                await ReopenAsync(scope, stepId);
            }
            else
            {
                await RunEngine.FinishAsync(scope, step, StepStatuses.Skipped, output: output, skipReason: SkipReasons.Operator, error: "Skipped by a person.");
            }

            if (taskId is { } task)
            {
                await tasks.CancelAsync(scope.Change, scope.Run.OrgId, task);
            }

            if (childId is { } child && await engine.OpenAsync(scope.Change, scope.Run.OrgId, child) is { IsFinal: false } childScope)
            {
                await CancelRunAsync(childScope);
            }

            await engine.ProcessAsync(scope);
        }, cancelsTasks: true);
    }

    /// <summary>The debugger's Step: dispatch this held step now, keeping the run in debug mode.</summary>
    public Task<RunState> ReleaseStepAsync(OrgContext org, Guid id, string stepId, CancellationToken ct) =>
        InterveneAsync(org, id, ct, async scope =>
        {
            RequireOpen(scope, "stepped");
            var step = await StepOrThrowAsync(scope, stepId);
            if (step.Held == 0 || step.Status != StepStatuses.Pending)
            {
                throw Problems.Conflict("invalid-transition", "The step is not held by the debugger.");
            }

            scope.Change.Audit(new AuditRecord(scope.Run.OrgId, AuditActions.RunStepReleased, RunEngine.StepTarget(scope.Run, stepId)));
            await engine.ReadyAsync(scope, stepId, release: true);
            await engine.ProcessAsync(scope);
        });

    /// <summary>The debugger's Continue: leave step-through mode and dispatch every held step (breakpoints still stop later steps).</summary>
    public Task<RunState> ContinueAsync(OrgContext org, Guid id, CancellationToken ct) =>
        InterveneAsync(org, id, ct, async scope =>
        {
            RequireOpen(scope, "continued");
            scope.Run.Debug = 0;
            scope.RunDirty = true;
            scope.RunAction = "resumed";
            await RunEngine.LoadAllAsync(scope);
            foreach (var held in scope.Steps.Values.Where(s => s.Held != 0 && s.Status == StepStatuses.Pending).OrderBy(s => s.Position).ToList())
            {
                await engine.ReadyAsync(scope, held.StepId, release: true);
            }

            await engine.ProcessAsync(scope);
        });

    /// <summary>
    /// A signal completes every wait step waiting for it now; when none waits yet it is kept, and the first wait for its
    /// name that starts takes it. A finished run answers 409.
    /// </summary>
    public async Task<SignalResult> SignalAsync(OrgContext org, Guid id, string name, SignalRequest request, CancellationToken ct)
    {
        if (!WorkflowDefinitionParser.Identifier().IsMatch(name))
        {
            throw Problems.Validation("name", "signal names are a lower-case letter, then up to 62 of a-z, 0-9, '_' and '-'.");
        }

        CheckSize(request.Payload, "payload");
        var payload = request.Payload is { ValueKind: not JsonValueKind.Undefined } p ? p.GetRawText() : null;
        return await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var scope = await engine.OpenAsync(change, org.OrgId, id) ?? throw Problems.NotFound("Run");
            if (scope.IsFinal)
            {
                throw Problems.Conflict("run-finished", $"The run is {scope.Run.Status}; it takes no more signals.");
            }

            await RunEngine.LoadAllAsync(scope);
            var waiting = scope.Steps.Values
                .Where(s => s.Status == StepStatuses.Waiting && scope.Workflow.Steps[s.StepId] is WaitStep { Signal: { } wanted } && wanted == name)
                .OrderBy(s => s.Position).ToList();
            var signal = new SignalRow
            {
                Id = Guid.CreateVersion7(), RunId = id, Name = name, Payload = payload, CreatedAt = change.Now,
                ConsumedAt = waiting.Count > 0 ? change.Now : null, ConsumedBy = waiting.Count > 0 ? string.Join(",", waiting.Select(s => s.StepId)) : null,
            };
            await RunStore.InsertSignalAsync(change, signal);
            foreach (var step in waiting)
            {
                await RunEngine.FinishAsync(scope, step, StepStatuses.Succeeded, output: payload ?? "null");
            }

            change.Audit(new AuditRecord(org.OrgId, AuditActions.RunSignalled, RunEngine.Target(scope.Run), After: new AuditFields()
                .Add("signal", name).Add("delivered", waiting.Count > 0).Add("steps", waiting.Select(s => s.StepId).ToList())));
            await engine.ProcessAsync(scope);
            return new SignalResult(signal.Id, name, waiting.Count > 0, [.. waiting.Select(s => s.StepId)]);
        }, ct);
    }

    /// <summary>
    /// A person's vote on an approval step: only people (not API keys) holding the step's <c>from</c>, once each, and not
    /// the run's requester approving their own run unless <c>allowSelfApproval</c>. Enough approvals pass the step; enough
    /// rejections (one by default) fail it.
    /// </summary>
    public async Task<RunStep> VoteAsync(OrgContext org, Guid id, string stepId, VoteRequest request, CancellationToken ct)
    {
        var decision = request.Decision switch
        {
            "approve" or "reject" => request.Decision,
            _ => throw Problems.Validation("decision", "must be \"approve\" or \"reject\"."),
        };
        var comment = request.Comment is null ? null : Check.Required(request.Comment, "comment", 2000);
        if (org.Caller.UserId is not { } userId)
        {
            throw Problems.Forbidden("Approvals are votes of people; an API key cannot vote.");
        }

        await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var scope = await engine.OpenAsync(change, org.OrgId, id) ?? throw Problems.NotFound("Run");
            var step = await StepOrThrowAsync(scope, stepId);
            if (scope.Workflow.Steps[stepId] is not ApprovalStep approval)
            {
                throw Problems.Conflict("not-an-approval", $"The step '{stepId}' is a {step.Kind} step; only approval steps take votes.");
            }

            if (!MayVote(org, approval.From))
            {
                throw Problems.Forbidden($"Votes on this approval come from people holding '{approval.From}'.");
            }

            if (scope.IsFinal || step.Status != StepStatuses.Waiting)
            {
                throw Problems.Conflict("invalid-transition", scope.IsFinal ? $"The run is {scope.Run.Status}." : $"The approval is {step.Status}, not waiting for votes.");
            }

            if (decision == "approve" && !approval.AllowSelfApproval && scope.Run.CreatedByKind == "user" && scope.Run.CreatedById == userId)
            {
                throw Problems.Forbidden("You started this run, so you cannot approve it (the approval does not allow self-approval).");
            }

            if (!await RunStore.InsertVoteAsync(change, scope.Run.Id, stepId, userId, decision!, comment))
            {
                throw Problems.Conflict("already-voted", "You have already voted on this approval.");
            }

            var votes = await RunStore.VotesAsync(change, scope.Run.Id, stepId);
            var approvals = votes.Count(v => v.Decision == "approve");
            var rejections = votes.Count(v => v.Decision == "reject");
            change.Audit(new AuditRecord(org.OrgId, AuditActions.ApprovalVoted, RunEngine.StepTarget(scope.Run, stepId), After: new AuditFields()
                .Add("decision", decision).Add("comment", comment).Add("approvals", approvals).Add("rejections", rejections).Add("required", approval.Votes)));
            if (approvals >= approval.Votes)
            {
                change.Audit(new AuditRecord(org.OrgId, AuditActions.ApprovalDecided, RunEngine.StepTarget(scope.Run, stepId),
                    After: new AuditFields().Add("outcome", "approved").Add("approvals", approvals).Add("required", approval.Votes)));
                await RunEngine.FinishAsync(scope, step, StepStatuses.Succeeded, output: RunEngine.ApprovalOutput(true, false, votes), decision: "approved");
            }
            else if (rejections >= approval.Rejections)
            {
                change.Audit(new AuditRecord(org.OrgId, AuditActions.ApprovalDecided, RunEngine.StepTarget(scope.Run, stepId),
                    After: new AuditFields().Add("outcome", "rejected").Add("rejections", rejections)));
                await RunEngine.FinishAsync(scope, step, StepStatuses.Failed, output: RunEngine.ApprovalOutput(false, false, votes),
                    error: $"Rejected ({rejections} rejection{(rejections == 1 ? "" : "s")}).", decision: "rejected");
            }
            else
            {
                await RunEngine.SaveAsync(scope, step);
            }

            await engine.ProcessAsync(scope);
        }, ct);
        return (await GetAsync(org, id, ct)).Steps.First(s => s.Id == stepId);
    }

    /// <summary>The approvals waiting for votes in the org that the caller may cast (the inbox).</summary>
    public async Task<IReadOnlyList<PendingApproval>> PendingApprovalsAsync(OrgContext org, CancellationToken ct)
    {
        var result = new List<PendingApproval>();
        var waiting = await store.WaitingApprovalsAsync(org.OrgId, 200, ct);
        var allVotes = (await store.VotesOfRunsAsync([.. waiting.Select(w => w.Run.Id).Distinct()], ct)).ToLookup(v => (v.RunId, v.StepId));
        foreach (var (step, run) in waiting)
        {
            var compiled = await CompiledAsync(run, ct);
            if (compiled.Steps[step.StepId] is ApprovalStep approval && MayVote(org, approval.From))
            {
                var votes = allVotes[(run.Id, step.StepId)].ToList();
                if (org.Caller.UserId is { } me && votes.Any(v => v.UserId == me))
                {
                    continue;
                }

                result.Add(new PendingApproval(run.Id, run.WorkflowName, step.StepId, approval.Description, approval.Votes,
                    votes.Count(v => v.Decision == "approve"), DbTime.FromDb(step.WakeAt), DbTime.FromDb(step.ReadyAt ?? step.UpdatedAt)));
            }
        }

        return result;
    }

    /// <summary>The bottleneck table of a version: each step's time from ready to finished across its last finished runs (p50, p95).</summary>
    public async Task<WorkflowProfile> ProfileAsync(OrgContext org, string name, string version, CancellationToken ct)
    {
        var (workflow, row, _) = await workflows.ResolveAsync(org, name, version, ct);
        var durations = await store.StepDurationsAsync(workflow.Id, row.Version, 1000, ct);
        var steps = durations.GroupBy(d => (d.StepId, d.Kind))
            .Select(g =>
            {
                var sorted = g.Select(d => d.Ms).Order().ToArray();
                return new StepTimings(g.Key.StepId, g.Key.Kind, sorted.Length, RunProfile.Percentile(sorted, 0.50), RunProfile.Percentile(sorted, 0.95), sorted[^1]);
            })
            .OrderByDescending(s => s.P95Ms).ToList();
        var runs = (await store.ListRunsAsync(org.OrgId, workflow.Id, null, null, null, 1000, ct)).Count(r => r.Version == row.Version && r.FinishedAt is not null);
        return new WorkflowProfile(workflow.Name, (int)row.Version, runs, steps);
    }

    // ---- Helpers ----

    /// <summary>The compiled version a run executes (parsed once per process).</summary>
    private async Task<CompiledWorkflow> CompiledAsync(RunRow run, CancellationToken ct) =>
        CompiledWorkflow.TryGet(run.WorkflowId, run.Version)
            ?? CompiledWorkflow.For(run.WorkflowId, run.Version, (await workflows.VersionYamlAsync(run.WorkflowId, run.Version, ct))!);

    private async Task<RunState> InterveneAsync(OrgContext org, Guid id, CancellationToken ct, Func<RunEngine.RunScope, Task> action, bool cancelsTasks = false)
    {
        await changes.RunAsync(org.Caller.Actor, async change =>
        {
            if (cancelsTasks)
            {
                await RunStore.LockOpenTasksAsync(change, org.OrgId, id);
            }

            var scope = await engine.OpenAsync(change, org.OrgId, id) ?? throw Problems.NotFound("Run");
            await action(scope);
        }, ct);
        return await StateAsync(org, id, ct);
    }

    private async Task<RunState> StateAsync(OrgContext org, Guid id, CancellationToken ct)
    {
        var run = await store.GetRunAsync(org.OrgId, id, ct) ?? throw Problems.NotFound("Run");
        return new RunState(run.Id, run.Status);
    }

    /// <summary>Reopens the steps downstream of a step that were skipped because something upstream failed, in dependency order.</summary>
    private static async Task ReopenAsync(RunEngine.RunScope scope, string fromStepId)
    {
        await RunEngine.LoadAllAsync(scope);
        var affected = new HashSet<string>(StringComparer.Ordinal) { fromStepId };
        foreach (var definition in scope.Workflow.Order)
        {
            var step = scope.Steps[definition.Id];
            if (!definition.Needs.Any(affected.Contains) || step is not { Status: StepStatuses.Skipped, SkipReason: SkipReasons.Upstream })
            {
                continue;
            }

            var needs = definition.Needs.Select(n => scope.Steps[n]).ToList();
            if (needs.Any(n => StepStatuses.IsFinal(n.Status) && !RunEngine.Satisfies(n)))
            {
                continue;
            }

            step.Status = StepStatuses.Pending;
            step.SkipReason = null;
            step.Error = null;
            step.FinishedAt = null;
            step.ReadyAt = null;
            step.NeedsLeft = needs.Count(n => !RunEngine.Satisfies(n));
            await RunEngine.SaveAsync(scope, step);
            affected.Add(step.StepId);
            if (step.NeedsLeft == 0)
            {
                scope.Ready.Enqueue(step.StepId);
            }
        }

        if (RunStatuses.IsFinal(scope.Run.Status))
        {
            scope.Run.Status = RunStatuses.Running;
            scope.Run.FinishedAt = null;
            scope.Run.Error = null;
            scope.Run.Output = null;
            scope.RunDirty = true;
            scope.RunAction = "reopened";
        }
    }

    private static async Task<StepRow> StepOrThrowAsync(RunEngine.RunScope scope, string stepId) =>
        await RunEngine.StepAsync(scope, stepId) ?? throw Problems.NotFound($"Step '{Shorten(stepId)}'");

    private static void RequireOpen(RunEngine.RunScope scope, string verb)
    {
        if (scope.IsFinal)
        {
            throw Problems.Conflict("run-finished", $"The run is {scope.Run.Status}; it cannot be {verb}.");
        }
    }

    private static void SetStatus(RunEngine.RunScope scope, string status, string action)
    {
        scope.Run.Status = status;
        scope.RunDirty = true;
        scope.RunAction = action;
    }

    /// <summary>
    /// Whether the caller may vote on an approval whose <c>from</c> is a permission (<c>tasks:respond</c>) or a member
    /// role. The one rule that <see cref="VoteAsync"/> and the inbox apply; the dashboard asks it to show the buttons.
    /// </summary>
    public static bool MayVote(OrgContext org, string from)
    {
        if (org.Caller.UserId is null)
        {
            return false;
        }

        if (from.Contains(':', StringComparison.Ordinal))
        {
            return org.Can(from);
        }

        var need = IndexOf(BuiltInRoles.All, from);
        var have = IndexOf(BuiltInRoles.All, org.Role.Name);
        return org.Role.Name == from || (need >= 0 && have >= need);
    }

    private static int IndexOf(IReadOnlyList<string> list, string value)
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i] == value)
            {
                return i;
            }
        }

        return -1;
    }

    private static void CheckSize(JsonElement? value, string field)
    {
        if (value is { ValueKind: not JsonValueKind.Undefined } v && v.GetRawText().Length > MaxPayloadBytes)
        {
            throw Problems.Validation(field, $"may be at most {MaxPayloadBytes / 1024} KiB of JSON.");
        }
    }

    private static string Shorten(string value) => value.Length > 100 ? value[..100] + "…" : value;

    private static RunSummary ToSummary(RunRow r) => new(
        r.Id, r.WorkflowName, (int)r.Version, r.Status, r.Debug != 0, r.ParentRunId, r.ParentStepId, r.Error, r.CreatedByKind, r.CreatedById,
        DbTime.FromDb(r.CreatedAt), DbTime.FromDb(r.FinishedAt), DbTime.FromDb(r.UpdatedAt));

    private static RunStep ToModel(WorkflowStep definition, StepRow s, IEnumerable<VoteRow> votes, bool critical)
    {
        ApprovalState? approval = definition is ApprovalStep a
            ? new ApprovalState(a.Votes, a.Rejections, a.From, a.AllowSelfApproval, s.Status == StepStatuses.Waiting ? DbTime.FromDb(s.WakeAt) : null,
                [.. votes.Select(v => new RunVote(v.UserId, v.Decision, v.Comment, DbTime.FromDb(v.CreatedAt)))])
            : null;
        return new RunStep(
            s.StepId, s.Kind, s.Status, definition.Needs, s.Held != 0, s.SkipReason, (int)s.Attempts, s.TaskId, s.ChildRunId,
            JsonText.ParseStored(s.Input), JsonText.ParseStored(s.Output), s.Error, DbTime.FromDb(s.ReadyAt), DbTime.FromDb(s.DispatchedAt),
            DbTime.FromDb(s.StartedAt), DbTime.FromDb(s.FinishedAt), DbTime.FromDb(s.WakeAt), RunProfile.Of(s, critical), approval,
            (definition as WaitStep)?.Signal);
    }
}
