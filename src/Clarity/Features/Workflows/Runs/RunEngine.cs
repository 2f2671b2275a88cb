using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Tasks;
using Clarity.Features.Workflows.Definitions;
using Clarity.Features.Workflows.Expressions;
using Clarity.Hosting;
using Clarity.Storage;
using Dapper;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Workflows.Runs;

/// <summary>
/// The workflow engine. It moves runs forward inside the unit of work of whatever happened — a task's transition (as a
/// task observer), a vote, a signal, a timer, an intervention — so a step's advance commits with its cause or not at
/// all. Every entry takes the run row's lock first (<see cref="RunStore.LockRunAsync"/>): on PostgreSQL several nodes
/// can advance runs at once and a step is still dispatched exactly once; a crash rolls the whole change back, so a
/// restart finds every run where its last commit left it.
/// <para>
/// A step is ready when every step it needs has succeeded (or was skipped by a person with an output) and its
/// <c>when:</c> holds; a need that failed, was cancelled or was skipped skips it (and, in turn, its dependents). A
/// ready task step becomes a task linked to the run and step; an approval waits for votes; a wait waits for its time
/// or its signal; a workflow step starts a child run. A run ends once no step is open: failed if a step failed or was
/// cancelled, else succeeded.
/// </para>
/// </summary>
public sealed class RunEngine(IServiceProvider services, IOptions<ClarityOptions> options)
{
    /// <summary>How deep child workflows may nest.</summary>
    public const int MaxDepth = 8;

    private static readonly ConditionalWeakTable<Change, Dictionary<Guid, RunScope>> s_scopes = [];
    private TaskService? _tasks;

    private TaskService Tasks => _tasks ??= services.GetRequiredService<TaskService>();

    /// <summary>One run as one unit of work sees it: locked, with the steps it has read, and the work still to do.</summary>
    internal sealed class RunScope(Change change, RunRow run, CompiledWorkflow workflow)
    {
        public Change Change { get; } = change;
        public RunRow Run { get; } = run;
        public CompiledWorkflow Workflow { get; } = workflow;
        public Dictionary<string, StepRow> Steps { get; } = new(StringComparer.Ordinal);
        public Queue<string> Ready { get; } = new();
        public Queue<(string Id, bool Satisfied)> Finished { get; } = new();
        public bool Processing { get; set; }

        /// <summary>
        /// Task steps dispatched by this change whose task and step row are not written yet: <see cref="ProcessAsync"/>
        /// writes them together when its loop ends, so a fan-out of a thousand takes a few round trips, not two thousand.
        /// </summary>
        public List<(TaskRow Task, StepRow Step)> Dispatched { get; } = [];
        public bool RunDirty { get; set; }

        /// <summary>
        /// Steps this change saw still waiting for other needs (a fan-in): while one of them is not final, the run cannot be
        /// over, and the lookup for open steps is skipped.
        /// </summary>
        public HashSet<string> SeenPending { get; } = new(StringComparer.Ordinal);

        /// <summary>Whether a step seen pending is still open as far as this change knows (not loaded: untouched, so still pending).</summary>
        public bool KnownOpen => SeenPending.Any(id => !Steps.TryGetValue(id, out var step) || !StepStatuses.IsFinal(step.Status));
        public string? RunAction { get; set; }

        private JsonNode? _inputs;

        public JsonNode Inputs => _inputs ??= JsonNode.Parse(Run.Input) ?? new JsonObject();

        public bool IsFinal => RunStatuses.IsFinal(Run.Status);

        public IReadOnlySet<string> Breakpoints => _breakpoints ??= JsonSerializer.Deserialize<HashSet<string>>(Run.Breakpoints) ?? [];

        private HashSet<string>? _breakpoints;
    }

    // ---- Entry points (each inside the caller's change) ----

