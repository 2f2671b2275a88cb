using Clarity.Hosting;
using Clarity.Storage;

namespace Clarity.Features.Tasks;

/// <summary>Fails tasks past their timeout, then requeues (or fails) tasks whose lease expired.</summary>
public sealed class TaskSweep(TaskStore store, TaskService tasks) : ISweep
{
    public string Name => "tasks";

    public async Task<int> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var ms = DbTime.ToDb(now);
        var timedOut = await store.FailTimedOutAsync(ms, cancellationToken);
        var expired = await store.ExpireLeasesAsync(ms, cancellationToken);
        foreach (var row in timedOut.Concat(expired))
        {
            tasks.Publish(row);
        }

        return timedOut.Count + expired.Count;
    }
}
