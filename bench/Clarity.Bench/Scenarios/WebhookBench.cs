using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Clarity.Bench.Harness;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Clarity.Bench.Scenarios;

/// <summary>
/// #11: webhook deliveries per second to a loopback receiver, and the request path beside them. 8 endpoints on one
/// receiver (a minimal Kestrel app in this process that answers 204) are subscribed to <c>task.created</c> on queue
/// <c>hooks</c>; every such task fans out to 8 signed deliveries. Five phases, one server:
/// <list type="number">
/// <item>the request path alone: 16 clients create tasks on an unsubscribed queue as fast as they can;</item>
/// <item>flood: the 16 clients create subscribed tasks as fast as they can; deliveries/s is counted from the first
/// delivery received to the last (all of them, after the creators stop);</item>
/// <item>deliveries alone: the paced producer of phase 4 alone, for the server's CPU per delivery (with
/// <c>--server-process</c>, the server's own CPU time, less what its paced creations cost at phase 1's rate);</item>
/// <item>steady: a paced producer creates subscribed tasks for 1,000 deliveries/s while the 16 clients again create
/// on the unsubscribed queue; their creations/s and p50/p99 beside phase 1 is "the request path keeps its speed", and
/// the deliveries received in the window show the rate was held;</item>
/// <item>alternating: the same closed loop in slices, alone then beside the paced deliveries, three rounds, so that drift
/// within the run hits both sides alike; its ratio is the one held to "the request path keeps its speed" (≥ 90 %), and the
/// floor below is set against its "alone";</item>
/// <item>paced: the request path open loop at a quarter of phase 1's rate, alone and beside 1,000 deliveries/s in
/// alternating slices: how much longer a request takes with the deliveries beside it when the server is not saturated.</item>
/// <item>the floor: phase 4 again with a bare sender in this process in Clarity's place. It posts a copy of a real
/// delivery, signed per Standard Webhooks, 1,000 times a second to the same receiver, with no database, outbox or
/// delivery log, while the 16 clients create on the unsubscribed queue and the same 125 creations/s as phase 4's
/// producer go to that queue too. What the clients keep there is the most any server could keep on this machine while
/// 1,000 deliveries/s leave it in this shape; a second window leaves the 125 creations/s out (events for free). The
/// machine's CPU per bare delivery is measured alone first.</item>
/// </list>
/// </summary>
public static class WebhookBench
{
    public const string Name = "11. Webhook deliveries to a loopback receiver (8 endpoints)";
    private const int Endpoints = 8;
    private const int Creators = 16;
    private const int SteadyDeliveriesPerSecond = 1000;

    /// <summary>The server may deliver to loopback (the receiver).</summary>
    public static readonly Dictionary<string, string?> Settings = new()
    {
        ["Clarity:Webhooks:AllowPrivateNetworks"] = "true",
    };

    public static async Task RunAsync(BenchServer server, BenchOptions options, Report report)
    {
        var b = server.Backend;
        var api = new AgentApi(server.Http);

        // The request path alone first, in the same server, after a warm-up (a cold server would make "alone" look slow).
        await CreateForAsync(api, "no-hooks", options.Warmup);
        var alone = new CpuMeter(server);
        var (baseRate, baseP50, baseP99, baseTasks) = await CreateCountingAsync(api, "no-hooks", options.Duration);
        alone.Stop();
        var cpuPerCreate = alone.ServerCpuMs / baseTasks;
        var postgresPerCreate = alone.PostgresCpuMs / baseTasks;
        report.Add(Name, b, "task creations/s, no webhooks", baseRate, "/s",
            notes: $"{Creators} clients; {Describe(alone)}{(cpuPerCreate is { } ms ? $"; server CPU {ms:F3} ms per create" : "")}");
        report.Add(Name, b, "create p50 / p99, no webhooks", baseP50, "ms", notes: $"p99 {baseP99:F1} ms");

        await using var receiver = await Receiver.StartAsync();
        for (var i = 0; i < Endpoints; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, BenchServer.Api("webhooks"))
            {
                Content = BenchServer.Json(new { url = $"http://127.0.0.1:{receiver.Port}/hook/{i}", events = new[] { "task.created" }, filters = new { queues = new[] { "hooks" } } }),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.OwnerToken);
            using var created = await server.Http.SendAsync(request);
            await BenchServer.ExpectAsync(created, HttpStatusCode.Created);
        }