    /// <summary>Starts a run of a version: inserts it and its steps, and dispatches the steps that need nothing.</summary>
    public async Task<RunRow> StartAsync(Change change, WorkflowRow workflow, WorkflowVersionRow version, JsonObject inputs, bool debug,
        IReadOnlyList<string> breakpoints, (Guid RunId, string StepId, long Depth)? parent = null, Guid? runId = null)
    {
        var compiled = CompiledWorkflow.For(workflow.Id, version.Version, version.Yaml);
        var actor = change.Actor;
        var run = new RunRow
        {
            Id = runId ?? Guid.CreateVersion7(),
            OrgId = workflow.OrgId,
            WorkflowId = workflow.Id,
            WorkflowName = workflow.Name,
            Version = version.Version,
            Status = RunStatuses.Running,
            Input = inputs.ToJsonString(),
            Debug = debug ? 1 : 0,
            Breakpoints = JsonSerializer.Serialize(breakpoints),
            ParentRunId = parent?.RunId,
            ParentStepId = parent?.StepId,
            Depth = parent is { } p ? p.Depth + 1 : 0,
            CreatedByKind = actor.KindName,
            CreatedById = actor.Id,
            CreatedAt = change.Now,
            UpdatedAt = change.Now,
        };
        await RunStore.InsertRunAsync(change, run);
        var steps = compiled.Definition.Steps.Select((s, i) => new StepRow
        {
            RunId = run.Id,
            StepId = s.Id,
            OrgId = run.OrgId,
            Kind = KindName(s.Kind),
            Position = i,
            Status = StepStatuses.Pending,
            NeedsLeft = s.Needs.Count,
            UpdatedAt = change.Now,
        }).ToList();
        await RunStore.InsertStepsAsync(change, steps);
        var scope = new RunScope(change, run, compiled);
        Scopes(change)[run.Id] = scope;
        foreach (var step in steps)
        {
            scope.Steps[step.StepId] = step;
        }

        change.Emit(new RunChanged(run.OrgId, run.Id, run.WorkflowName, (int)run.Version, run.Status, "started"));
        change.Audit(new AuditRecord(run.OrgId, AuditActions.RunStarted, Target(run), After: new AuditFields()
            .Add("workflow", run.WorkflowName).Add("version", run.Version).Add("debug", debug).Add("breakpoints", breakpoints)
            .Add("parentRunId", run.ParentRunId).Add("parentStepId", run.ParentStepId)));
        foreach (var step in steps.Where(s => s.NeedsLeft == 0))
        {
            scope.Ready.Enqueue(step.StepId);
        }

        await ProcessAsync(scope);
        return run;
    }

    /// <summary>
    /// Locks the run for this change and returns its scope (the same one for every entry of one change); null when it is
    /// not the org's. With <paramref name="stepId"/>, the step the caller reads next is read with the lock, in its round
    /// trip (on PostgreSQL the lock is held to the commit, so every round trip under it delays the run's other transitions).
    /// </summary>
    internal async Task<RunScope?> OpenAsync(Change change, Guid orgId, Guid runId, string? stepId = null)
    {
        var scopes = Scopes(change);
        if (scopes.TryGetValue(runId, out var open))
        {
            return open.Run.OrgId == orgId ? open : null;
        }

        RunRow? run;
        StepRow? step = null;
        if (stepId is null)
        {
            run = await RunStore.LockRunAsync(change, orgId, runId);
        }
        else
        {
            (run, step) = await RunStore.LockRunWithStepAsync(change, orgId, runId, stepId);
        }

        if (run is null)
        {
            return null;
        }

        var compiled = CompiledWorkflow.TryGet(run.WorkflowId, run.Version) ?? CompiledWorkflow.For(run.WorkflowId, run.Version,
            await change.Connection.QuerySingleAsync<string>("SELECT yaml FROM workflow_versions WHERE workflow_id = @WorkflowId AND version = @Version", run, change.Transaction));
        var scope = new RunScope(change, run, compiled);
        if (step is not null && compiled.Steps.ContainsKey(step.StepId))
        {
            scope.Steps[step.StepId] = step;
        }

        scopes[runId] = scope;
        return scope;
    }

