using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Clarifications;
using Clarity.Features.Identity;
using Microsoft.Extensions.Options;

namespace Clarity.Hosting.Telemetry;

/// <summary>
/// Clarity's own instruments, on the "Clarity" meter of this host's <see cref="IMeterFactory"/>. Counters count what
/// happened on this node (a cluster total is the sum over nodes); the pending-clarifications gauge is read from the
/// database at each scrape, so every node reports the same cluster-wide figure (aggregate it with max, not sum).
/// Queue names come from clients, so the <c>queue</c> label is capped: per org, the first <c>Metrics:MaxQueueLabels</c>
/// distinct queues this node counts keep their name, and later ones are counted under <see cref="OtherQueues"/>.
/// The leader gauge is 1 on the node that runs the leader-only jobs and 0 on the others.
/// </summary>
public sealed partial class ClarityMetrics : IDisposable
{
    public const string MeterName = "Clarity";

    /// <summary>The <c>queue</c> label of the queues past the cap. No queue has this name: queue names start with a letter or digit.</summary>
    public const string OtherQueues = "_other";

    /// <summary>Checkout buckets, in seconds: from a claim of work that was already waiting (milliseconds) to a 30 s+ long-poll.</summary>
    public static readonly IReadOnlyList<double> CheckoutBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    private readonly Counter<long> _tasksCreated;
    private readonly Counter<long> _tasksFinished;
    private readonly Counter<long> _logLines;
    private readonly Histogram<double> _checkout;
    private readonly Counter<long> _handedOff;
    private readonly ClarificationStore _clarifications;
    private readonly IdentityStore _identity;
    private readonly ILogger<ClarityMetrics> _logger;
    private readonly IDisposable _subscription;
    private readonly ConcurrentDictionary<Guid, string> _orgSlugs = new();
    private readonly ConcurrentDictionary<Task, byte> _pendingRecords = new();
    private readonly ConcurrentDictionary<Guid, byte> _pendingOrgsSeen = new();
    private readonly ConcurrentDictionary<Guid, HashSet<string>> _queueLabels = new();
    private readonly int _maxQueueLabels;
    private volatile Measurement<long>[] _pending = [];
    private readonly EventLog _eventLog;
    private readonly AuditLog _auditLog;
    private long _unsequenced;
    private long _unchained;

