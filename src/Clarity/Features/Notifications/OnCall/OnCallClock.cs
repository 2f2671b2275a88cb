namespace Clarity.Features.Notifications.OnCall;

/// <summary>
/// The clock of the on-call engine (escalation starts, due times, pages and acknowledgements). It reads the host's
/// <see cref="TimeProvider"/>; tests swap in a controllable one (<see cref="Use"/>) for the on-call services only, and move
/// escalations along by advancing it, never by sleeping.
/// </summary>
public sealed class OnCallClock(TimeProvider time)
{
    private TimeProvider _time = time;

    public DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>Replaces the time source (tests: a fake clock shared by every node of a test cluster).</summary>
    public void Use(TimeProvider time) => _time = time;
}
