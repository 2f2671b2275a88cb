using System.Diagnostics;

namespace Clarity.Bench.Harness;

/// <summary>
/// Warms up a server process of its own until its JIT has settled. A fresh .NET process compiles every method it runs,
/// then compiles the hot ones again, optimized with the profile the first version gathered (tiered compilation). The
/// second compilations run on one background thread, ".NET Tiered Com". On this 2-core machine a Clarity server on
/// PostgreSQL compiled about 24,000 methods in the first 35-40 s of lifecycles (about 8,000 of them at tier 1), so a fixed
/// 15 s warm-up left the first measured window sharing the machine with the compiler. Here the warm-up runs in slices
/// until that thread used less than <see cref="SettledShare"/> of one core in a slice.
/// </summary>
public static class JitWarmUp
{
    /// <summary>The background compiler's name as Linux keeps it (15 characters).</summary>
    public const string CompilerThread = ".NET Tiered Com";

    /// <summary>The background compiler's share of one core, over one slice, under which the JIT counts as settled.</summary>
    public const double SettledShare = 0.02;

    /// <summary>
    /// Runs <paramref name="slice"/> (the work that warms the paths about to be measured) back to back, each time for
    /// <paramref name="sliceLength"/>, until the server's background compiler goes quiet: at least
    /// <paramref name="atLeast"/>, at most <paramref name="atMost"/>. Prints what it took.
    /// </summary>
    public static async Task RunAsync(BenchServer server, Func<TimeSpan, Task> slice, TimeSpan sliceLength, TimeSpan atLeast, TimeSpan atMost, string what)
    {
        if (server.ServerProcessId is not { } pid)
        {
            throw new InvalidOperationException("The JIT warm-up watches a server process of its own.");
        }

        var started = Stopwatch.GetTimestamp();
        var shares = new List<double>();
        while (true)
        {
            var compilerBefore = ThreadCpu.Of(CompilerThread, pid);
            var sliceStarted = Stopwatch.GetTimestamp();
            await slice(sliceLength);
            var share = (ThreadCpu.Of(CompilerThread, pid) - compilerBefore) / Stopwatch.GetElapsedTime(sliceStarted);
            shares.Add(share);
            var elapsed = Stopwatch.GetElapsedTime(started);
            var settled = share < SettledShare;
            if ((settled && elapsed >= atLeast) || elapsed >= atMost)
            {
                Console.WriteLine($"   warm-up ({what}, not reported): {elapsed.TotalSeconds:0} s; the server's background JIT compiler used " +
                                  $"{string.Join(", ", shares.Select(s => $"{s:0.0%}"))} of a core per {sliceLength.TotalSeconds:0} s slice" +
                                  (settled ? "" : $" (not settled: stopped at the {atMost.TotalSeconds:0} s cap)"));
                return;
            }
        }
    }
}
