namespace Clarity.Features.Overview;

/// <summary>
/// A time window of the overview: <see cref="Buckets"/> buckets of <see cref="BucketMs"/> milliseconds aligned to UTC
/// (hours for 24 h, days for 7 d and 30 d), the last one being the current, still running bucket.
/// </summary>
public sealed record OverviewWindow(string Key, string Label, long BucketMs, int Buckets)
{
    public static readonly OverviewWindow Day = new("24h", "24 h", 3_600_000, 24);
    public static readonly OverviewWindow Week = new("7d", "7 d", 86_400_000, 7);
    public static readonly OverviewWindow Month = new("30d", "30 d", 86_400_000, 30);

    public static IReadOnlyList<OverviewWindow> All { get; } = [Day, Week, Month];

    /// <summary>The window named by <paramref name="key"/> (24h, 7d, 30d); 7 d when it is missing or unknown.</summary>
    public static OverviewWindow Parse(string? key) =>
        All.FirstOrDefault(w => string.Equals(w.Key, key, StringComparison.OrdinalIgnoreCase)) ?? Week;

    /// <summary>The start of the window's first bucket, in epoch milliseconds, for a window ending at <paramref name="nowMs"/>.</summary>
    public long StartMs(long nowMs) => (nowMs / BucketMs - (Buckets - 1)) * BucketMs;
}

/// <summary>One bucket of the trend charts. Created counts tasks created in the bucket; the others count tasks that finished in it.</summary>
public sealed record OverviewBucket(
    DateTimeOffset Start,
    int Created,
    int Succeeded,
    int Failed,
    int Cancelled,
    double? AvgCompletionMs,
    double? ErrorRate);

/// <summary>Agents right now, with the same rules as the agents API: busy while holding a task, else idle if seen recently, else offline.</summary>
public sealed record AgentUtilization(int Busy, int Idle, int Offline)
{
    public int Online => Busy + Idle;

    /// <summary>Busy ÷ (busy + idle); null when no agent is online.</summary>
    public double? Ratio => Online == 0 ? null : (double)Busy / Online;
}

/// <summary>The overview of one org over one window. Averages and rates are null when nothing was there to average.</summary>
public sealed record OrgOverview(
    OverviewWindow Window,
    DateTimeOffset From,
    DateTimeOffset To,
    IReadOnlyList<OverviewBucket> Buckets,
    int Created,
    int Succeeded,
    int Failed,
    int Cancelled,
    double TasksPerDay,
    double? AvgCompletionMs,
    double? AvgRunMs,
    double? ErrorRate,
    AgentUtilization Agents,
    int PendingClarifications,
    int Queued,
    int Running,
    int AwaitingResponse,
    int Blocked = 0)
{
    public int Finished => Succeeded + Failed + Cancelled;

    /// <summary>Tasks not finished yet: blocked on their dependencies, queued, running or awaiting a response.</summary>
    public int Open => Blocked + Queued + Running + AwaitingResponse;
}
