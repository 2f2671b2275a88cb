namespace Clarity.Hosting.RateLimiting;

/// <summary>How a wait reads in a 429's detail (the dashboard shows it as is).</summary>
public static class Wait
{
    public static string Describe(long seconds) => seconds switch
    {
        <= 1 => "1 second",
        < 120 => $"{seconds} seconds",
        < 7200 => $"{(seconds + 59) / 60} minutes",
        _ => $"{(seconds + 3599) / 3600} hours",
    };
}
