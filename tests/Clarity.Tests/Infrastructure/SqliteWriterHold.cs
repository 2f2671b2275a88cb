using Clarity.Storage;

namespace Clarity.Tests.Infrastructure;

public static class SqliteWriterHold
{
    /// <summary>
    /// Holds SQLite's writer thread inside a write until the returned gate is released: what is queued meanwhile then
    /// commits as one group, in the order it was queued (requests ahead of background writes).
    /// </summary>
    public static async Task<(SemaphoreSlim Gate, Task Held)> HoldAsync(SqliteDatabase db)
    {
        var gate = new SemaphoreSlim(0);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = db.WriteAsync((c, t) =>
        {
            entered.SetResult();
            gate.Wait();
            return Task.FromResult(0);
        });
        await entered.Task;
        return (gate, held);
    }
}
