using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.RegularExpressions;
using Clarity.Bench.Harness;
using Clarity.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// #16: notifications per second through the outbox to a real SMTP server on loopback and a Slack Web API stand-in, the
/// request path beside them, and the time from a question asked to the mail accepted and the Slack post. One org rule:
/// <c>clarification.asked</c> → email to 3 addresses + one Slack channel, so every question is 4 notifications. A question
/// is what an agent does: create a task, check it out, ask (POST …/clarifications, 201) with its own
/// <c>X-Correlation-Id</c>, which the mail carries back (<c>X-Clarity-Correlation-Id</c>) and the Slack post carries in the
/// question's text. The SMTP server (bench/smtp/smtp_sink.py, aiosmtpd under /usr/bin/python3) wants STARTTLS and AUTH like
/// a submission server and prints the CLOCK_MONOTONIC time of every accepted DATA; the Slack stand-in is a Kestrel app
/// in this process answering <c>chat.postMessage</c> with <c>{ok, channel, ts}</c>. Phases, one server:
/// <list type="number">
/// <item>the request path alone: 16 clients create tasks as fast as they can;</item>
/// <item>flood: 8 askers ask as fast as they can; notifications/s from the first arrival to the last (email, Slack,
/// summed), every one awaited and counted after the askers stop;</item>
/// <item>steady: a paced asker (open loop) at a fixed rate while the 16 clients create tasks again, beside phase 1;</item>
/// <item>latency: a paced asker at a moderate rate, nothing else; ask (just before the POST that answers 201) → mail
/// accepted by the SMTP server, and → Slack post received, p50 and p99.</item>
/// </list>
/// Burst grouping is set out of the way (DigestThreshold 10,000 within 1 s): every delivery here is a message of its own.
/// </summary>
public static partial class NotificationBench
{
    public const string Name = "16. Notifications to a loopback SMTP server and a Slack stand-in";
    private const int Creators = 16;
    private const int Askers = 8;
    private const int EmailsPerQuestion = 3;
    private const double SteadyQuestionsPerSecond = 10;
    private const double LatencyQuestionsPerSecond = 5;

    public static Dictionary<string, string?> Settings(Receivers receivers) => new()
    {
        ["Clarity:PublicUrl"] = "https://clarity.bench.example",
        ["Clarity:Smtp:Host"] = "127.0.0.1",
        ["Clarity:Smtp:Port"] = receivers.SmtpPort.ToString(CultureInfo.InvariantCulture),
        ["Clarity:Smtp:From"] = "Clarity <clarity@bench.example>",
        ["Clarity:Smtp:UseStartTls"] = "true",
        ["Clarity:Smtp:User"] = SmtpSink.User,
        ["Clarity:Smtp:Password"] = SmtpSink.Password,
        ["Clarity:Smtp:AcceptAnyCertificate"] = "true",
        ["Clarity:Slack:BotToken"] = "xoxb-bench-stand-in",
        ["Clarity:Slack:SigningSecret"] = "bench-signing-secret",
        ["Clarity:Slack:ApiBaseUrl"] = receivers.SlackApiBaseUrl,
        ["Clarity:Notifications:DigestThreshold"] = "10000",
        ["Clarity:Notifications:DigestWindowSeconds"] = "1",
    };

