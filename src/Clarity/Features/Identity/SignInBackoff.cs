namespace Clarity.Features.Identity;

/// <summary>The failures counted against one account or one client address (times in Unix milliseconds).</summary>
public readonly record struct ThrottleState(int Failures, long LastFailureAt, long NextAllowedAt);

/// <summary>
/// The growing delay after failed sign-ins: the first <c>free</c> failures cost nothing; each one after that makes
/// the next attempt wait <see cref="BaseDelay"/>, doubled per further failure, up to <see cref="MaxDelay"/>. A count
/// untouched for <see cref="ForgetAfter"/> starts again from zero.
/// An attempt is counted as a failure when it starts (so that concurrent attempts cannot all slip through before the
/// first one fails), and a success takes it back.
/// </summary>
public sealed class SignInBackoff(TimeSpan baseDelay, TimeSpan maxDelay, TimeSpan forgetAfter)
{
    public TimeSpan BaseDelay => baseDelay;

    public TimeSpan MaxDelay => maxDelay;

    public TimeSpan ForgetAfter => forgetAfter;

    /// <summary>How long the next attempt waits after the <paramref name="failures"/>-th failure.</summary>
    public TimeSpan DelayAfter(int failures, int free)
    {
        var over = failures - free;
        if (over <= 0)
        {
            return TimeSpan.Zero;
        }

        // 2^(over-1) × base, without overflowing: past 40 doublings every sane maximum has been reached.
        var factor = over > 40 ? double.PositiveInfinity : Math.Pow(2, over - 1);
        var ticks = baseDelay.Ticks * factor;
        return ticks >= maxDelay.Ticks ? maxDelay : TimeSpan.FromTicks((long)ticks);
    }

    /// <summary>How long an attempt must still wait at <paramref name="now"/>; zero when it may go ahead.</summary>
    public static TimeSpan WaitFor(ThrottleState? state, long now) =>
        state is { } s && s.NextAllowedAt > now ? TimeSpan.FromMilliseconds(s.NextAllowedAt - now) : TimeSpan.Zero;

    /// <summary>The state after counting one more attempt at <paramref name="now"/> as a failure.</summary>
    public ThrottleState Count(ThrottleState? state, long now, int free)
    {
        var failures = state is { } s && now - s.LastFailureAt < (long)forgetAfter.TotalMilliseconds ? s.Failures + 1 : 1;
        return new ThrottleState(failures, now, now + (long)DelayAfter(failures, free).TotalMilliseconds);
    }
}
