using System.Diagnostics;
using System.Net;
using Clarity.Bench.Harness;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// #9: an unrelated request while passwords are being guessed. 32 clients send wrong passwords back to back (each
/// costs one PBKDF2 hash, ~100 ms of a core) while one client reads the task list with the API key, one request at
/// a time with a short pause; its latency is the figure. The sign-in throttle's per-account and per-address limits
/// are raised out of the way for every run here, so that only the password-hashing gate differs: "wide open" (64
/// hashes at once, which is how the server behaved before the gate) against the default (one per core, a queue of
/// 32, 429 beyond it). The idle figure is the same probe with nobody signing in.
/// </summary>
public static class SignInFloodBench
{
    public const string Name = "8. Unrelated request during a sign-in flood";
    private const int Guessers = 32;

    /// <summary>The sign-in throttle out of the way, API buckets off (as in every benchmark).</summary>
    public static IDictionary<string, string?> Settings(int? maxConcurrentHashes)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Clarity:RateLimits:SignIn:FreeFailuresPerAccount"] = "1000000",
            ["Clarity:RateLimits:SignIn:FreeFailuresPerAddress"] = "1000000",
        };
        if (maxConcurrentHashes is { } max)
        {
            settings["Clarity:RateLimits:PasswordHashing:MaxConcurrent"] = max.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return settings;
    }

    public static async Task RunAsync(BenchServer server, BenchOptions options, Report report, string variant, bool flood)
    {
        var samples = options.Quick ? 60 : 400;
        using var stop = new CancellationTokenSource();
        var answered = new int[600];
        using var guessHttp = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(120) };

        async Task GuessAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await guessHttp.PostAsync("api/v1/auth/login", BenchServer.Json(new { email = "owner@bench.example", password = "not-the-password" }), stop.Token);
                    Interlocked.Increment(ref answered[Math.Min((int)response.StatusCode, answered.Length - 1)]);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
            }
        }

        var guessers = flood ? Enumerable.Range(0, Guessers).Select(_ => Task.Run(GuessAsync)).ToArray() : [];
        var started = Stopwatch.GetTimestamp();
        // Let the flood reach its steady state before sampling.
        await Task.Delay(flood ? TimeSpan.FromSeconds(2) : TimeSpan.FromMilliseconds(200));

        var latency = new Samples();
        for (var i = 0; i < samples; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            using var response = await server.Http.GetAsync(BenchServer.Api("tasks?limit=1"));
            latency.AddSince(t0);
            await BenchServer.ExpectAsync(response, HttpStatusCode.OK);
            await Task.Delay(20);
        }

        await stop.CancelAsync();
        await Task.WhenAll(guessers);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;

        var b = server.Backend;
        var notes = flood
            ? $"{samples} samples; sign-ins answered/s: {Report.Format(answered[401] / seconds)} × 401, {Report.Format(answered[429] / seconds)} × 429"
            : $"{samples} samples";
        report.Add(Name, b, $"{variant}: GET tasks, p50", latency.Percentile(50), "ms", notes: notes);
        report.Add(Name, b, $"{variant}: GET tasks, p95 / p99", latency.Percentile(95), "ms", notes: $"p99 {Report.Format(latency.Percentile(99))} ms");
        report.Add(Name, b, $"{variant}: GET tasks, max", latency.Max, "ms");
    }
}