    /// <summary>A task of a step moved: claims and questions update the step's timings; a final transition finishes (or retries) the step.</summary>
    public async Task OnTaskTransitionAsync(Change change, TaskTransition transition, TaskRow task)
    {
        if (task.RunId is not { } runId || task.StepId is not { } stepId || transition == TaskTransition.Claim)
        {
            // A claim changes nothing of the run: the step's start is its task's (read with the run, stored when it finishes),
            // so the busiest transition of a run takes no lock on it.
            return;
        }

        var scope = await OpenAsync(change, task.OrgId, runId, stepId);
        if (scope is null || await StepAsync(scope, stepId) is not { } step || step.TaskId != task.Id || StepStatuses.IsFinal(step.Status))
        {
            return;
        }

        switch (transition)
        {
            case TaskTransition.Ask:
                step.AwaitingSince = change.Now;
                await SaveAsync(scope, step, emit: false);
                return;
            case TaskTransition.Resume:
                step.AwaitingMs += change.Now - (step.AwaitingSince ?? change.Now);
                step.AwaitingSince = null;
                await SaveAsync(scope, step, emit: false);
                return;
        }

        if (step.AwaitingSince is { } since)
        {
            step.AwaitingMs += change.Now - since;
            step.AwaitingSince = null;
        }

        step.StartedAt = task.StartedAt ?? step.StartedAt;

        switch (task.Status)
        {
            case TaskStatuses.Succeeded:
                await FinishAsync(scope, step, StepStatuses.Succeeded, output: task.Output);
                break;
            case TaskStatuses.Failed when !scope.IsFinal && scope.Workflow.Steps[stepId] is TaskStep { Retry: { } retry } && step.Attempts < retry.Attempts
                                          && !(transition == TaskTransition.Fail && task.RetryRequested == false):
                // Tried again after the backoff: the step waits, ready, for its timer (the sweep dispatches the next attempt).
                step.Status = StepStatuses.Pending;
                step.Error = task.Error;
                step.WakeAt = change.Now + (long)retry.DelayAfter((int)step.Attempts).TotalMilliseconds;
                await SaveAsync(scope, step);
                if (step.WakeAt <= change.Now)
                {
                    step.WakeAt = null;
                    scope.Ready.Enqueue(step.StepId);
                }

                break;
            case TaskStatuses.Failed:
                await FinishAsync(scope, step, StepStatuses.Failed, error: task.Error);
                break;
            case TaskStatuses.Cancelled:
                await FinishAsync(scope, step, StepStatuses.Cancelled, error: task.Error);
                break;
            default:
                return;
        }

        await ProcessAsync(scope);
    }

    /// <summary>A step's timer is due: a wait ends or times out, an approval expires, a retry's backoff is over.</summary>
    public async Task<bool> WakeAsync(Change change, Guid orgId, Guid runId, string stepId)
    {
        var scope = await OpenAsync(change, orgId, runId, stepId);
        if (scope is null || await StepAsync(scope, stepId) is not { WakeAt: { } wakeAt } step || wakeAt > change.Now)
        {
            return false;
        }

        step.WakeAt = null;
        if (scope.IsFinal)
        {
            await SaveAsync(scope, step, emit: false);
            return true;
        }

        var definition = scope.Workflow.Steps[stepId];
        switch (step.Status, definition)
        {
            case (StepStatuses.Pending, _):
                // A retry whose backoff is over (or a step a paused run kept): ready again.
                await SaveAsync(scope, step, emit: false);
                scope.Ready.Enqueue(stepId);
                break;
            case (StepStatuses.Waiting, WaitStep { Signal: null } wait):
                await FinishAsync(scope, step, StepStatuses.Succeeded, output: new JsonObject { ["waitedSeconds"] = wait.Seconds }.ToJsonString());
                break;
            case (StepStatuses.Waiting, WaitStep wait):
                if (wait.OnTimeout == WaitTimeout.Continue)
                {
                    await FinishAsync(scope, step, StepStatuses.Succeeded, output: new JsonObject { ["timedOut"] = true }.ToJsonString());
                }
                else
                {
                    await FinishAsync(scope, step, StepStatuses.Failed, error: $"Timed out after {wait.TimeoutSeconds} s waiting for the signal '{wait.Signal}'.");
                }

                break;
            case (StepStatuses.Waiting, ApprovalStep approval):
                var votes = await RunStore.VotesAsync(change, runId, stepId);
                var approved = approval.OnExpiry == ApprovalExpiry.Approve;
                var output = ApprovalOutput(approved, expired: true, votes);
                change.Audit(new AuditRecord(scope.Run.OrgId, AuditActions.ApprovalDecided, StepTarget(scope.Run, stepId), After: new AuditFields()
                    .Add("decision", "expired").Add("outcome", approved ? "approved" : "rejected").Add("approvals", votes.Count(v => v.Decision == "approve"))
                    .Add("required", approval.Votes)));
                if (approved)
                {
                    await FinishAsync(scope, step, StepStatuses.Succeeded, output: output, decision: "expired");
                }
                else
                {
                    await FinishAsync(scope, step, StepStatuses.Failed, output: output, error: "The approval expired without enough votes (onExpiry: reject).", decision: "expired");
                }

                break;
            default:
                await SaveAsync(scope, step, emit: false);
                break;
        }

        await ProcessAsync(scope);
        return true;
    }

    // ---- The loop ----