        var flood = new CpuMeter(server);
        var (rate, p50, p99, tasks) = await CreateCountingAsync(api, "hooks", options.Duration);
        var expected = tasks * Endpoints;
        await receiver.WaitForAsync(expected);
        flood.Stop();
        var delivered = receiver.Count;
        var seconds = Stopwatch.GetElapsedTime(receiver.First, receiver.Last).TotalSeconds;
        var perSecond = delivered / Math.Max(seconds, 0.001);
        report.Add(Name, b, "deliveries/s", perSecond, "/s", "≥ 1,000/s", perSecond >= 1000,
            $"flood: {delivered:N0} of {expected:N0} delivered in {seconds:F1} s (first to last); {Describe(flood)}");
        report.Add(Name, b, "task creations/s, flood of subscribed tasks", rate, "/s", notes: $"{Creators} clients; each creation fans out to {Endpoints} deliveries");
        report.Add(Name, b, "create p50 / p99, flood of subscribed tasks", p50, "ms", notes: $"p99 {p99:F1} ms");

        // Deliveries alone at the steady rate: what they cost the server (known only with --server-process), without the creators beside them.
        var quiet = receiver.Count;
        var deliveriesOnly = new CpuMeter(server);
        using (var stopQuiet = new CancellationTokenSource(options.Duration / 2))
        {
            var quietTasks = await PaceAsync(api, "hooks", SteadyDeliveriesPerSecond / (double)Endpoints, stopQuiet.Token);
            await receiver.WaitForAsync(quiet + quietTasks * Endpoints);
            deliveriesOnly.Stop();
            var quietDeliveries = receiver.Count - quiet;
            if (deliveriesOnly.ServerCpuMs is { } serverMs && cpuPerCreate is { } perCreate)
            {
                report.Add(Name, b, "server CPU per delivery, 1,000 deliveries/s alone", (serverMs - (quietTasks * perCreate)) / quietDeliveries, "ms",
                    notes: $"{quietDeliveries:N0} deliveries of {quietTasks:N0} paced tasks; their creations taken out at {perCreate:F3} ms each; {Describe(deliveriesOnly)}");
            }

            if (deliveriesOnly.PostgresCpuMs is { } postgresMs && postgresPerCreate is { } postgresCreate)
            {
                report.Add(Name, b, "PostgreSQL CPU per delivery, 1,000 deliveries/s alone", (postgresMs - (quietTasks * postgresCreate)) / quietDeliveries, "ms",
                    notes: $"every process of the local PostgreSQL server; the paced creations taken out at {postgresCreate:F3} ms each, phase 1's cost");
            }
        }

