using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Overview;

/// <summary>
/// The numbers on the dashboard's overview. Every figure is defined in docs/operations.md ("Overview metrics");
/// keep the two in step.
/// </summary>
public sealed class OverviewService(OverviewStore store, IOptions<ClarityOptions> options, TimeProvider clock)
{
    public Task<OrgOverview> GetAsync(OrgContext org, OverviewWindow window, CancellationToken ct) => GetAsync(org.OrgId, window, ct);

    public async Task<OrgOverview> GetAsync(Guid orgId, OverviewWindow window, CancellationToken ct)
    {
        var now = DbTime.ToDb(clock.GetUtcNow());
        var from = window.StartMs(now);
        var firstBucket = from / window.BucketMs;

        var created = await store.CreatedAsync(orgId, from, now, window.BucketMs, ct);
        var finished = await store.FinishedAsync(orgId, from, now, window.BucketMs, ct);
        var open = await store.OpenStatusesAsync(orgId, ct);
        var offlineAfter = TimeSpan.FromSeconds(options.Value.Tasks.AgentOfflineAfterSeconds);
        var agents = await store.AgentsAsync(orgId, now - (long)offlineAfter.TotalMilliseconds, ct);
        var pending = await store.PendingClarificationsAsync(orgId, ct);

        var buckets = new List<OverviewBucket>(window.Buckets);
        for (var i = 0; i < window.Buckets; i++)
        {
            var b = firstBucket + i;
            var made = created.Where(r => r.Bucket == b).Sum(r => r.Count);
            var done = finished.Where(r => r.Bucket == b).ToList();
            var ok = Of(done, TaskStatuses.Succeeded);
            var failed = Count(done, TaskStatuses.Failed);
            buckets.Add(new OverviewBucket(
                DbTime.FromDb(b * window.BucketMs),
                (int)made,
                (int)ok.Count,
                (int)failed,
                (int)Count(done, TaskStatuses.Cancelled),
                ok.Count == 0 ? null : (double)ok.Completion / ok.Count,
                ErrorRate(ok.Count, failed)));
        }

        var succeeded = Of(finished, TaskStatuses.Succeeded);
        var failedTotal = Count(finished, TaskStatuses.Failed);
        var days = Math.Max(now - from, 1) / 86_400_000.0;
        var busy = (int)agents.Busy;
        var idle = (int)agents.Idle;
        return new OrgOverview(
            window,
            DbTime.FromDb(from),
            DbTime.FromDb(now),
            buckets,
            Created: (int)created.Sum(r => r.Count),
            Succeeded: (int)succeeded.Count,
            Failed: (int)failedTotal,
            Cancelled: (int)Count(finished, TaskStatuses.Cancelled),
            TasksPerDay: created.Sum(r => r.Count) / days,
            AvgCompletionMs: succeeded.Count == 0 ? null : (double)succeeded.Completion / succeeded.Count,
            AvgRunMs: succeeded.Started == 0 ? null : (double)succeeded.Run / succeeded.Started,
            ErrorRate: ErrorRate(succeeded.Count, failedTotal),
            Agents: new AgentUtilization(busy, idle, (int)agents.Total - busy - idle),
            PendingClarifications: (int)pending,
            Queued: OpenCount(open, TaskStatuses.Queued),
            Running: OpenCount(open, TaskStatuses.Running),
            AwaitingResponse: OpenCount(open, TaskStatuses.AwaitingResponse),
            Blocked: OpenCount(open, TaskStatuses.Blocked));
    }

    /// <summary>failed ÷ (succeeded + failed); cancelled tasks are neither. Null when neither happened.</summary>
    public static double? ErrorRate(long succeeded, long failed) => succeeded + failed == 0 ? null : (double)failed / (succeeded + failed);

    private static long Count(IEnumerable<OverviewStore.FinishedRow> rows, string status) => rows.Where(r => r.Status == status).Sum(r => r.Count);

    private static (long Count, long Completion, long Started, long Run) Of(IEnumerable<OverviewStore.FinishedRow> rows, string status)
    {
        var matching = rows.Where(r => r.Status == status).ToList();
        return (matching.Sum(r => r.Count), matching.Sum(r => r.TotalCompletionMs ?? 0), matching.Sum(r => r.Started), matching.Sum(r => r.TotalRunMs ?? 0));
    }

    private static int OpenCount(IEnumerable<OverviewStore.StatusRow> rows, string status) => (int)rows.Where(r => r.Status == status).Sum(r => r.Count);
}

public static class OverviewRegistration
{
    public static IServiceCollection AddOverview(this IServiceCollection services) =>
        services.AddSingleton<OverviewStore>().AddSingleton<OverviewService>();
}