    /// <summary>
    /// Works off what the change made happen: finished steps satisfy or skip their dependents, ready steps are
    /// dispatched, until nothing is left; then the run finishes if no step is open. Re-entrant: a nested entry for a run
    /// whose loop is already running only queues work for it.
    /// </summary>
    internal async Task ProcessAsync(RunScope scope)
    {
        if (scope.Processing)
        {
            return;
        }

        scope.Processing = true;
        try
        {
            while (scope.Finished.Count > 0 || scope.Ready.Count > 0)
            {
                if (scope.Finished.TryDequeue(out var finished))
                {
                    await PropagateAsync(scope, finished.Id, finished.Satisfied);
                }
                else if (scope.Ready.TryDequeue(out var ready))
                {
                    await ReadyAsync(scope, ready, release: false);
                }
            }

            await WriteDispatchedAsync(scope);
        }
        finally
        {
            scope.Processing = false;
        }

        await CompleteIfDoneAsync(scope);
    }

    private async Task PropagateAsync(RunScope scope, string stepId, bool satisfied)
    {
        if (scope.IsFinal)
        {
            return;
        }

        var dependents = scope.Workflow.Dependents[stepId];
        if (dependents.Count == 0)
        {
            return;
        }

        if (satisfied)
        {
            Satisfied(scope, await RunStore.SatisfyNeedAsync(scope.Change, scope.Run.Id, dependents));
            return;
        }

        foreach (var id in dependents)
        {
            if (await StepAsync(scope, id) is { Status: StepStatuses.Pending } dependent)
            {
                await FinishAsync(scope, dependent, StepStatuses.Skipped, skipReason: SkipReasons.Upstream,
                    error: $"Skipped: the step '{stepId}' it needs did not succeed.");
            }
        }
    }

    /// <summary>Takes in the count-down of dependents: those with no need left are ready; the others keep the run open.</summary>
    private static void Satisfied(RunScope scope, IReadOnlyList<(string StepId, long NeedsLeft)> counts)
    {
        foreach (var (id, needsLeft) in counts)
        {
            if (scope.Steps.TryGetValue(id, out var cached))
            {
                cached.NeedsLeft = needsLeft;
            }

            if (needsLeft == 0)
            {
                scope.Ready.Enqueue(id);
            }
            else
            {
                // It still waits for other needs (a fan-in): the run goes on, no need to look for open steps.
                scope.SeenPending.Add(id);
            }
        }
    }

    /// <summary>A step whose needs are satisfied: held by a paused run or a debugger, skipped by its condition, or dispatched.</summary>
    internal async Task ReadyAsync(RunScope scope, string stepId, bool release)
    {
        if (scope.IsFinal || await StepAsync(scope, stepId) is not { Status: StepStatuses.Pending, NeedsLeft: 0 } step || step.WakeAt is not null)
        {
            return;
        }

        var change = scope.Change;
        step.ReadyAt ??= change.Now;
        var definition = scope.Workflow.Steps[stepId];
        if (scope.Run.Status == RunStatuses.Paused && !release)
        {
            await SaveAsync(scope, step, emit: false);
            return;
        }

        ExpressionContext context;
        try
        {
            context = await ContextAsync(scope, stepId);
        }
        catch (ExpressionException ex)
        {
            await FinishAsync(scope, step, StepStatuses.Failed, error: "Could not read the step's inputs: " + ex.Message);
            return;
        }

        if (!release && (scope.Run.Debug != 0 || scope.Breakpoints.Contains(stepId)))
        {
            // A debugger stops before dispatch and shows what the step would be given.
            step.Held = 1;
            step.Input = Preview(definition, context);
            await SaveAsync(scope, step);
            return;
        }

        step.Held = 0;
        if (definition.When is { } when)
        {
            bool holds;
            try
            {
                holds = WorkflowExpressions.EvaluateCondition(when, context);
            }
            catch (ExpressionException ex)
            {
                await FinishAsync(scope, step, StepStatuses.Failed, error: "when: " + ex.Message);
                return;
            }

            if (!holds)
            {
                await FinishAsync(scope, step, StepStatuses.Skipped, skipReason: SkipReasons.Condition, error: "Skipped: its when: condition was false.");
                return;
            }
        }

        try
        {
            await DispatchAsync(scope, step, definition, context);
        }
        catch (ExpressionException ex)
        {
            await FinishAsync(scope, step, StepStatuses.Failed, error: "Could not render the step: " + ex.Message);
        }
    }