        // Steady: deliveries held at a fixed rate while the request path runs as in phase 1.
        var before = receiver.Count;
        var steady = new CpuMeter(server);
        using var stopPacing = new CancellationTokenSource();
        var paced = PaceAsync(api, "hooks", SteadyDeliveriesPerSecond / (double)Endpoints, stopPacing.Token);
        var windowStart = Stopwatch.GetTimestamp();
        var (steadyRate, steadyP50, steadyP99) = await CreateForAsync(api, "no-hooks", options.Duration);
        var window = Stopwatch.GetElapsedTime(windowStart).TotalSeconds;
        steady.Stop();
        var inWindow = (receiver.Count - before) / window;
        await stopPacing.CancelAsync();
        var pacedTasks = await paced;
        await receiver.WaitForAsync(before + pacedTasks * Endpoints);
        var kept = steadyRate / baseRate;
        report.Add(Name, b, "deliveries/s held beside the request path", inWindow, "/s", $"≥ 95 % of {SteadyDeliveriesPerSecond:N0}/s asked",
            inWindow >= 0.95 * SteadyDeliveriesPerSecond, notes: $"{pacedTasks:N0} subscribed tasks paced over {window:F1} s; all {pacedTasks * Endpoints:N0} deliveries arrived");
        report.Add(Name, b, "task creations/s beside 1,000 deliveries/s", steadyRate, "/s",
            notes: $"{kept:P0} of the same clients alone in the first window ({baseRate:F0}/s), which ran minutes earlier (the alternating slices below are the fair comparison); {Describe(steady)}");
        report.Add(Name, b, "create p50 / p99 beside 1,000 deliveries/s", steadyP50, "ms",
            notes: $"p99 {steadyP99:F1} ms (alone: p50 {baseP50:F1} ms, p99 {baseP99:F1} ms)");

        // The same closed loop, alone and beside the deliveries in alternating slices: "alone" drifts within a run (the
        // server's JIT, the database's size; run 31 saw the clients 41 % faster at the end than in the first window), so
        // each side is measured in the same stretch of time as the other.
        var (sliceAlone, sliceBeside) = await AlternatingAsync(api, receiver, options.Duration / 4, rounds: 3);
        var keptAlternating = sliceBeside / sliceAlone;
        report.Add(Name, b, "task creations/s beside 1,000 deliveries/s, alternating with alone", sliceBeside, "/s", "≥ 90 % of alone", keptAlternating >= 0.9,
            notes: $"{keptAlternating:P0} of the same clients alone in the slices between ({sliceAlone:F0}/s); 3 rounds of {(options.Duration / 4).TotalSeconds:F1} s alone then beside, the deliveries drained between slices");

        // The floor: the same window with a bare sender in Clarity's place.
        await FloorAsync(server, api, receiver, sliceAlone, report, options);

        // Paced: the request path at a quarter of what phase 1 could do, open loop, as a busy production server sees it,
        // alone and beside 1,000 deliveries/s in alternating slices, so that drift in the machine hits both alike. The
        // closed loop above cannot keep its rate beside the deliveries on a saturated machine (their CPU has to come
        // from somewhere); this asks whether a request takes longer when the deliveries run beside it.
        var requestRate = Math.Max(1, Math.Round(baseRate / 4));
        var pacedAlone = new Samples();
        var pacedBeside = new Samples();
        var slice = options.Duration / 4;
        for (var round = 0; round < 2; round++)
        {
            using (var stopAlone = new CancellationTokenSource(slice))
            {
                await PaceAsync(api, "no-hooks", requestRate, stopAlone.Token, pacedAlone);
            }

            var delivered0 = receiver.Count;
            using var stopDeliveries = new CancellationTokenSource();
            var deliveries = PaceAsync(api, "hooks", SteadyDeliveriesPerSecond / (double)Endpoints, stopDeliveries.Token);
            using (var stopBeside = new CancellationTokenSource(slice))
            {
                await PaceAsync(api, "no-hooks", requestRate, stopBeside.Token, pacedBeside);
            }

            await stopDeliveries.CancelAsync();
            await receiver.WaitForAsync(delivered0 + (await deliveries * Endpoints));
        }