    public static async Task RunAsync(BenchServer server, Receivers receivers, BenchOptions options, Report report)
    {
        var b = server.Backend;
        var api = new AgentApi(server.Http);
        var run = "nb" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));

        // 1. The request path alone (no rule yet).
        var (baseRate, baseP50, baseP99, _) = await CreateForAsync(api, options.Duration);
        report.Add(Name, b, "task creations/s, no notifications", baseRate, "/s", notes: $"{Creators} clients");
        report.Add(Name, b, "create p50 / p99, no notifications", baseP50, "ms", notes: $"p99 {baseP99:F1} ms");

        await CreateRuleAsync(server);

        // 2. Flood: askers as fast as they can; then every notification is awaited.
        var flood = run + "f";
        var cpu = new CpuMeter();
        var floodStarted = Stopwatch.GetTimestamp();
        var floodAsk = new Samples();
        var stopAsking = floodStarted + (long)(options.Duration.TotalSeconds * Stopwatch.Frequency);
        var asked = 0;
        await Task.WhenAll(Enumerable.Range(0, Askers).Select(_ => Task.Run(async () =>
        {
            while (Stopwatch.GetTimestamp() < stopAsking)
            {
                var n = Interlocked.Increment(ref asked);
                var t0 = Stopwatch.GetTimestamp();
                await AskAsync(server, api, $"{flood}-{n}");
                floodAsk.AddSince(t0);
            }
        })));
        var askersStopped = Stopwatch.GetTimestamp();
        var askSeconds = Stopwatch.GetElapsedTime(floodStarted, askersStopped).TotalSeconds;
        var delivered = await receivers.WaitForAsync(flood, asked * EmailsPerQuestion, asked);
        var (machine, process, processMs) = cpu.Stop();
        var emails = receivers.Email.Of(flood);
        var posts = receivers.Slack.Of(flood);
        var emailRate = Rate(emails);
        var slackRate = Rate(posts);
        var all = emails.Concat(posts).ToList();
        var total = Rate(all);
        var drained = all.Count == 0 ? double.NaN : Stopwatch.GetElapsedTime(askersStopped, all.Max(a => a.At)).TotalSeconds;
        var expected = asked * (EmailsPerQuestion + 1);
        report.Add(Name, b, "notifications/s, flood (email + Slack)", total, "/s", "all delivered", delivered,
            $"{all.Count:N0} of {expected:N0} ({emails.Count:N0} mails of {asked * EmailsPerQuestion:N0}, {posts.Count:N0} Slack posts of {asked:N0}) " +
            $"in {Seconds(all):F1} s, first to last; the last {drained:F1} s after the askers stopped");
        report.Add(Name, b, "mails/s accepted by the SMTP server, flood", emailRate, "/s", notes: $"{emails.Count:N0} in {Seconds(emails):F1} s, first to last");
        report.Add(Name, b, "Slack posts/s, flood", slackRate, "/s", notes: $"{posts.Count:N0} in {Seconds(posts):F1} s, first to last");
        report.Add(Name, b, "questions asked/s, flood", asked / askSeconds, "/s",
            notes: $"{Askers} askers (create + check out + ask); ask p50 {floodAsk.Percentile(50):F1} ms, p99 {floodAsk.Percentile(99):F1} ms");
        report.Add(Name, b, "CPU per notification, this process", processMs / Math.Max(all.Count, 1), "ms",
            notes: $"server + askers + Slack stand-in over the flood and its drain ({process:F0} % of all cores); " +
            $"machine-wide {machine:F0} % busy, {machine / 100 * Environment.ProcessorCount * Stopwatch.GetElapsedTime(floodStarted).TotalMilliseconds / Math.Max(all.Count, 1):F1} ms per notification (SMTP server, database and anything else running included)");

        // 3. Steady: a paced asker beside the request path.
        var steady = run + "s";
        using var stopPacing = new CancellationTokenSource();
        var asks = receivers.Asked;
        var paced = PaceAsync(SteadyQuestionsPerSecond, int.MaxValue, stopPacing.Token, n => AskAsync(server, api, $"{steady}-{n}", asks));
        var windowStart = Stopwatch.GetTimestamp();
        var (steadyRate, steadyP50, steadyP99, _) = await CreateForAsync(api, options.Duration);
        var windowEnd = Stopwatch.GetTimestamp();
        await stopPacing.CancelAsync();
        var pacedQuestions = await paced;
        var steadyDelivered = await receivers.WaitForAsync(steady, pacedQuestions * EmailsPerQuestion, pacedQuestions);
        var window = Stopwatch.GetElapsedTime(windowStart, windowEnd).TotalSeconds;
        var inWindow = receivers.Email.Of(steady).Concat(receivers.Slack.Of(steady)).Count(a => a.At >= windowStart && a.At <= windowEnd) / window;
        var asked4 = SteadyQuestionsPerSecond * (EmailsPerQuestion + 1);
        var kept = steadyRate / baseRate;
        report.Add(Name, b, $"notifications/s held beside the request path", inWindow, "/s", $"≥ 90 % of {asked4:F0}/s asked", inWindow >= 0.9 * asked4,
            $"{pacedQuestions:N0} questions paced at {SteadyQuestionsPerSecond:F0}/s over {window:F1} s; {(steadyDelivered ? "all" : "NOT all")} {pacedQuestions * (EmailsPerQuestion + 1):N0} notifications arrived");
        report.Add(Name, b, $"task creations/s beside {asked4:F0} notifications/s", steadyRate, "/s", "≥ 90 % of alone", kept >= 0.9,
            $"{kept:P0} of the same clients alone ({baseRate:F0}/s)");
        report.Add(Name, b, $"create p50 / p99 beside {asked4:F0} notifications/s", steadyP50, "ms",
            notes: $"p99 {steadyP99:F1} ms (alone: p50 {baseP50:F1} ms, p99 {baseP99:F1} ms)");
        var (steadyEmail, steadySlack) = Latencies(receivers, steady);
        report.Add(Name, b, "ask → mail accepted p50, steady beside the request path", steadyEmail.Percentile(50), "ms",
            notes: $"p99 {steadyEmail.Percentile(99):F0} ms; {steadyEmail.Count:N0} mails");
        report.Add(Name, b, "ask → Slack post p50, steady beside the request path", steadySlack.Percentile(50), "ms",
            notes: $"p99 {steadySlack.Percentile(99):F0} ms; {steadySlack.Count:N0} posts");

        // 4. Latency at a moderate rate, nothing else running.
        var latency = run + "l";
        var questions = options.Quick ? 100 : 300;
        var latencyQuestions = await PaceAsync(LatencyQuestionsPerSecond, questions, CancellationToken.None, n => AskAsync(server, api, $"{latency}-{n}", asks));
        var latencyDelivered = await receivers.WaitForAsync(latency, latencyQuestions * EmailsPerQuestion, latencyQuestions);
        var (email, slack) = Latencies(receivers, latency);
        var note = $"{latencyQuestions} questions paced at {LatencyQuestionsPerSecond:F0}/s, nothing else running{(latencyDelivered ? "" : "; NOT all arrived")}";
        report.Add(Name, b, "ask → mail accepted by the SMTP server, p50", email.Percentile(50), "ms",
            notes: $"p99 {email.Percentile(99):F0} ms; {email.Count:N0} mails ({EmailsPerQuestion} a question); {note}");
        report.Add(Name, b, "ask → Slack post received, p50", slack.Percentile(50), "ms", notes: $"p99 {slack.Percentile(99):F0} ms; {slack.Count:N0} posts; {note}");

        if (!delivered || !steadyDelivered || !latencyDelivered)
        {
            throw new InvalidOperationException($"Notifications were lost: flood {delivered}, steady {steadyDelivered}, latency {latencyDelivered} (see the counts above).");
        }
    }

    private static double Seconds(IReadOnlyCollection<Arrival> arrivals) =>
        arrivals.Count < 2 ? double.NaN : Stopwatch.GetElapsedTime(arrivals.Min(a => a.At), arrivals.Max(a => a.At)).TotalSeconds;

    private static double Rate(IReadOnlyCollection<Arrival> arrivals) => arrivals.Count / Seconds(arrivals);

    /// <summary>Per mail and per post: its arrival minus the time its question was asked.</summary>
    private static (Samples Email, Samples Slack) Latencies(Receivers receivers, string batch)
    {
        Samples Of(IEnumerable<Arrival> arrivals)
        {
            var samples = new Samples();
            foreach (var a in arrivals)
            {
                if (receivers.Asked.TryGetValue(a.Token, out var t0))
                {
                    samples.Add(Stopwatch.GetElapsedTime(t0, a.At).TotalMilliseconds);
                }
            }

            return samples;
        }

        return (Of(receivers.Email.Of(batch)), Of(receivers.Slack.Of(batch)));
    }

    private static async Task CreateRuleAsync(BenchServer server)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, BenchServer.Api("notification-rules"))
        {
            Content = BenchServer.Json(new
            {
                name = "questions to the on-call people",
                events = new[] { "clarification.asked" },
                channels = new object[]
                {
                    new { type = "email", to = Enumerable.Range(1, EmailsPerQuestion).Select(i => $"oncall{i}@bench.example").ToArray() },
                    new { type = "slack", channel = "#bench-questions" },
                },
            }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.OwnerToken);
        using var created = await server.Http.SendAsync(request);
        await BenchServer.ExpectAsync(created, HttpStatusCode.Created);
    }

    /// <summary>
    /// One question as an agent asks it: a task, its checkout, the question with <paramref name="token"/> as its
    /// correlation id and in its text. The time just before the asking POST is kept in <paramref name="asked"/>.
    /// </summary>
    private static async Task AskAsync(BenchServer server, AgentApi api, string token, ConcurrentDictionary<string, long>? asked = null)
    {
        const string queue = "questions";
        await api.CreateTaskAsync(queue, "ask " + token);
        var lease = await api.CheckoutAsync("asker", queue, 5) ?? throw new InvalidOperationException("The asker found no task to check out.");
        using var request = new HttpRequestMessage(HttpMethod.Post, BenchServer.Api($"tasks/{lease.Id}/clarifications"))
        {
            Content = BenchServer.Json(new { leaseToken = lease.LeaseToken, question = $"Deploy {token} to production?", options = new[] { "yes", "no" } }),
        };
        request.Headers.Add(CorrelationId.Header, token);
        var t0 = Stopwatch.GetTimestamp();
        using var response = await server.Http.SendAsync(request);
        await BenchServer.ExpectAsync(response, HttpStatusCode.Created);
        asked?.TryAdd(token, t0);
    }

    /// <summary>Starts <paramref name="ask"/>(1, 2, …) at <paramref name="perSecond"/>, open loop, until <paramref name="max"/> or cancelled.</summary>
    private static async Task<int> PaceAsync(double perSecond, int max, CancellationToken stop, Func<int, Task> ask)
    {
        var inFlight = new List<Task>();
        var start = Stopwatch.GetTimestamp();
        for (var n = 0; n < max && !stop.IsCancellationRequested; n++)
        {
            var due = TimeSpan.FromSeconds(n / perSecond) - Stopwatch.GetElapsedTime(start);
            if (due > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(due, stop);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            inFlight.Add(ask(n + 1));
        }

        await Task.WhenAll(inFlight);
        return inFlight.Count;
    }

    private static async Task<(double Rate, double P50, double P99, long Tasks)> CreateForAsync(AgentApi api, TimeSpan duration)
    {
        var samples = new Samples();
        long tasks = 0;
        var stop = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, Creators).Select(c => Task.Run(async () =>
        {
            var n = 0;
            while (Stopwatch.GetTimestamp() < stop)
            {
                var t0 = Stopwatch.GetTimestamp();
                await api.CreateTaskAsync("plain", $"plain {c}-{n++}");
                samples.AddSince(t0);
                Interlocked.Increment(ref tasks);
            }
        })));
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        return (tasks / seconds, samples.Percentile(50), samples.Percentile(99), tasks);
    }

    /// <summary>One message at a receiver: the question's token and when it arrived (a Stopwatch timestamp).</summary>
    public readonly record struct Arrival(string Token, long At);

    /// <summary>Arrivals at one receiver, counted by batch (the token up to its last '-').</summary>
    public sealed class Arrivals
    {
        private readonly ConcurrentQueue<Arrival> _all = new();
        private readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);

        public void Add(string token, long at)
        {
            _all.Enqueue(new Arrival(token, at));
            var dash = token.LastIndexOf('-');
            _counts.AddOrUpdate(dash > 0 ? token[..dash] : token, 1, (_, n) => n + 1);
        }

        public int Count(string batch) => _counts.GetValueOrDefault(batch);

        public List<Arrival> Of(string batch) => [.. _all.Where(a => a.Token.StartsWith(batch + "-", StringComparison.Ordinal))];
    }

    /// <summary>The SMTP server and the Slack stand-in, shared by the backends' runs (each run has its own tokens).</summary>
    public sealed class Receivers : IAsyncDisposable
    {
        private SmtpSink? _smtp;
        private SlackStandIn? _slack;

        private Receivers()
        {
        }

        public Arrivals Email { get; } = new();

        public Arrivals Slack { get; } = new();

        /// <summary>When each question was asked (Stopwatch timestamp just before its POST), by token.</summary>
        public ConcurrentDictionary<string, long> Asked { get; } = new(StringComparer.Ordinal);

        public int SmtpPort => _smtp!.Port;

        public string SlackApiBaseUrl => _slack!.ApiBaseUrl;

        public static async Task<Receivers> StartAsync()
        {
            if (Stopwatch.Frequency != 1_000_000_000)
            {
                throw new InvalidOperationException("The notification benchmark reads the SMTP server's CLOCK_MONOTONIC times against Stopwatch: it runs on Linux only.");
            }

            var receivers = new Receivers();
            receivers._smtp = await SmtpSink.StartAsync(receivers.Email);
            receivers._slack = await SlackStandIn.StartAsync(receivers.Slack);
            return receivers;
        }

        /// <summary>
        /// Waits until <paramref name="mails"/> mails and <paramref name="posts"/> Slack posts of <paramref name="batch"/> have
        /// arrived (at most 10 minutes without progress), then 1 s more to catch any extra; true when the counts are exact.
        /// </summary>
        public async Task<bool> WaitForAsync(string batch, int mails, int posts)
        {
            var seen = -1;
            var lastProgress = Stopwatch.GetTimestamp();
            while (Email.Count(batch) < mails || Slack.Count(batch) < posts)
            {
                var now = Email.Count(batch) + Slack.Count(batch);
                if (now != seen)
                {
                    seen = now;
                    lastProgress = Stopwatch.GetTimestamp();
                }
                else if (Stopwatch.GetElapsedTime(lastProgress) > TimeSpan.FromMinutes(10))
                {
                    break;
                }

                await Task.Delay(50);
            }

            await Task.Delay(1000);
            return Email.Count(batch) == mails && Slack.Count(batch) == posts;
        }

        public async ValueTask DisposeAsync()
        {
            if (_slack is not null)
            {
                await _slack.DisposeAsync();
            }

            if (_smtp is not null)
            {
                await _smtp.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// bench/smtp/smtp_sink.py under Debian's /usr/bin/python3 with aiosmtpd: STARTTLS (a self-signed certificate made
    /// here) and AUTH required; one line per accepted message, "&lt;CLOCK_MONOTONIC ns&gt; &lt;correlation id&gt;".
    /// </summary>
    private sealed class SmtpSink : IAsyncDisposable
    {
        public const string User = "bench-mailer";
        public const string Password = "bench-smtp-pass";
        private const string Python = "/usr/bin/python3";
        private readonly Process _process;
        private readonly Task _reader;

        private SmtpSink(Process process, int port, Arrivals arrivals)
        {
            _process = process;
            Port = port;
            _reader = Task.Run(async () =>
            {
                while (await process.StandardOutput.ReadLineAsync() is { } line)
                {
                    var space = line.IndexOf(' ', StringComparison.Ordinal);
                    if (space > 0 && long.TryParse(line.AsSpan(0, space), NumberStyles.None, CultureInfo.InvariantCulture, out var at))
                    {
                        arrivals.Add(line[(space + 1)..], at);
                    }
                }
            });
        }

        public int Port { get; }

        public static async Task<SmtpSink> StartAsync(Arrivals arrivals)
        {
            using var check = File.Exists(Python) ? Process.Start(new ProcessStartInfo(Python, ["-c", "import aiosmtpd"]) { RedirectStandardError = true }) : null;
            if (check is null || !check.WaitForExit(TimeSpan.FromSeconds(30)) || check.ExitCode != 0)
            {
                throw new InvalidOperationException(
                    $"The notification benchmark needs {Python} with aiosmtpd: install Debian's python3-aiosmtpd (bench/run.sh does).");
            }

            var dir = Path.Combine(Path.GetTempPath(), "clarity-bench", "smtp-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            var (cert, key) = WriteCertificate(dir);
            var start = new ProcessStartInfo(Python)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in new[] { ScriptPath(), cert, key, User, Password })
            {
                start.ArgumentList.Add(argument);
            }

            var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
            var errors = new System.Text.StringBuilder();
            process.ErrorDataReceived += (_, e) =>
            {
                lock (errors)
                {
                    errors.AppendLine(e.Data);
                }
            };
            process.BeginErrorReadLine();
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            if (line is null)
            {
                await process.WaitForExitAsync();
                lock (errors)
                {
                    throw new InvalidOperationException("The SMTP server exited before it listened: " + errors);
                }
            }

            return new SmtpSink(process, JsonDocument.Parse(line).RootElement.GetProperty("port").GetInt32(), arrivals);
        }

        private static (string Cert, string Key) WriteCertificate(string dir)
        {
            using var rsa = RSA.Create(2048);
            var request = new CertificateRequest("CN=localhost", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("localhost");
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
            var cert = Path.Combine(dir, "cert.pem");
            var key = Path.Combine(dir, "key.pem");
            File.WriteAllText(cert, certificate.ExportCertificatePem());
            File.WriteAllText(key, rsa.ExportPkcs8PrivateKeyPem());
            return (cert, key);
        }

        private static string ScriptPath()
        {
            foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            {
                for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                {
                    var candidate = Path.Combine(dir.FullName, "bench", "smtp", "smtp_sink.py");
                    if (File.Exists(candidate))
                    {
                        return candidate;
                    }
                }
            }

            throw new InvalidOperationException("Could not find bench/smtp/smtp_sink.py above the current directory or " + AppContext.BaseDirectory);
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                _process.StandardInput.Close();
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _process.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _reader;
            _process.Dispose();
        }
    }

    /// <summary>
    /// A Slack Web API stand-in on loopback (Kestrel in this process): <c>chat.postMessage</c> answers
    /// <c>{ok: true, channel, ts}</c> and records the arrival of the question's token found in the message's text; any
    /// other method answers <c>{ok: true}</c>.
    /// </summary>
    private sealed partial class SlackStandIn : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private SlackStandIn(WebApplication app) => _app = app;

        public string ApiBaseUrl => _app.Urls.First().TrimEnd('/') + "/api/";

        public static async Task<SlackStandIn> StartAsync(Arrivals arrivals)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrelCore().UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            long ts = 0;
            app.MapPost("/api/{method}", async (string method, HttpContext http) =>
            {
                using var body = await JsonDocument.ParseAsync(http.Request.Body);
                var at = Stopwatch.GetTimestamp();
                if (method != "chat.postMessage")
                {
                    return Results.Json(new { ok = true });
                }

                var text = body.RootElement.TryGetProperty("text", out var t) ? t.GetString() ?? "" : "";
                if (TokenPattern().Match(text) is { Success: true } token)
                {
                    arrivals.Add(token.Value, at);
                }

                var n = Interlocked.Increment(ref ts);
                return Results.Json(new { ok = true, channel = "C0BENCH0001", ts = $"{1_700_000_000 + (n / 1_000_000)}.{n % 1_000_000:D6}" });
            });
            await app.StartAsync();
            return new SlackStandIn(app);
        }

        [GeneratedRegex(@"nb[0-9a-f]{6}[a-z]-[0-9]+")]
        private static partial Regex TokenPattern();

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