    private async Task DispatchAsync(RunScope scope, StepRow step, WorkflowStep definition, ExpressionContext context)
    {
        var change = scope.Change;
        switch (definition)
        {
            case TaskStep task:
                await DispatchTaskAsync(scope, step, task, context);
                break;
            case ApprovalStep approval:
                step.Status = StepStatuses.Waiting;
                step.DispatchedAt = change.Now;
                step.WakeAt = approval.ExpiresInSeconds is { } expires ? change.Now + expires * 1000L : null;
                await SaveAsync(scope, step);
                break;
            case WaitStep { Signal: { } signal } wait:
                step.DispatchedAt = change.Now;
                if (await RunStore.TakeKeptSignalAsync(change, scope.Run.Id, signal, step.StepId) is { } kept)
                {
                    // The signal came before the wait began: it was kept, and completes the wait at once.
                    await FinishAsync(scope, step, StepStatuses.Succeeded, output: kept.Payload ?? "null");
                    break;
                }

                step.Status = StepStatuses.Waiting;
                step.WakeAt = wait.TimeoutSeconds is { } timeout ? change.Now + timeout * 1000L : null;
                await SaveAsync(scope, step);
                break;
            case WaitStep wait:
                step.Status = StepStatuses.Waiting;
                step.DispatchedAt = change.Now;
                step.WakeAt = change.Now + (wait.Seconds ?? 0) * 1000L;
                await SaveAsync(scope, step);
                break;
            case ChildWorkflowStep child:
                await DispatchChildAsync(scope, step, child, context);
                break;
        }
    }

    private async Task DispatchTaskAsync(RunScope scope, StepRow step, TaskStep task, ExpressionContext context)
    {
        var change = scope.Change;
        var run = scope.Run;
        var queue = task.Queue;
        IReadOnlyList<string> agentLabels = [];
        JsonObject? role = null;
        if (task.Role is { } roleName)
        {
            var binding = await change.Connection.QuerySingleOrDefaultAsync<WorkflowRoleRow>(
                "SELECT org_id AS OrgId, name AS Name, queue AS Queue, agent_labels AS AgentLabels, model_alias AS ModelAlias, prompt_template AS PromptTemplate " +
                "FROM workflow_roles WHERE org_id = @OrgId AND name = @roleName", new { run.OrgId, roleName }, change.Transaction);
            if (binding is null)
            {
                await FinishAsync(scope, step, StepStatuses.Failed, error: $"The role '{roleName}' is not bound in the org's role map; bind it (PUT /workflow-roles/{roleName}) and retry the step.");
                return;
            }

            queue = binding.Queue;
            agentLabels = JsonSerializer.Deserialize<string[]>(binding.AgentLabels) ?? [];
            role = new JsonObject { ["name"] = roleName, ["modelAlias"] = binding.ModelAlias, ["promptTemplate"] = binding.PromptTemplate };
        }

        var title = TitleOf(task, context);
        var input = WorkflowExpressions.RenderJson(task.Input, context);
        var labels = new JsonObject();
        foreach (var (key, value) in task.Labels)
        {
            labels[key] = WorkflowExpressions.RenderTemplate(value, context);
        }

        step.Attempts++;
        var taskContext = new JsonObject
        {
            ["workflow"] = new JsonObject
            {
                ["name"] = run.WorkflowName, ["version"] = run.Version, ["runId"] = run.Id.ToString(), ["stepId"] = step.StepId, ["attempt"] = step.Attempts,
            },
        };
        if (role is not null)
        {
            taskContext["role"] = role;
        }

        if (labels.Count > 0)
        {
            taskContext["labels"] = labels;
        }

        var settings = options.Value.Tasks;
        var row = new TaskRow
        {
            Id = Guid.CreateVersion7(),
            OrgId = run.OrgId,
            Queue = queue!,
            Title = title,
            Status = TaskStatuses.Queued,
            Input = input?.ToJsonString(),
            Labels = TaskStore.LabelsJson(agentLabels),
            MaxAttempts = 1,
            TimeoutSeconds = task.TimeoutSeconds ?? settings.DefaultTimeoutSeconds,
            RunId = run.Id,
            StepId = step.StepId,
            Context = taskContext.ToJsonString(),
            CreatedAt = change.Now,
            UpdatedAt = change.Now,
        };
        TaskService.Record(change, row, agentLabels);
        step.Status = StepStatuses.Running;
        step.TaskId = row.Id;
        step.DispatchedAt = change.Now;
        step.StartedAt = null;
        step.Input = new JsonObject { ["title"] = title, ["input"] = input?.DeepClone() }.ToJsonString();
        step.UpdatedAt = change.Now;
        EmitStep(scope, step, decision: null);
        scope.Dispatched.Add((row, step));
    }

