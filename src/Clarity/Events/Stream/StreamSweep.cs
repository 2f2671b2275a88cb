using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Events.Stream;

/// <summary>Deletes outbox events older than <c>Clarity:Stream:Retention</c> and records the highest seq deleted.</summary>
public sealed class StreamSweep(EventLog store, IOptions<ClarityOptions> options) : ISweep
{
    public string Name => "stream";

    public Task<int> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        store.PruneAsync(DbTime.ToDb(now - options.Value.Stream.Retention), cancellationToken);
}
