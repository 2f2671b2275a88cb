using System.Globalization;
using System.Text.Json;
using Clarity.Events;
using Clarity.Features.Notifications.OnCall;
using Clarity.Hosting;
using Clarity.Storage;
using Dapper;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Notifications;

/// <summary>An outbox event that means a notification: the row, the event read from it and its notification type.</summary>
public sealed record NotifiableEvent(EventRow Row, ClarityEvent Event, string Type)
{
    /// <summary>The notification type of an outbox event, or null when it is none (issue 12's event names).</summary>
    public static string? TypeOf(ClarityEvent evt) => evt switch
    {
        ClarificationChanged { Status: "pending" } => NotificationEvents.ClarificationAsked,
        ClarificationExpiring => NotificationEvents.ClarificationExpiring,
        TaskChanged { Status: "failed" } => NotificationEvents.TaskFailed,
        TaskChanged { Status: "succeeded" } => NotificationEvents.TaskSucceeded,
        RunChanged { Action: "succeeded" or "failed" or "cancelled" } => NotificationEvents.RunFinished,
        RunStepChanged { Kind: "approval", Status: "waiting" } => NotificationEvents.ApprovalPending,
        WebhookDisabled => NotificationEvents.WebhookDisabled,
        EscalationChanged { Step: EscalationEventKinds.Notified, Targets.Count: > 0 } => NotificationEvents.EscalationPage,
        _ => null,
    };

    public Guid? TaskId => Event switch
    {
        TaskChanged t => t.TaskId,
        ClarificationChanged c => c.TaskId,
        ClarificationExpiring c => c.TaskId,
        RunStepChanged s => s.TaskId,
        _ => null,
    };

    public Guid? ClarificationId => Event switch
    {
        ClarificationChanged c => c.ClarificationId,
        ClarificationExpiring c => c.ClarificationId,
        _ => null,
    };

    public Guid? RunId => Event switch
    {
        RunChanged r => r.RunId,
        RunStepChanged s => s.RunId,
        _ => null,
    };
}

/// <summary>What a notification is about, as the rules' filters judge it: the task's queue and labels, the run's workflow.</summary>
public sealed record EventFacets(string? Queue, IReadOnlyList<string> Labels, string? Workflow);

/// <summary>
/// Builds the <see cref="NotificationView"/> of events, reading what they need for a whole batch at once: one query per
/// kind of thing (orgs, tasks, agents, questions, runs), plus the last log lines of each task whose event shows them.
/// Links are absolute when <c>Clarity:PublicUrl</c> is set, else paths.
/// </summary>
public sealed class NotificationViews(Database db, EscalationStore escalations, IOptions<ClarityOptions> options)
{
    public const int LogLines = 20;

    private sealed class TaskFacts
    {
        public Guid Id { get; set; }

        public string Title { get; set; } = "";

        public string Status { get; set; } = "";

        public string Queue { get; set; } = "";

        public string Labels { get; set; } = "[]";

        public Guid? AgentId { get; set; }

        public Guid? RunId { get; set; }

        public string? StepId { get; set; }
    }

    private sealed class QuestionFacts
    {
        public Guid Id { get; set; }

        public string Question { get; set; } = "";

        public string? Options { get; set; }

        public long ExpiresAt { get; set; }

        public string OnExpiry { get; set; } = "";

        public string? DefaultAnswer { get; set; }
    }