    /// <summary>
    /// Writes the tasks this change dispatched and their steps, many per round trip. Nothing in the loop reads them back
    /// before: a dispatched step is in the scope's cache, and a step the loop counts down is still pending, so never one of them.
    /// </summary>
    private static async Task WriteDispatchedAsync(RunScope scope)
    {
        if (scope.Dispatched.Count == 0)
        {
            return;
        }

        var dispatched = scope.Dispatched.ToList();
        scope.Dispatched.Clear();
        await TaskStore.InsertManyAsync(scope.Change, [.. dispatched.Select(d => d.Task)], scope.Change.Actor.Id);
        await RunStore.SaveStepsAsync(scope.Change, [.. dispatched.Select(d => d.Step)]);
    }

    private async Task DispatchChildAsync(RunScope scope, StepRow step, ChildWorkflowStep child, ExpressionContext context)
    {
        var change = scope.Change;
        var run = scope.Run;
        if (run.Depth + 1 >= MaxDepth)
        {
            await FinishAsync(scope, step, StepStatuses.Failed, error: $"Child workflows nest at most {MaxDepth} deep.");
            return;
        }

        var store = services.GetRequiredService<WorkflowStore>();
        var workflow = await store.GetAsync(change, run.OrgId, child.Workflow);
        var version = workflow is null ? null
            : child.Version is { } v ? await store.GetVersionAsync(change, workflow.Id, v)
            : child.Label is { } label ? await store.GetVersionByLabelAsync(change, workflow.Id, label)
            : await store.GetVersionAsync(change, workflow.Id, workflow.LatestVersion);
        if (workflow is null || version is null)
        {
            await FinishAsync(scope, step, StepStatuses.Failed, error: $"The child workflow '{child.Workflow}' ({child.Version?.ToString() ?? child.Label ?? "latest"}) does not exist in this org.");
            return;
        }

        var rendered = new JsonObject();
        foreach (var (name, value) in child.Inputs)
        {
            rendered[name] = WorkflowExpressions.RenderJson(value, context);
        }

        JsonObject inputs;
        try
        {
            inputs = RunInputs.Resolve(CompiledWorkflow.For(workflow.Id, version.Version, version.Yaml).Definition, rendered, "inputs");
        }
        catch (ApiException ex)
        {
            await FinishAsync(scope, step, StepStatuses.Failed, error: "The child workflow's inputs are not valid: " + ex.Message);
            return;
        }

        var childId = Guid.CreateVersion7();
        step.Status = StepStatuses.Running;
        step.Attempts++;
        step.ChildRunId = childId;
        step.DispatchedAt = change.Now;
        step.StartedAt = change.Now;
        step.Input = rendered.ToJsonString();
        await SaveAsync(scope, step);
        await StartAsync(change, workflow, version, inputs, debug: false, breakpoints: [], (run.Id, step.StepId, run.Depth), childId);
    }

    /// <summary>When no step is open, the run is over: failed if a step failed or was cancelled, else succeeded; a child tells its parent.</summary>
    private async Task CompleteIfDoneAsync(RunScope scope)
    {
        var run = scope.Run;
        if (!scope.IsFinal && !scope.KnownOpen && !scope.Steps.Values.Any(s => !StepStatuses.IsFinal(s.Status)) && !await RunStore.AnyOpenStepAsync(scope.Change, run.Id))
        {
            var steps = await RunStore.GetStepsAsync(scope.Change, run.Id);
            var failed = steps.Where(s => s.Status is StepStatuses.Failed or StepStatuses.Cancelled).OrderBy(s => s.Position).FirstOrDefault();
            run.Status = failed is null ? RunStatuses.Succeeded : RunStatuses.Failed;
            run.Error = failed is null ? null : $"The step '{failed.StepId}' {failed.Status}: {failed.Error}";
            var output = new JsonObject();
            foreach (var leaf in scope.Workflow.Leaves)
            {
                if (steps.FirstOrDefault(s => s.StepId == leaf) is { Status: StepStatuses.Succeeded or StepStatuses.Skipped } s && s.Output is not null)
                {
                    output[leaf] = JsonNode.Parse(s.Output);
                }
            }

            run.Output = output.ToJsonString();
            run.FinishedAt = scope.Change.Now;
            scope.RunDirty = true;
            scope.RunAction = run.Status;
            scope.Change.Audit(new AuditRecord(run.OrgId, run.Status == RunStatuses.Succeeded ? AuditActions.RunSucceeded : AuditActions.RunFailed, Target(run),
                After: new AuditFields().Add("status", run.Status).Add("error", run.Error)));
        }

        await FlushRunAsync(scope);
    }