        var (aloneP50, besideP50) = (pacedAlone.Percentile(50), pacedBeside.Percentile(50));
        report.Add(Name, b, $"create p50 at a paced {requestRate:F0}/s beside 1,000 deliveries/s", besideP50, "ms", "≤ 110 % of alone",
            besideP50 <= 1.1 * aloneP50,
            notes: $"{besideP50 / aloneP50:P0} of alone (p50 {aloneP50:F2} ms); p99 {pacedBeside.Percentile(99):F1} ms beside, {pacedAlone.Percentile(99):F1} ms alone; "
                + $"{pacedBeside.Count:N0} and {pacedAlone.Count:N0} creations, a quarter of phase 1's rate, alone and beside alternating");
    }

    /// <summary>
    /// The closed-loop request path alone and beside 1,000 deliveries/s in alternating slices: creations/s of each side
    /// over all its slices. Before each "alone" slice the deliveries of the last "beside" one have all arrived.
    /// </summary>
    private static async Task<(double Alone, double Beside)> AlternatingAsync(AgentApi api, Receiver receiver, TimeSpan slice, int rounds)
    {
        double aloneTasks = 0, aloneSeconds = 0, besideTasks = 0, besideSeconds = 0;
        for (var round = 0; round < rounds; round++)
        {
            var (aloneRate, _, _, aloneCount) = await CreateCountingAsync(api, "no-hooks", slice);
            aloneTasks += aloneCount;
            aloneSeconds += aloneCount / aloneRate;

            var delivered0 = receiver.Count;
            using var stopDeliveries = new CancellationTokenSource();
            var deliveries = PaceAsync(api, "hooks", SteadyDeliveriesPerSecond / (double)Endpoints, stopDeliveries.Token);
            var (besideRate, _, _, besideCount) = await CreateCountingAsync(api, "no-hooks", slice);
            besideTasks += besideCount;
            besideSeconds += besideCount / besideRate;
            await stopDeliveries.CancelAsync();
            await receiver.WaitForAsync(delivered0 + (await deliveries * Endpoints));
        }

        return (aloneTasks / aloneSeconds, besideTasks / besideSeconds);
    }

    /// <summary>
    /// Phase 6: the closed-loop request path of phase 4 beside a bare sender instead of Clarity's deliveries; see the
    /// class summary. Reported beside phase 4's figure, so the gap between the two is what Clarity's deliveries cost
    /// beyond the sending itself (the outbox, the delivery log, the endpoint's bookkeeping).
    /// </summary>
    private static async Task FloorAsync(BenchServer server, AgentApi api, Receiver receiver, double baseRate, Report report, BenchOptions options)
    {
        var b = server.Backend;
        var body = receiver.SampleBody ?? throw new InvalidOperationException("The receiver has not seen a delivery to copy.");
        using var sender = new BareSender(receiver.Port, body);

        var before = receiver.Count;
        var alone = new CpuMeter(server);
        using (var stopAlone = new CancellationTokenSource(options.Duration / 2))
        {
            await sender.PaceAsync(SteadyDeliveriesPerSecond, stopAlone.Token);
        }

        alone.Stop();
        var sentAlone = receiver.Count - before;
        report.Add(Name, b, "floor: machine CPU per bare delivery", alone.MachineCpuMs / Math.Max(1, sentAlone), "ms",
            notes: $"{sentAlone:N0} bare deliveries ({body.Length:N0}-byte body, HMAC-SHA256 signed, one POST each) at {SteadyDeliveriesPerSecond:N0}/s "
                + $"from this process to the receiver, nothing else running; {Describe(alone)}");

        // With the creations that cause the deliveries (this scenario's shape: 8 endpoints per event), then without them
        // (as if the events cost nothing, the least any shape could cost).
        foreach (var producers in new[] { true, false })
        {
            before = receiver.Count;
            var beside = new CpuMeter(server);
            using var stopSending = new CancellationTokenSource();
            using var stopProducing = new CancellationTokenSource();
            var sending = sender.PaceAsync(SteadyDeliveriesPerSecond, stopSending.Token);
            var producing = producers ? PaceAsync(api, "no-hooks", SteadyDeliveriesPerSecond / (double)Endpoints, stopProducing.Token) : Task.FromResult(0L);
            var windowStart = Stopwatch.GetTimestamp();
            var (rate, p50, p99) = await CreateForAsync(api, "no-hooks", options.Duration);
            var window = Stopwatch.GetElapsedTime(windowStart).TotalSeconds;
            beside.Stop();
            var sentRate = (receiver.Count - before) / window;
            await stopSending.CancelAsync();
            await stopProducing.CancelAsync();
            await sending;
            await producing;
            report.Add(Name, b, producers
                    ? "floor: task creations/s beside a bare sender at 1,000 deliveries/s and their 125 creations/s"
                    : "floor: task creations/s beside a bare sender at 1,000 deliveries/s, no creations behind them", rate, "/s",
                notes: $"{rate / baseRate:P0} of the same clients alone in the alternating slices ({baseRate:F0}/s)"
                    + (producers
                        ? ": the most any server keeps in this scenario's shape (compare \"task creations/s beside 1,000 deliveries/s\")"
                        : ": what the sending alone leaves, with events that cost nothing to make")
                    + $"; p50 {p50:F1} / p99 {p99:F1} ms; {sentRate:F0} bare deliveries/s received in the window"
                    + (producers ? $", plus {SteadyDeliveriesPerSecond / Endpoints} paced creations/s on the clients' queue" : "") + $"; {Describe(beside)}");
        }

        // The clients alone again after the floor windows: how far the machine and the database drifted meanwhile.
        var again = new CpuMeter(server);
        var (againRate, againP50, againP99) = await CreateForAsync(api, "no-hooks", options.Duration);
        again.Stop();
        report.Add(Name, b, "floor: task creations/s alone again, after the floor windows", againRate, "/s",
            notes: $"{againRate / baseRate:P0} of \"alone\" in the alternating slices ({baseRate:F0}/s); p50 {againP50:F1} / p99 {againP99:F1} ms; {Describe(again)}");
    }

    /// <summary>
    /// The least a sender can do per delivery: one POST of a fixed body with fresh Standard Webhooks headers (an id, the
    /// time, an HMAC-SHA256 signature over both and the body), round-robin over the receiver's 8 endpoint paths on a
    /// pooled client. No database, no queue, no log.
    /// </summary>
    private sealed class BareSender(int port, byte[] body) : IDisposable
    {
        private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) });
        private readonly byte[] _key = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        private readonly Uri[] _urls = Enumerable.Range(0, Endpoints).Select(i => new Uri($"http://127.0.0.1:{port}/hook/{i}")).ToArray();

        public Task PaceAsync(double perSecond, CancellationToken stop) => PaceOpenLoopAsync(perSecond, stop, SendAsync);

        private async Task SendAsync(int n)
        {
            var id = $"msg_{Guid.CreateVersion7():N}";
            var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
            var prefix = System.Text.Encoding.UTF8.GetBytes($"{id}.{timestamp}.");
            var signed = new byte[prefix.Length + body.Length];
            prefix.CopyTo(signed, 0);
            body.CopyTo(signed, prefix.Length);
            var signature = Convert.ToBase64String(System.Security.Cryptography.HMACSHA256.HashData(_key, signed));
            using var request = new HttpRequestMessage(HttpMethod.Post, _urls[n % _urls.Length]) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.Add("webhook-id", id);
            request.Headers.Add("webhook-timestamp", timestamp);
            request.Headers.Add("webhook-signature", $"v1,{signature}");
            using var response = await _http.SendAsync(request);
            response.EnsureSuccessStatusCode();
        }

        public void Dispose() => _http.Dispose();
    }

    /// <summary>
    /// Creates tasks on <paramref name="queue"/> at <paramref name="perSecond"/> until cancelled, open loop: each creation
    /// starts on its own schedule without waiting for the previous answer, as independent producers would. Adds each
    /// creation's latency to <paramref name="latencies"/> when given.
    /// </summary>
    private static Task<long> PaceAsync(AgentApi api, string queue, double perSecond, CancellationToken stop, Samples? latencies = null) =>
        PaceOpenLoopAsync(perSecond, stop, n => latencies is null
            ? api.CreateTaskAsync(queue, $"paced {n}")
            : TimedAsync(() => api.CreateTaskAsync(queue, $"paced {n}"), latencies));

    /// <summary>
    /// Starts <paramref name="send"/>(n) at <paramref name="perSecond"/> until cancelled, each on its own schedule without
    /// waiting for earlier ones to answer; then waits for all of them and returns how many were started.
    /// </summary>
    private static async Task<long> PaceOpenLoopAsync(double perSecond, CancellationToken stop, Func<int, Task> send)
    {
        var inFlight = new List<Task>();
        var start = Stopwatch.GetTimestamp();
        var n = 0;
        for (; !stop.IsCancellationRequested; n++)
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

            inFlight.Add(send(n));
            if (inFlight.Count >= 4096)
            {
                // Keeps the list short on long runs; a finished task's failure still surfaces: it is awaited here first.
                foreach (var done in inFlight.Where(t => t.IsCompleted))
                {
                    await done;
                }

                inFlight.RemoveAll(t => t.IsCompleted);
            }
        }

        await Task.WhenAll(inFlight);
        return n;
    }

    private static async Task TimedAsync(Func<Task> request, Samples latencies)
    {
        var t0 = Stopwatch.GetTimestamp();
        await request();
        latencies.AddSince(t0);
    }

    /// <summary>How busy the machine was over a stopped meter, and the server with --server-process.</summary>
    private static string Describe(CpuMeter cpu) =>
        $"machine {cpu.MachinePercent:F0} % busy"
        + (cpu.ServerCpuMs is { } serverMs ? $", server {serverMs / cpu.Seconds / 10:F0} % of one core" : "")
        + (cpu.PostgresCpuMs is { } postgresMs ? $", PostgreSQL {postgresMs / cpu.Seconds / 10:F0} % of one core" : "");

    private static async Task<(double Rate, double P50, double P99)> CreateForAsync(AgentApi api, string queue, TimeSpan duration)
    {
        var (rate, p50, p99, _) = await CreateCountingAsync(api, queue, duration);
        return (rate, p50, p99);
    }

    private static async Task<(double Rate, double P50, double P99, long Tasks)> CreateCountingAsync(AgentApi api, string queue, TimeSpan duration)
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
                await api.CreateTaskAsync(queue, $"hook {c}-{n++}");
                samples.AddSince(t0);
                Interlocked.Increment(ref tasks);
            }
        })));
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        return (tasks / seconds, samples.Percentile(50), samples.Percentile(99), tasks);
    }

    /// <summary>A minimal Kestrel app on loopback that answers every POST with 204 and counts them.</summary>
    private sealed class Receiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private long _count;
        private long _first;
        private long _last;

        private Receiver(WebApplication app) => _app = app;

        public int Port { get; private set; }

        public long Count => Interlocked.Read(ref _count);

        /// <summary>The body of the first delivery received (the floor sender sends copies of it).</summary>
        public byte[]? SampleBody { get; private set; }

        public long First => Interlocked.Read(ref _first);

        public long Last => Interlocked.Read(ref _last);

        /// <summary>Waits until <paramref name="count"/> deliveries have arrived, at most 10 minutes.</summary>
        public async Task WaitForAsync(long count)
        {
            var deadline = Stopwatch.GetTimestamp() + (Stopwatch.Frequency * 600);
            while (Count < count && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(50);
            }
        }

        public static async Task<Receiver> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrelCore().UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var receiver = new Receiver(app);
            app.MapPost("/hook/{n}", async (HttpContext http) =>
            {
                if (receiver.SampleBody is null)
                {
                    using var copy = new MemoryStream();
                    await http.Request.Body.CopyToAsync(copy);
                    receiver.SampleBody = copy.ToArray();
                }

                await http.Request.Body.CopyToAsync(Stream.Null);
                var now = Stopwatch.GetTimestamp();
                Interlocked.CompareExchange(ref receiver._first, now, 0);
                Interlocked.Exchange(ref receiver._last, now);
                Interlocked.Increment(ref receiver._count);
                return Results.NoContent();
            });
            await app.StartAsync();
            receiver.Port = new Uri(app.Urls.First()).Port;
            return receiver;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
