using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using Clarity.Hosting;
using Clarity.Hosting.RateLimiting;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Identity;

/// <summary>
/// Limits sign-in attempts per account (email) and per client address, and setup attempts per client address, with a
/// growing delay after failures (<see cref="SignInBackoff"/>); over the limit the answer is 429 with
/// <c>Retry-After</c>. The counts live in the database (<see cref="SignInThrottleStore"/>), so they hold across nodes
/// and restarts. An email is counted whether or not it has an account, so the answers never tell the two apart.
/// Every attempt that gets through also holds a turn of the <see cref="PasswordHashingGate"/> while it hashes.
/// </summary>
public sealed class SignInThrottle(
    SignInThrottleStore store, PasswordHashingGate hashing, IHttpContextAccessor http, IOptions<ClarityOptions> options, TimeProvider clock)
{
    private readonly SignInLimitOptions _limits = options.Value.RateLimits.SignIn;
    private readonly SignInBackoff _backoff = new(options.Value.RateLimits.SignIn.BaseDelay, options.Value.RateLimits.SignIn.MaxDelay, options.Value.RateLimits.SignIn.ForgetAfter);

    /// <summary>
    /// Counts a sign-in attempt for <paramref name="email"/> (already normalised) from the current client address, and
    /// waits for a turn to hash. 429 when either must wait. Call <see cref="SignInAttempt.SucceededAsync"/> on success;
    /// dispose the attempt when done.
    /// </summary>
    public Task<SignInAttempt> BeginSignInAsync(string email, CancellationToken ct) =>
        BeginAsync(Subject.Account(email, _limits.FreeFailuresPerAccount), AddressSubject(), ct);

    /// <summary>Counts a setup attempt from the current client address (setup hashes a password too).</summary>
    public Task<SignInAttempt> BeginSetupAsync(CancellationToken ct) => BeginAsync(null, AddressSubject(), ct);

    /// <summary>A turn to hash a password outside sign-in (e.g. adding a member with a password).</summary>
    public ValueTask<RateLimitLease> HashingTurnAsync(CancellationToken ct) => hashing.AcquireAsync(ct);

    private Subject? AddressSubject() =>
        http.HttpContext is { } context ? Subject.Address(ClientAddress.Of(context), _limits.FreeFailuresPerAddress) : null;

    private async Task<SignInAttempt> BeginAsync(Subject? account, Subject? address, CancellationToken ct)
    {
        // The address first: an attempt that its address refuses is not counted against the account, so that
        // a blocked attacker does not keep the account's owner waiting.
        Subject[] subjects = [.. new[] { address, account }.OfType<Subject>()];

        // Refuse a waiting account or address before it queues for the CPU.
        if (subjects.Length > 0)
        {
            var states = await store.ReadAsync([.. subjects.Select(s => s.Key)], ct);
            var now = Now();
            var wait = subjects.Max(s => SignInBackoff.WaitFor(StateOf(states, s), now));
            if (wait > TimeSpan.Zero)
            {
                throw TooMany(wait);
            }
        }

        var turn = await hashing.AcquireAsync(ct);
        try
        {
            foreach (var subject in subjects)
            {
                await CountAsync(subject, ct);
            }

            return new SignInAttempt(this, account, address, turn);
        }
        catch
        {
            turn.Dispose();
            throw;
        }
    }

    /// <summary>Counts the attempt against <paramref name="subject"/> as a failure, unless it must wait (then 429).</summary>
    private async Task CountAsync(Subject subject, CancellationToken ct)
    {
        var wait = TimeSpan.Zero;
        await store.CountAsync(subject.Key, seen =>
        {
            var now = Now();
            wait = SignInBackoff.WaitFor(seen, now);
            return wait > TimeSpan.Zero ? null : _backoff.Count(seen, now, subject.FreeFailures);
        }, ct);
        if (wait > TimeSpan.Zero)
        {
            throw TooMany(wait);
        }
    }

    private static ThrottleState? StateOf(IReadOnlyDictionary<string, ThrottleState> states, Subject subject) =>
        states.TryGetValue(subject.Key, out var state) ? state : null;

    internal async Task SucceededAsync(Subject? account, Subject? address, CancellationToken ct)
    {
        if (account is not null)
        {
            await store.ClearAsync(account.Key, ct);
        }

        if (address is not null)
        {
            await store.ReleaseAsync(address.Key, ct);
        }
    }

    /// <summary>Deletes rows whose failures are forgotten (see <see cref="SignInThrottleSweep"/>).</summary>
    public Task<int> PruneAsync(CancellationToken ct)
    {
        var now = Now();
        return store.PruneAsync(now - (long)_limits.ForgetAfter.TotalMilliseconds, now, ct);
    }

    private long Now() => DbTime.ToDb(clock.GetUtcNow());

    private static ApiException TooMany(TimeSpan wait) =>
        Problems.RateLimited($"Too many attempts; try again in {Wait.Describe(Problems.RetryAfterSeconds(wait))}.", wait);

    internal sealed record Subject(string Key, int FreeFailures)
    {
        public static Subject Account(string email, int free) => new(Hash("account:" + email), free);

        public static Subject Address(string address, int free) => new(Hash("address:" + address), free);

        private static string Hash(string value) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)));
    }
}

/// <summary>A counted sign-in or setup attempt holding a turn to hash. Dispose it when the attempt is over.</summary>
public sealed class SignInAttempt : IDisposable
{
    private readonly SignInThrottle _throttle;
    private readonly SignInThrottle.Subject? _account;
    private readonly SignInThrottle.Subject? _address;
    private readonly RateLimitLease _turn;

    internal SignInAttempt(SignInThrottle throttle, SignInThrottle.Subject? account, SignInThrottle.Subject? address, RateLimitLease turn)
    {
        _throttle = throttle;
        _account = account;
        _address = address;
        _turn = turn;
    }

    /// <summary>The attempt succeeded: forget the account's failures and take this attempt back from the address.</summary>
    public Task SucceededAsync(CancellationToken ct) => _throttle.SucceededAsync(_account, _address, ct);

    public void Dispose() => _turn.Dispose();
}

/// <summary>Deletes forgotten sign-in failure rows, at most once a minute.</summary>
public sealed class SignInThrottleSweep(SignInThrottle throttle, TimeProvider clock) : ISweep
{
    private static readonly TimeSpan s_every = TimeSpan.FromMinutes(1);
    private long _last;

    public string Name => "sign-in-throttle";

    public async Task<int> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var at = clock.GetTimestamp();
        if (_last != 0 && clock.GetElapsedTime(_last, at) < s_every)
        {
            return 0;
        }

        _last = at;
        return await throttle.PruneAsync(cancellationToken);
    }
}
