namespace Clarity.Features.Workflows.Runs;

/// <summary>Where a run's time went: each step's phases, and the critical path (the chain of last-arriving needs).</summary>
public static class RunProfile
{
    /// <summary>A step's phases in milliseconds, from its timestamps.</summary>
    public static StepProfile Of(StepRow s, bool onCriticalPath)
    {
        long? queued = null, running = null, awaitingResponse = null, awaitingApproval = null, waiting = null;
        switch (s.Kind)
        {
            case "task":
                queued = s.DispatchedAt is { } d ? (s.StartedAt ?? s.FinishedAt) - d : null;
                running = s.StartedAt is { } st && s.FinishedAt is { } f ? Math.Max(0, f - st - s.AwaitingMs) : null;
                awaitingResponse = s.StartedAt is null ? null : s.AwaitingMs;
                break;
            case "approval":
                awaitingApproval = s.DispatchedAt is { } a && s.FinishedAt is { } fa ? fa - a : null;
                break;
            case "wait":
                waiting = s.DispatchedAt is { } w && s.FinishedAt is { } fw ? fw - w : null;
                break;
            default:
                running = s.StartedAt is { } cs && s.FinishedAt is { } cf ? cf - cs : null;
                break;
        }

        return new StepProfile(queued, running, awaitingResponse, awaitingApproval, waiting, onCriticalPath);
    }

    /// <summary>
    /// The run's critical path: from the step that finished last, back through the need of each that finished last
    /// (the one it was waiting for). Shortening any other step would not have ended the run sooner.
    /// </summary>
    public static IReadOnlySet<string> CriticalPath(CompiledWorkflow workflow, IReadOnlyList<StepRow> steps)
    {
        var byId = steps.ToDictionary(s => s.StepId, StringComparer.Ordinal);
        var path = new HashSet<string>(StringComparer.Ordinal);
        var current = steps.Where(s => s.FinishedAt is not null && s.ReadyAt is not null).MaxBy(s => s.FinishedAt);
        while (current is not null && path.Add(current.StepId))
        {
            current = workflow.Steps[current.StepId].Needs
                .Select(n => byId.GetValueOrDefault(n))
                .Where(n => n is { FinishedAt: not null, ReadyAt: not null })
                .MaxBy(n => n!.FinishedAt);
        }

        return path;
    }

    /// <summary>The nearest-rank percentile of sorted values.</summary>
    public static long Percentile(long[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