    /// <summary>Writes the run row if this change altered it, emits its event, and tells a parent run that this child finished.</summary>
    internal async Task FlushRunAsync(RunScope scope)
    {
        if (!scope.RunDirty)
        {
            return;
        }

        var run = scope.Run;
        run.UpdatedAt = scope.Change.Now;
        await RunStore.SaveRunAsync(scope.Change, run);
        scope.RunDirty = false;
        scope.Change.Emit(new RunChanged(run.OrgId, run.Id, run.WorkflowName, (int)run.Version, run.Status, scope.RunAction ?? run.Status));
        scope.RunAction = null;
        if (RunStatuses.IsFinal(run.Status) && run.ParentRunId is { } parentId && run.ParentStepId is { } parentStep)
        {
            await ChildFinishedAsync(scope.Change, run, parentId, parentStep);
        }
    }

    private async Task ChildFinishedAsync(Change change, RunRow child, Guid parentId, string parentStepId)
    {
        var parent = await OpenAsync(change, child.OrgId, parentId);
        if (parent is null || await StepAsync(parent, parentStepId) is not { Status: StepStatuses.Running } step || step.ChildRunId != child.Id)
        {
            return;
        }

        switch (child.Status)
        {
            case RunStatuses.Succeeded:
                await FinishAsync(parent, step, StepStatuses.Succeeded, output: child.Output);
                break;
            case RunStatuses.Failed:
                await FinishAsync(parent, step, StepStatuses.Failed, error: $"The child run {child.Id} failed: {child.Error}");
                break;
            default:
                await FinishAsync(parent, step, StepStatuses.Cancelled, error: $"The child run {child.Id} was cancelled.");
                break;
        }

        await ProcessAsync(parent);
    }

    // ---- Steps ----

    internal static async Task<StepRow?> StepAsync(RunScope scope, string stepId)
    {
        if (scope.Steps.TryGetValue(stepId, out var step))
        {
            return step;
        }

        if (!scope.Workflow.Steps.ContainsKey(stepId))
        {
            return null;
        }

        step = await RunStore.GetStepAsync(scope.Change, scope.Run.Id, stepId);
        if (step is not null)
        {
            scope.Steps[stepId] = step;
        }

        return step;
    }

    /// <summary>Loads every step of the run into the scope (interventions that walk the graph).</summary>
    internal static async Task LoadAllAsync(RunScope scope)
    {
        var missing = scope.Workflow.Definition.Steps.Select(s => s.Id).Where(id => !scope.Steps.ContainsKey(id)).ToList();
        if (missing.Count == 0)
        {
            return;
        }

        foreach (var step in await RunStore.GetStepsAsync(scope.Change, scope.Run.Id, missing.Count == scope.Workflow.Steps.Count ? null : missing))
        {
            scope.Steps.TryAdd(step.StepId, step);
        }
    }

    internal static async Task SaveAsync(RunScope scope, StepRow step, bool emit = true, string? decision = null)
    {
        step.UpdatedAt = scope.Change.Now;
        await RunStore.SaveStepAsync(scope.Change, step);
        if (emit)
        {
            EmitStep(scope, step, decision);
        }
    }

    private static void EmitStep(RunScope scope, StepRow step, string? decision) =>
        scope.Change.Emit(new RunStepChanged(step.OrgId, step.RunId, step.StepId, step.Kind, step.Status, step.Held != 0, step.TaskId) { Decision = decision });

    /// <summary>
    /// Finishes a step. One that satisfies its dependents counts them down at once, in its save's round trip; otherwise their
    /// update is queued (skips, and runs already over).
    /// </summary>
    internal static async Task FinishAsync(RunScope scope, StepRow step, string status, string? output = null, string? error = null, string? skipReason = null, string? decision = null)
    {
        step.Status = status;
        step.Output = output;
        step.Error = status == StepStatuses.Succeeded ? null : error ?? step.Error;
        step.SkipReason = status == StepStatuses.Skipped ? skipReason : null;
        step.FinishedAt = scope.Change.Now;
        step.WakeAt = null;
        step.Held = 0;

        if (Satisfies(step) && !scope.IsFinal && scope.Workflow.Dependents[step.StepId] is { Count: > 0 } dependents)
        {
            // The save and the dependents' count-down in one round trip (what PropagateAsync would do next for this step).
            step.UpdatedAt = scope.Change.Now;
            var counts = await RunStore.SaveStepAndSatisfyAsync(scope.Change, step, dependents);
            EmitStep(scope, step, decision);
            Satisfied(scope, counts);
            return;
        }

        await SaveAsync(scope, step, decision: decision);
        scope.Finished.Enqueue((step.StepId, Satisfies(step)));
    }

