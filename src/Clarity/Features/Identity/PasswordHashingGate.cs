using System.Threading.RateLimiting;
using Clarity.Hosting;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Identity;

/// <summary>
/// Bounds the CPU that password hashing can take: at most <c>RateLimits:PasswordHashing:MaxConcurrent</c> PBKDF2
/// computations run at once (about one per core), a bounded queue waits for a turn without holding a thread, and
/// beyond the queue the answer is 429 at once. Each hash costs ~100 ms of a core, so without the gate a burst of
/// sign-ins would take every core and every thread-pool thread and stall unrelated requests.
/// </summary>
public sealed class PasswordHashingGate : IDisposable
{
    private readonly ConcurrencyLimiter _limiter;

    public PasswordHashingGate(IOptions<ClarityOptions> options)
    {
        var hashing = options.Value.RateLimits.PasswordHashing;
        _limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = hashing.MaxConcurrent,
            QueueLimit = hashing.QueueLimit,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
    }

    /// <summary>Waits for a turn to hash; 429 when the queue is full. Dispose the lease when the hashing is done.</summary>
    public async ValueTask<RateLimitLease> AcquireAsync(CancellationToken ct)
    {
        var lease = await _limiter.AcquireAsync(1, ct);
        if (lease.IsAcquired)
        {
            return lease;
        }

        lease.Dispose();
        throw Problems.RateLimited("The server is busy checking other passwords; try again in 1 second.", TimeSpan.FromSeconds(1));
    }

    public void Dispose() => _limiter.Dispose();
}
