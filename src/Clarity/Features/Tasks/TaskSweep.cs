using Clarity.Hosting;

namespace Clarity.Features.Tasks;

/// <summary>Fails tasks past their timeout, then requeues (or fails) tasks whose lease expired: one unit of work by the system.</summary>
public sealed class TaskSweep(TaskService tasks) : ISweep
{
    public string Name => "tasks";

    public Task<int> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken) => tasks.SweepAsync(cancellationToken);
}