    public async Task<IReadOnlyDictionary<long, (NotificationView View, EventFacets Facets)>> BuildAsync(IReadOnlyList<NotifiableEvent> events, CancellationToken ct)
    {
        var result = new Dictionary<long, (NotificationView, EventFacets)>();
        if (events.Count == 0)
        {
            return result;
        }

        var pages = events.Where(e => e.Event is EscalationChanged).ToList();
        if (pages.Count > 0)
        {
            await PagesAsync(pages, result, ct);
            events = [.. events.Where(e => e.Event is not EscalationChanged)];
            if (events.Count == 0)
            {
                return result;
            }
        }

        await using var c = await db.OpenReadAsync(ct);
        var orgs = await ByIdAsync<(Guid Id, string Slug)>(c, "SELECT id, slug FROM orgs", [.. events.Select(e => e.Row.OrgId)], ct);
        var tasks = (await ByIdAsync<TaskFacts>(c,
            "SELECT id AS Id, title AS Title, status AS Status, queue AS Queue, labels AS Labels, agent_id AS AgentId, run_id AS RunId, step_id AS StepId FROM tasks",
            [.. events.Select(e => e.TaskId).OfType<Guid>()], ct)).ToDictionary(t => t.Id);
        var agents = (await ByIdAsync<(Guid Id, string Name)>(c, "SELECT id, name FROM agents", [.. tasks.Values.Select(t => t.AgentId).OfType<Guid>()], ct))
            .ToDictionary(a => a.Id, a => a.Name);
        var questions = (await ByIdAsync<QuestionFacts>(c,
            "SELECT id AS Id, question AS Question, options AS Options, expires_at AS ExpiresAt, on_expiry AS OnExpiry, default_answer AS DefaultAnswer FROM clarifications",
            [.. events.Select(e => e.ClarificationId).OfType<Guid>()], ct)).ToDictionary(q => q.Id);
        var runIds = events.Select(e => e.RunId).Concat(tasks.Values.Select(t => t.RunId)).OfType<Guid>().ToList();
        var workflows = (await ByIdAsync<(Guid Id, string Name)>(c, "SELECT id, workflow_name FROM workflow_runs", runIds, ct)).ToDictionary(r => r.Id, r => r.Name);
        var slugs = orgs.ToDictionary(o => o.Id, o => o.Slug);

        foreach (var e in events)
        {
            var slug = slugs.GetValueOrDefault(e.Row.OrgId, "");
            var task = e.TaskId is { } taskId ? tasks.GetValueOrDefault(taskId) : null;
            var question = e.ClarificationId is { } qid ? questions.GetValueOrDefault(qid) : null;
            var runId = e.RunId ?? task?.RunId;
            var workflow = e.Event switch
            {
                RunChanged r => r.Workflow,
                _ => runId is { } rid ? workflows.GetValueOrDefault(rid) : null,
            };
            var title = task?.Title ?? (e.Event as TaskChanged)?.Title;
            var agent = task?.AgentId is { } agentId ? agents.GetValueOrDefault(agentId) : null;
            var at = DbTime.FromDb(e.Row.CreatedAt);
            IReadOnlyList<string> logs = [];
            if (task is not null && e.Type is NotificationEvents.ClarificationAsked or NotificationEvents.ClarificationExpiring or NotificationEvents.TaskFailed)
            {
                logs = (await c.QueryAsync<string>(new CommandDefinition(
                    "SELECT text FROM task_logs WHERE task_id = @id AND ts <= @at ORDER BY seq DESC LIMIT @n", new { id = task.Id, at = e.Row.CreatedAt, n = LogLines }, cancellationToken: ct)))
                    .Reverse().ToList();
            }

            var view = new NotificationView
            {
                EventType = e.Type,
                EventSeq = e.Row.Seq,
                OrgId = e.Row.OrgId,
                OrgSlug = slug,
                OccurredAt = at,
                Summary = Summary(e, title, agent, question, workflow),
                Url = Link(slug, e, task?.Id ?? e.TaskId, runId),
                TaskId = task?.Id ?? e.TaskId,
                TaskTitle = title,
                TaskStatus = task?.Status ?? (e.Event as TaskChanged)?.Status,
                Queue = task?.Queue ?? (e.Event as TaskChanged)?.Queue,
                AgentName = agent,
                RunId = runId,
                StepId = (e.Event as RunStepChanged)?.StepId ?? task?.StepId,
                WorkflowName = workflow,
                Question = question is null ? null : new NotificationQuestion(
                    question.Id, question.Question, question.Options is null ? null : JsonSerializer.Deserialize<List<string>>(question.Options),
                    DbTime.FromDb(question.ExpiresAt), question.OnExpiry, question.DefaultAnswer),
                RecentLogLines = logs,
                LogUrl = (task?.Id ?? e.TaskId) is { } t ? Base + $"/o/{Uri.EscapeDataString(slug)}/tasks/{t}" : null,
                Detail = Detail(e),
            };
            var labels = task is null ? [] : JsonSerializer.Deserialize<List<string>>(task.Labels) ?? [];
            result[e.Row.Seq] = (view, new EventFacets(view.Queue, labels, workflow));
        }

        return result;
    }

