using Clarity.Features.Identity;
using Clarity.Hosting;
using Clarity.Hosting.RateLimiting;
using Microsoft.Extensions.Options;
using Xunit;

namespace Clarity.Tests.Features.Identity;

public sealed class SignInBackoffTests
{
    private static readonly SignInBackoff s_backoff = new(TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(15), TimeSpan.FromHours(1));

    [Fact]
    public void DelayAfter_IsZeroForTheFreeFailures_ThenDoublesUpToTheMaximum()
    {
        Assert.Equal(TimeSpan.Zero, s_backoff.DelayAfter(5, free: 5));
        Assert.Equal(TimeSpan.FromSeconds(1), s_backoff.DelayAfter(6, free: 5));
        Assert.Equal(TimeSpan.FromSeconds(2), s_backoff.DelayAfter(7, free: 5));
        Assert.Equal(TimeSpan.FromSeconds(512), s_backoff.DelayAfter(15, free: 5));
        Assert.Equal(TimeSpan.FromMinutes(15), s_backoff.DelayAfter(16, free: 5));
        Assert.Equal(TimeSpan.FromMinutes(15), s_backoff.DelayAfter(int.MaxValue, free: 5));
    }

    [Fact]
    public void Count_AddsOneFailure_AndSetsTheNextAllowedTime()
    {
        var state = s_backoff.Count(null, now: 1_000, free: 1);
        Assert.Equal(new ThrottleState(1, 1_000, 1_000), state);
        state = s_backoff.Count(state, now: 2_000, free: 1);
        Assert.Equal(new ThrottleState(2, 2_000, 3_000), state);
        Assert.Equal(TimeSpan.FromMilliseconds(500), SignInBackoff.WaitFor(state, 2_500));
        Assert.Equal(TimeSpan.Zero, SignInBackoff.WaitFor(state, 3_000));
    }

    [Fact]
    public void Count_AfterForgetAfterWithoutFailures_StartsAgainFromOne()
    {
        var state = new ThrottleState(9, 0, 0);
        Assert.Equal(10, s_backoff.Count(state, now: 3_599_999, free: 5).Failures);
        Assert.Equal(1, s_backoff.Count(state, now: 3_600_000, free: 5).Failures);
    }

    [Fact]
    public async Task HashingGate_BeyondItsTurnsAndQueue_Answers429WithRetryAfter()
    {
        var options = new ClarityOptions { RateLimits = new RateLimitOptions { PasswordHashing = new PasswordHashingOptions { MaxConcurrent = 1, QueueLimit = 1 } } };
        using var gate = new PasswordHashingGate(Options.Create(options));
        var first = await gate.AcquireAsync(CancellationToken.None);
        var queued = gate.AcquireAsync(CancellationToken.None).AsTask();
        Assert.False(queued.IsCompleted);

        var refused = await Assert.ThrowsAsync<ApiException>(async () => await gate.AcquireAsync(CancellationToken.None));
        Assert.Equal(429, refused.Status);
        Assert.Equal("urn:clarity:problem:rate-limited", refused.Type);
        Assert.Equal(TimeSpan.FromSeconds(1), refused.RetryAfter);

        first.Dispose();
        using var second = await queued;
        Assert.True(second.IsAcquired);
    }
}