    /// <summary>Whether a finished step lets the steps that need it run: it succeeded, or a person skipped it with an output.</summary>
    internal static bool Satisfies(StepRow step) =>
        step.Status == StepStatuses.Succeeded || (step.Status == StepStatuses.Skipped && step.SkipReason == SkipReasons.Operator);

    /// <summary>The expression context of a step: the run's inputs and the outputs of the upstream steps it reads.</summary>
    private static async Task<ExpressionContext> ContextAsync(RunScope scope, string stepId)
    {
        var reads = scope.Workflow.Reads[stepId];
        var states = new List<ExpressionStepState>(reads.Count);
        var missing = reads.Where(id => !scope.Steps.ContainsKey(id)).ToList();
        if (missing.Count > 0)
        {
            foreach (var row in await RunStore.GetStepsAsync(scope.Change, scope.Run.Id, missing))
            {
                scope.Steps.TryAdd(row.StepId, row);
            }
        }

        foreach (var id in reads)
        {
            if (scope.Steps.TryGetValue(id, out var row))
            {
                states.Add(new ExpressionStepState(id, row.Status, row.Output is null ? null : JsonNode.Parse(row.Output)));
            }
        }

        return ExpressionContext.ForWorkflow(scope.Inputs, states);
    }

    private static string TitleOf(TaskStep task, ExpressionContext context)
    {
        var rendered = task.Title is { } title ? WorkflowExpressions.RenderTemplate(title, context) : null;
        var text = rendered is JsonValue v && v.TryGetValue<string>(out var s) ? s : rendered?.ToJsonString() ?? task.Id;
        text = string.IsNullOrWhiteSpace(text) ? task.Id : text.Trim();
        return text.Length > 500 ? text[..500] : text;
    }

    /// <summary>What a held step would be given, for the debugger; a rendering error is shown instead of the input.</summary>
    private static string Preview(WorkflowStep definition, ExpressionContext context)
    {
        try
        {
            JsonNode? preview = definition switch
            {
                TaskStep task => new JsonObject { ["title"] = TitleOf(task, context), ["input"] = WorkflowExpressions.RenderJson(task.Input, context) },
                ChildWorkflowStep child => new JsonObject(child.Inputs.Select(p => KeyValuePair.Create(p.Key, WorkflowExpressions.RenderJson(p.Value, context)))),
                _ => null,
            };
            var when = definition.When is { } w ? WorkflowExpressions.EvaluateCondition(w, context) : (bool?)null;
            return new JsonObject { ["resolved"] = preview, ["when"] = when }.ToJsonString();
        }
        catch (ExpressionException ex)
        {
            return new JsonObject { ["error"] = ex.Message }.ToJsonString();
        }
    }

    internal static string ApprovalOutput(bool approved, bool expired, IReadOnlyList<VoteRow> votes) => new JsonObject
    {
        ["approved"] = approved,
        ["expired"] = expired,
        ["votes"] = new JsonArray([.. votes.Select(v => (JsonNode)new JsonObject
        {
            ["userId"] = v.UserId.ToString(), ["decision"] = v.Decision, ["comment"] = v.Comment,
        })]),
    }.ToJsonString();

    internal static string KindName(WorkflowStepKind kind) => kind switch
    {
        WorkflowStepKind.Task => "task",
        WorkflowStepKind.Approval => "approval",
        WorkflowStepKind.Wait => "wait",
        _ => "workflow",
    };

    internal static AuditTarget Target(RunRow run) => new("run", run.Id, run.WorkflowName);

    internal static AuditTarget StepTarget(RunRow run, string stepId) => new("run", run.Id, run.WorkflowName + "/" + stepId);

    private static Dictionary<Guid, RunScope> Scopes(Change change) => s_scopes.GetValue(change, _ => []);
}

/// <summary>Steps advance with their tasks: the engine is a task observer, in the same unit of work as each transition.</summary>
public sealed class RunTaskObserver(RunEngine engine) : ITaskTransitionObserver
{
    public Task OnTransitionAsync(Change change, TaskTransition transition, TaskRow task) =>
        task.RunId is null ? Task.CompletedTask : engine.OnTaskTransitionAsync(change, transition, task);
}