    /// <summary>
    /// The views of pages: the view the escalation started with (the question's, or the drill's), as escalation.page, with
    /// the level paged and a summary that says it is a page. An escalation started without a view gets a plain one.
    /// </summary>
    private async Task PagesAsync(List<NotifiableEvent> pages, Dictionary<long, (NotificationView, EventFacets)> result, CancellationToken ct)
    {
        var rows = (await escalations.ByIdsAsync([.. pages.Select(p => ((EscalationChanged)p.Event).EscalationId)], ct)).ToDictionary(r => r.Id);
        Dictionary<Guid, string>? slugs = null;
        foreach (var e in pages)
        {
            var page = (EscalationChanged)e.Event;
            if (!rows.TryGetValue(page.EscalationId, out var row))
            {
                continue;
            }

            var stored = JsonSerializer.Deserialize<StoredPlan>(row.Plan, JsonDefaults.Options)?.View;
            if (stored is null)
            {
                slugs ??= await SlugsAsync([.. pages.Select(p => p.Row.OrgId)], ct);
                var slug = slugs.GetValueOrDefault(row.OrgId, "");
                stored = new NotificationView
                {
                    EventType = NotificationEvents.EscalationPage,
                    EventSeq = e.Row.Seq,
                    OrgId = row.OrgId,
                    OrgSlug = slug,
                    OccurredAt = DbTime.FromDb(row.StartedAt),
                    Summary = $"Escalation of {row.SubjectKind} {row.SubjectId}",
                    Url = $"{Base}/o/{Uri.EscapeDataString(slug)}",
                };
            }

            var fallback = page.Fallback == true;
            var test = stored.IsTest || row.IsDrill == 1;
            var view = stored with
            {
                EventType = NotificationEvents.EscalationPage,
                EventSeq = e.Row.Seq,
                OccurredAt = DbTime.FromDb(e.Row.CreatedAt),
                Summary = (test ? "TEST PAGE: " : "") + $"On-call page ({(fallback ? "fallback" : $"level {page.Level}")}, {row.PolicyName}): " +
                    (stored.Summary.StartsWith("TEST PAGE: ", StringComparison.Ordinal) ? stored.Summary["TEST PAGE: ".Length..] : stored.Summary),
                IsTest = test,
                Digest = null,
                Page = new NotificationPage(row.Id, row.PolicyName, page.Level, fallback, row.SubjectKind, row.SubjectId) { EscalationStatus = row.Status },
            };
            result[e.Row.Seq] = (view, new EventFacets(view.Queue, [], view.WorkflowName));
        }
    }

    private async Task<Dictionary<Guid, string>> SlugsAsync(IReadOnlyList<Guid> orgIds, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return (await ByIdAsync<(Guid Id, string Slug)>(c, "SELECT id, slug FROM orgs", orgIds, ct)).ToDictionary(o => o.Id, o => o.Slug);
    }

    private string Base => options.Value.PublicUrl is { Length: > 0 } url ? url.TrimEnd('/') : "";

    private string Link(string slug, NotifiableEvent e, Guid? taskId, Guid? runId)
    {
        var org = $"{Base}/o/{Uri.EscapeDataString(slug)}";
        return e.Type switch
        {
            NotificationEvents.WebhookDisabled => org + "/settings/webhooks",
            NotificationEvents.RunFinished or NotificationEvents.ApprovalPending when runId is { } run => $"{org}/runs/{run}",
            _ when taskId is { } task => $"{org}/tasks/{task}",
            _ => org,
        };
    }

    private static string Summary(NotifiableEvent e, string? title, string? agent, QuestionFacts? question, string? workflow) => e.Event switch
    {
        ClarificationChanged => $"Question from agent {agent ?? "(unknown)"}: {question?.Question ?? "(withdrawn)"}",
        ClarificationExpiring x => $"Question expires at {DbTime.FromDb(x.ExpiresAt).UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture)}: {question?.Question ?? "(withdrawn)"}",
        TaskChanged { Status: "failed" } => $"Task failed: {title}",
        TaskChanged => $"Task succeeded: {title}",
        RunChanged r => $"Run of {r.Workflow} {r.Action}",
        RunStepChanged s => $"Approval waiting: step {s.StepId} of {workflow ?? "a workflow"}",
        WebhookDisabled w => $"Webhook endpoint disabled: {w.Url}",
        _ => e.Type,
    };

    private static string? Detail(NotifiableEvent e) => e.Event switch
    {
        RunChanged r => r.Action,
        WebhookDisabled w => $"{w.Reason} ({w.ConsecutiveFailures} failed attempts in a row)",
        _ => null,
    };

    private async Task<IReadOnlyList<T>> ByIdAsync<T>(System.Data.Common.DbConnection c, string select, IReadOnlyList<Guid> ids, CancellationToken ct)
    {
        if (ids.Count == 0)
        {
            return [];
        }

        return (await c.QueryAsync<T>(new CommandDefinition(
            $"{select} WHERE {db.Dialect.InList("id", "@ids")}", new { ids = ids.Distinct().ToArray() }, cancellationToken: ct))).AsList();
    }
}