    public ClarityMetrics(
        IMeterFactory meterFactory, IEventBus events, ClarificationStore clarifications, IdentityStore identity, EventLog eventLog, AuditLog auditLog, Leadership leadership,
        IOptions<ClarityOptions> options, ILogger<ClarityMetrics> logger)
    {
        _eventLog = eventLog;
        _auditLog = auditLog;
        _maxQueueLabels = options.Value.Metrics.MaxQueueLabels;
        _clarifications = clarifications;
        _identity = identity;
        _logger = logger;
        var meter = meterFactory.Create(MeterName);
        _tasksCreated = meter.CreateCounter<long>("clarity.tasks.created", "{task}", "Tasks created through this node, by org and queue.");
        _tasksFinished = meter.CreateCounter<long>("clarity.tasks.finished", "{task}",
            "Tasks that reached a final status on this node (succeeded, failed or cancelled), by org and queue.");
        _logLines = meter.CreateCounter<long>("clarity.log_lines.ingested", "{line}", "Log lines appended through this node, by org.");
        _checkout = meter.CreateHistogram<double>("clarity.checkout.duration", "s",
            "Time from a checkout request to the lease handed out, long-poll wait included; waited=\"true\" when no work was ready at first.",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = CheckoutBuckets });
        _handedOff = meter.CreateCounter<long>("clarity.checkout.handed_off", "{task}",
            "Tasks claimed for an agent already waiting on this node by a create's own unit of work (one commit instead of two), by org.");
        meter.CreateObservableGauge("clarity.clarifications.pending", () => _pending, "{clarification}",
            "Clarifications waiting for an answer, by org (read from the database at each scrape: the same on every node).");
        meter.CreateObservableGauge("clarity.leader", () => leadership.IsLeader ? 1 : 0, null,
            "1 on the node that leads (runs the sweeps, retention and the event sequencer), 0 on the others.");
        meter.CreateObservableGauge("clarity.events.unsequenced", () => Interlocked.Read(ref _unsequenced), "{event}",
            "Committed events waiting for the leader's sequencer (PostgreSQL; always 0 on SQLite), read from the database at each scrape.");
        meter.CreateObservableGauge("clarity.audit.unchained", () => Interlocked.Read(ref _unchained), "{entry}",
            "Committed audit entries waiting for the leader's chainer (PostgreSQL; always 0 on SQLite, which chains inline), read from the database at each scrape.");
        _subscription = events.SubscribeLocal(OnLocalEvent);
    }

    /// <summary>A task was created on this node (not an idempotent replay).</summary>
    public void TaskCreated(OrgContext org, string queue)
    {
        _orgSlugs.TryAdd(org.OrgId, org.Slug);
        _tasksCreated.Add(1, new("org", org.Slug), new("queue", QueueLabel(org.OrgId, queue)));
    }

    public void LogLinesIngested(OrgContext org, int lines)
    {
        _orgSlugs.TryAdd(org.OrgId, org.Slug);
        _logLines.Add(lines, new KeyValuePair<string, object?>("org", org.Slug));
    }

    /// <summary>A checkout handed out a lease <paramref name="elapsed"/> after it began; <paramref name="waited"/> when it had to long-poll for work.</summary>
    public void CheckoutCompleted(OrgContext org, TimeSpan elapsed, bool waited)
    {
        _orgSlugs.TryAdd(org.OrgId, org.Slug);
        _checkout.Record(elapsed.TotalSeconds, new("org", org.Slug), new("waited", waited ? "true" : "false"));
    }

    /// <summary>A create on this node claimed <paramref name="tasks"/> tasks in its unit of work for an agent waiting here.</summary>
    public void CheckoutHandedOff(OrgContext org, int tasks)
    {
        _orgSlugs.TryAdd(org.OrgId, org.Slug);
        _handedOff.Add(tasks, new KeyValuePair<string, object?>("org", org.Slug));
    }

    private void OnLocalEvent(ClarityEvent evt)
    {
        // Terminal transitions happen once (every one is fenced in the database), on the node that made them.
        if (evt is not TaskChanged { } task || !TaskStatuses.IsTerminal(task.Status))
        {
            return;
        }

        if (_orgSlugs.TryGetValue(task.OrgId, out var slug))
        {
            _tasksFinished.Add(1, new("org", slug), new("queue", QueueLabel(task.OrgId, task.Queue)), new("status", task.Status));
            return;
        }

        // A sweep finished a task of an org this node has not served yet: look its slug up, then count (a scrape waits for this).
        var record = RecordFinishedLaterAsync(task);
        _pendingRecords.TryAdd(record, 0);
        _ = record.ContinueWith(t => _pendingRecords.TryRemove(t, out _), TaskScheduler.Default);
    }

    private async Task RecordFinishedLaterAsync(TaskChanged task)
    {
        var slug = await SlugOfAsync(task.OrgId, CancellationToken.None);
        _tasksFinished.Add(1, new("org", slug), new("queue", QueueLabel(task.OrgId, task.Queue)), new("status", task.Status));
    }

    /// <summary>The queue's label: its name while the org has fewer than the cap of named queues (or it is one of them), else <see cref="OtherQueues"/>.</summary>
    private string QueueLabel(Guid orgId, string queue)
    {
        var named = _queueLabels.GetOrAdd(orgId, _ => new HashSet<string>(StringComparer.Ordinal));
        lock (named)
        {
            return named.Contains(queue) || (named.Count < _maxQueueLabels && named.Add(queue)) ? queue : OtherQueues;
        }
    }

    private async Task<string> SlugOfAsync(Guid orgId, CancellationToken ct)
    {
        if (_orgSlugs.TryGetValue(orgId, out var slug))
        {
            return slug;
        }

        try
        {
            slug = (await _identity.FindOrgAsync(orgId, ct))?.Slug;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.OrgLookupFailed(_logger, ex, orgId);
        }

        return slug is null ? orgId.ToString() : _orgSlugs.GetOrAdd(orgId, slug);
    }

    /// <summary>
    /// Before a scrape: reads the pending clarifications per org, and lets counts waiting for an org's slug land, so that
    /// the gauge's callback never blocks. A failed read (database down) is logged and leaves the gauge at its last value;
    /// the rest of the scrape still answers.
    /// </summary>
    public async Task RefreshAsync(CancellationToken ct)
    {
        try
        {
            await ReadPendingAsync(ct);
            Interlocked.Exchange(ref _unsequenced, await _eventLog.UnsequencedAsync(ct));
            Interlocked.Exchange(ref _unchained, await _auditLog.UnchainedAsync(ct));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.RefreshFailed(_logger, ex);
        }
    }

    private async Task ReadPendingAsync(CancellationToken ct)
    {
        await Task.WhenAll(_pendingRecords.Keys);
        var counts = await _clarifications.CountPendingByOrgAsync(ct);
        var byOrg = counts.ToDictionary(c => c.OrgId, c => c.Count);
        foreach (var orgId in byOrg.Keys)
        {
            _pendingOrgsSeen.TryAdd(orgId, 0);
        }

        // An org that had pending questions reports 0 once they are answered, instead of its series vanishing.
        var measurements = new List<Measurement<long>>();
        foreach (var orgId in _pendingOrgsSeen.Keys)
        {
            var slug = await SlugOfAsync(orgId, ct);
            measurements.Add(new Measurement<long>(byOrg.GetValueOrDefault(orgId), new KeyValuePair<string, object?>("org", slug)));
        }

        _pending = [.. measurements];
    }

    public void Dispose() => _subscription.Dispose();

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Could not look up org {OrgId} for a metric label")]
        public static partial void OrgLookupFailed(ILogger logger, Exception error, Guid orgId);

        [LoggerMessage(2, LogLevel.Warning, "Could not read the pending clarifications before a metrics scrape")]
        public static partial void RefreshFailed(ILogger logger, Exception error);
    }
}
