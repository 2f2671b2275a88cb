using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Hosting;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Webhooks;

/// <summary>
/// Sends due deliveries, on the leader, never on a request's path. Each endpoint has at most
/// <c>Webhooks:MaxConcurrencyPerEndpoint</c> requests in flight, so a slow or dead receiver holds only its own slots
/// while the others keep flowing; a slot is free again once the receiver answers, while the outcome waits for the
/// recorder's next batch. A pass reads due deliveries in two queries however many endpoints there are. Every attempt is signed afresh (Standard Webhooks; the <c>webhook-id</c> stays the
/// same), times out after <c>Webhooks:TimeoutSeconds</c>, follows no redirect, and is recorded in the delivery log. A
/// failed attempt is retried after the next wait of <c>Webhooks:RetrySchedule</c> (±20 % jitter) until the schedule
/// runs out; after <c>Webhooks:DisableAfterFailures</c> failed attempts in a row the endpoint is disabled and
/// <c>webhook.disabled</c> raised. A delivery in flight when the leader stops is still pending, and is sent again.
/// </summary>
public sealed partial class WebhookSender(
    WebhookStore store, Changes changes, WebhookSecretProtector secrets, IHttpClientFactory http, IOptions<ClarityOptions> options, TimeProvider clock,
    Leadership leadership, ILogger<WebhookSender> logger)
    : BackgroundLoop(leadership, logger)
{
    public const string HttpClientName = "clarity-webhooks";
    private const int ExcerptBytes = 1024;

    private readonly ConcurrentDictionary<Guid, byte> _inFlight = new();
    // Per endpoint: attempts whose request is in flight (at most Webhooks:MaxConcurrencyPerEndpoint), and deliveries
    // held here, sent or being sent, until their outcome is recorded (_total counts these over all endpoints).
    private readonly ConcurrentDictionary<Guid, int> _sending = new();
    private readonly ConcurrentDictionary<Guid, int> _held = new();
    private readonly ConcurrentDictionary<Guid, (long UpdatedAt, byte[][] Keys, long? PreviousUntil)> _keys = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Channel<Attempt> _attempts = Channel.CreateUnbounded<Attempt>(new UnboundedChannelOptions { SingleReader = true });

    // Deliveries whose attempt was recorded, and when (Stopwatch ticks): a pass whose read of due deliveries began
    // before that must not send them again (its read may predate the record).
    private readonly ConcurrentDictionary<Guid, long> _recorded = new();

    // The same records in the order they were made (one recorder writes them), so a pass forgets the old ones by looking
    // at the front only: a scan of the whole map per pass cost more than the sending once thousands were recorded a second.
    private readonly ConcurrentQueue<(Guid Id, long At)> _recordedOrder = new();
    private Task? _recorder;
    private int _total;

    // Per endpoint, the due key up to which every pending delivery is taken, held or recorded: a pass reads only past it,
    // so under load it neither reads the held deliveries again nor walks what was sent before (on PostgreSQL the dead
    // entries sent deliveries leave in the index until vacuum, tens of thousands at 1,000 a second). A delivery can still
    // turn up behind it: one let go unrecorded (a failed write), a fan-out that committed after a later read, a replay,
    // an endpoint enabled again. Those make the next pass read from the start (Rescan), and so does one pass a second.
    // The loop's own: only RunOnceAsync touches the floors.
    private readonly Dictionary<Guid, DueKey> _floors = new();
    private long _lastFullRead;
    private int _rescans;
    private int _rescansSeen;
    private static readonly TimeSpan s_fullReadEvery = TimeSpan.FromSeconds(1);

    // The recorder writes at most RecordBatch outcomes at a time, and waits up to s_recordLinger for a batch to gather.
    private const int RecordBatch = 500;
    private static readonly TimeSpan s_recordLinger = TimeSpan.FromMilliseconds(20);

    private sealed record Attempt(DeliveryRow Delivery, AttemptOutcome Outcome, long Now, long? RetryAt);

    private WebhookOptions Settings => options.Value.Webhooks;

    protected override string Name => "webhook sender";

    protected override TimeSpan Interval => TimeSpan.FromMilliseconds(Settings.PollMilliseconds);

    // Under load a slot frees after every answer, and each wakes the loop: a pass at least 5 ms after the last takes every
    // slot freed meanwhile, so 1,000 deliveries a second cost at most 200 passes, not one per answer.
    protected override TimeSpan Pacing => TimeSpan.FromMilliseconds(5);

    /// <summary>Deliveries in flight now (metrics, tests).</summary>
    public int InFlight => Volatile.Read(ref _total);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        _recorder = Task.Run(() => RecordAsync(_stopping.Token), CancellationToken.None);
        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        _attempts.Writer.TryComplete();
        if (_recorder is not null)
        {
            await _recorder.ContinueWith(_ => { }, TaskScheduler.Default);
        }

        await base.StopAsync(cancellationToken);
    }

    /// <summary>
    /// Writes the outcomes of attempts in batches, one transaction for all that finished meanwhile: a delivery costs a
    /// share of a commit, not a commit of its own.
    /// </summary>
    private async Task RecordAsync(CancellationToken ct)
    {
        var batch = new List<Attempt>();
        try
        {
            while (await _attempts.Reader.WaitToReadAsync(CancellationToken.None))
            {
                batch.Clear();
                Take(batch);

                // Linger a moment unless the batch is full: outcomes arrive one per answer, and a write per handful of
                // them was a commit each on SQLite's one writer, which the requests waited behind. The deliveries stay
                // held meanwhile (never sent twice); only their record waits.
                if (batch.Count < RecordBatch && !_stopping.IsCancellationRequested)
                {
                    await Task.Delay(s_recordLinger, CancellationToken.None);
                    Take(batch);
                }

                try
                {
                    var failures = await store.RecordAttemptsAsync([.. batch.Select(a => (a.Delivery, a.Outcome, a.Now, a.RetryAt))], CancellationToken.None);
                    var recordedAt = Stopwatch.GetTimestamp();
                    for (var i = 0; i < batch.Count; i++)
                    {
                        _recorded[batch[i].Delivery.Id] = recordedAt;
                        _recordedOrder.Enqueue((batch[i].Delivery.Id, recordedAt));
                    }

                    // A success is done here; a failure is logged (and may disable its endpoint) off the recorder's loop.
                    for (var i = 0; i < batch.Count; i++)
                    {
                        if (batch[i].Outcome.Succeeded)
                        {
                            LetGo(batch[i].Delivery);
                        }
                        else
                        {
                            _ = AfterFailureAsync(batch[i], failures[i]);
                        }
                    }
                }
                catch (Exception ex)
                {
                    // Not recorded: the deliveries stay pending and are sent again on a later pass.
                    foreach (var attempt in batch)
                    {
                        Log.SendFailed(logger, ex, attempt.Delivery.Id);
                        LetGoUnrecorded(attempt.Delivery);
                    }
                }
            }
        }
        finally
        {
            // Stopping: what was not recorded stays pending.
            while (_attempts.Reader.TryRead(out var left))
            {
                LetGoUnrecorded(left.Delivery);
            }
        }
    }

    private void Take(List<Attempt> batch)
    {
        while (batch.Count < RecordBatch && _attempts.Reader.TryRead(out var attempt))
        {
            batch.Add(attempt);
        }
    }

    public override void Dispose()
    {
        _stopping.Dispose();
        base.Dispose();
    }

    protected override async Task<bool> RunOnceAsync(CancellationToken ct)
    {
        var passStarted = Stopwatch.GetTimestamp();
        while (_recordedOrder.TryPeek(out var oldest) && Stopwatch.GetElapsedTime(oldest.At, passStarted) > TimeSpan.FromSeconds(30))
        {
            _recordedOrder.TryDequeue(out _);

            // Unless recorded again since (a later attempt), which its own, newer entry in the queue will forget.
            _recorded.TryRemove(KeyValuePair.Create(oldest.Id, oldest.At));
        }

        var rescans = Volatile.Read(ref _rescans);
        if (rescans != _rescansSeen || Stopwatch.GetElapsedTime(_lastFullRead, passStarted) >= s_fullReadEvery)
        {
            _floors.Clear();
            _lastFullRead = passStarted;
            _rescansSeen = rescans;
        }

        // Two queries a pass, however many endpoints: the enabled endpoints, then the due deliveries of those with a free slot.
        var now = DbTime.ToDb(clock.GetUtcNow());
        var endpoints = new Dictionary<Guid, (WebhookRow Row, int Free)>();
        foreach (var endpoint in await store.EnabledAsync(ct))
        {
            var free = Settings.MaxConcurrencyPerEndpoint - _sending.GetValueOrDefault(endpoint.Id);
            if (free > 0)
            {
                endpoints[endpoint.Id] = (endpoint, free);
            }
        }

        if (endpoints.Count == 0 || Settings.MaxConcurrency - Volatile.Read(ref _total) <= 0)
        {
            return false;
        }

        // Each endpoint's oldest due past its floor, as many as it has free slots; without a floor from the start, where
        // those still held here (sent, their outcome not yet recorded) come first.
        var due = await store.DueAsync(
            [.. endpoints.Select(e => _floors.TryGetValue(e.Key, out var floor) ? (e.Key, e.Value.Free, floor) : (e.Key, _held.GetValueOrDefault(e.Key) + e.Value.Free, DueKey.Start))],
            now, ct);
        var keysOf = new Dictionary<Guid, byte[][]?>();
        foreach (var delivery in due)
        {
            if (Settings.MaxConcurrency - Volatile.Read(ref _total) <= 0)
            {
                break;
            }

            var (endpoint, free) = endpoints[delivery.EndpointId];
            if (free <= 0 || RecordedSince(delivery.Id, passStarted))
            {
                continue;
            }

            if (!keysOf.TryGetValue(endpoint.Id, out var keys))
            {
                keysOf[endpoint.Id] = keys = KeysOrNull(endpoint, now);
            }

            if (keys is null || !_inFlight.TryAdd(delivery.Id, 0))
            {
                continue;
            }

            // Its outcome may have been recorded (and the delivery let go) between the first look and taking it: the
            // recorder notes the outcome before it lets go, so a second look after taking it cannot miss that.
            if (RecordedSince(delivery.Id, passStarted))
            {
                _inFlight.TryRemove(delivery.Id, out _);
                continue;
            }

            endpoints[delivery.EndpointId] = (endpoint, free - 1);
            _sending.AddOrUpdate(endpoint.Id, 1, (_, n) => n + 1);
            _held.AddOrUpdate(endpoint.Id, 1, (_, n) => n + 1);
            Interlocked.Increment(ref _total);

            // Started here, not queued to the thread pool: it runs until its request is written, then waits for the answer.
            _ = SendAndRecordAsync(delivery, endpoint.Url, keys);
        }

        AdvanceFloors(due, passStarted);
        return false;
    }

    /// <summary>
    /// Moves each endpoint's floor over the run of its read deliveries, from the oldest, that are held here (taken by this
    /// pass or an earlier one) or recorded since the pass began; the first one that is neither (no free slot was left for
    /// it) stays ahead. One taken and let go unrecorded meanwhile is neither, and its let-go makes the next pass read from
    /// the start anyway.
    /// </summary>
    private void AdvanceFloors(IReadOnlyList<DeliveryRow> due, long passStarted)
    {
        foreach (var ofEndpoint in due.GroupBy(d => d.EndpointId))
        {
            DueKey? floor = null;
            foreach (var delivery in ofEndpoint.OrderBy(DueKey.Of))
            {
                if (!_inFlight.ContainsKey(delivery.Id) && !RecordedSince(delivery.Id, passStarted))
                {
                    break;
                }

                floor = DueKey.Of(delivery);
            }

            if (floor is { } advanced)
            {
                _floors[ofEndpoint.Key] = advanced;
            }
        }
    }

    /// <summary>
    /// The next pass reads every endpoint's due deliveries from the start: a delivery may be due behind a floor (a replay,
    /// an endpoint enabled again). Wakes the sender.
    /// </summary>
    public void Rescan()
    {
        Interlocked.Increment(ref _rescans);
        Wake();
    }

    /// <summary>The endpoint's signing keys, or null (logged) when this node's key ring cannot decrypt its secret.</summary>
    private byte[][]? KeysOrNull(WebhookRow endpoint, long now)
    {
        try
        {
            return KeysOf(endpoint, now);
        }
        catch (System.Security.Cryptography.CryptographicException ex)
        {
            // Another key ring (a node that does not share this one): its deliveries wait, unsigned ones are never sent.
            Log.SecretUnreadable(logger, ex, endpoint.Id);
            return null;
        }
    }

    /// <summary>The endpoint's signing keys: the current secret, and the previous one while its overlap lasts.</summary>
    private byte[][] KeysOf(WebhookRow endpoint, long now)
    {
        if (_keys.TryGetValue(endpoint.Id, out var cached) && cached.UpdatedAt == endpoint.UpdatedAt && (cached.PreviousUntil is null || cached.PreviousUntil > now))
        {
            return cached.Keys;
        }

        var keys = new List<byte[]> { WebhookSignature.KeyOf(secrets.Unprotect(endpoint.Secret)) };
        long? until = null;
        if (endpoint.PreviousSecret is { } previous && endpoint.PreviousSecretExpiresAt is { } expires && expires > now)
        {
            keys.Add(WebhookSignature.KeyOf(secrets.Unprotect(previous)));
            until = expires;
        }

        var result = keys.ToArray();
        _keys[endpoint.Id] = (endpoint.UpdatedAt, result, until);
        return result;
    }

    /// <summary>
    /// Sends one delivery and hands its outcome to the recorder, which lets the delivery go once the outcome is written
    /// (no continuation per delivery waits for that).
    /// </summary>
    private async Task SendAndRecordAsync(DeliveryRow delivery, string url, byte[][] keys)
    {
        var sending = true;
        var handedOver = false;
        try
        {
            var outcome = await SendAsync(delivery, url, keys, _stopping.Token);

            // The receiver has answered: its slot is free for the next delivery while this outcome waits for the
            // recorder's next batch (the delivery itself stays held, so no pass sends it again meanwhile).
            sending = false;
            ReleaseSlot(delivery.EndpointId);

            var now = DbTime.ToDb(clock.GetUtcNow());
            long? retryAt = null;
            var schedule = Settings.Retries;
            if (!outcome.Succeeded && delivery.Attempts < schedule.Count)
            {
                var wait = schedule[(int)delivery.Attempts] * (0.8 + (0.4 * Random.Shared.NextDouble()));
                retryAt = now + (long)wait.TotalMilliseconds;
            }

            // False when stopping: the delivery stays pending.
            handedOver = _attempts.Writer.TryWrite(new Attempt(delivery, outcome, now, retryAt));
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !_stopping.IsCancellationRequested)
        {
            // The delivery stays pending and is sent again on a later pass.
            Log.SendFailed(logger, ex, delivery.Id);
        }
        catch (OperationCanceledException)
        {
            // Stopping: the delivery stays pending.
        }
        finally
        {
            if (sending)
            {
                ReleaseSlot(delivery.EndpointId);
            }

            if (!handedOver)
            {
                LetGoUnrecorded(delivery);
            }
        }
    }

    /// <summary>A failed attempt, recorded: logged, and the endpoint disabled when its run of failures is long enough.</summary>
    private async Task AfterFailureAsync(Attempt attempt, long failures)
    {
        try
        {
            Log.AttemptFailed(logger, attempt.Delivery.Id, attempt.Delivery.EndpointId, (int)attempt.Delivery.Attempts + 1, attempt.Outcome.Error ?? "");
            if (failures >= Settings.DisableAfterFailures)
            {
                await DisableAsync(attempt.Delivery.EndpointId, failures, attempt.Outcome.Error);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !_stopping.IsCancellationRequested)
        {
            Log.DisableFailed(logger, ex, attempt.Delivery.EndpointId);
        }
        catch (OperationCanceledException)
        {
            // Stopping: the next failure disables it.
        }
        finally
        {
            LetGo(attempt.Delivery);
        }
    }

    /// <summary>The delivery is no longer held here: a later pass may read it again if it is still due.</summary>
    private void LetGo(DeliveryRow delivery)
    {
        _inFlight.TryRemove(delivery.Id, out _);
        _held.AddOrUpdate(delivery.EndpointId, 0, (_, n) => n - 1);
        Interlocked.Decrement(ref _total);
        Wake();
    }

    /// <summary>Let go with its outcome unrecorded: it is still due where it was, behind its endpoint's floor.</summary>
    private void LetGoUnrecorded(DeliveryRow delivery)
    {
        Interlocked.Increment(ref _rescans);
        LetGo(delivery);
    }

    private bool RecordedSince(Guid deliveryId, long passStarted) =>
        _recorded.TryGetValue(deliveryId, out var recordedAt) && recordedAt >= passStarted;

    private void ReleaseSlot(Guid endpointId)
    {
        _sending.AddOrUpdate(endpointId, 0, (_, n) => n - 1);
        Wake();
    }

    private async Task DisableAsync(Guid endpointId, long failures, string? lastError)
    {
        var reason = $"{failures} failed attempts in a row; the last: {lastError}";
        if (reason.Length > 500)
        {
            reason = reason[..500];
        }

        var disabled = await changes.RunAsync(Actor.System, async change =>
        {
            var row = await store.DisableAsync(change, endpointId, reason);
            if (row is not null)
            {
                change.Emit(new WebhookDisabled(row.OrgId, row.Id, row.Url, (int)failures, reason));
                change.Audit(new AuditRecord(row.OrgId, AuditActions.WebhookDisabled, WebhookAudit.Target(row),
                    new AuditFields().Add("enabled", true), new AuditFields().Add("enabled", false).Add("consecutiveFailures", (int)failures).Add("reason", reason)));
            }

            return row;
        });
        if (disabled is not null)
        {
            Log.Disabled(logger, endpointId, failures);
        }
    }

    /// <summary>One signed attempt. Never throws for what the receiver or the network does: that is the outcome.</summary>
    private async Task<AttemptOutcome> SendAsync(DeliveryRow delivery, string url, byte[][] keys, CancellationToken stopping)
    {
        var body = Encoding.UTF8.GetBytes(delivery.Payload);
        var timestamp = clock.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("webhook-id", delivery.MessageId);
        request.Headers.TryAddWithoutValidation("webhook-timestamp", timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation("webhook-signature", WebhookSignature.Header(keys, delivery.MessageId, timestamp, body));
        request.Headers.UserAgent.ParseAdd("Clarity-Webhooks/1");

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(TimeSpan.FromSeconds(Settings.TimeoutSeconds));
        var watch = Stopwatch.StartNew();
        try
        {
            using var response = await http.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var excerpt = await ExcerptAsync(response, timeout.Token);
            var status = (int)response.StatusCode;
            var latency = (int)watch.ElapsedMilliseconds;
            if (status is >= 200 and < 300)
            {
                return new AttemptOutcome(true, status, excerpt, latency, null);
            }

            var error = status is >= 300 and < 400
                ? $"redirect not followed (HTTP {status}{(response.Headers.Location is { } to ? " to " + Bounded(to.ToString(), 200) : "")})"
                : $"HTTP {status}";
            return new AttemptOutcome(false, status, excerpt, latency, error);
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            return new AttemptOutcome(false, null, null, (int)watch.ElapsedMilliseconds, $"timed out after {Settings.TimeoutSeconds} s");
        }
        catch (HttpRequestException ex)
        {
            return new AttemptOutcome(false, null, null, (int)watch.ElapsedMilliseconds, Bounded(Describe(ex), 500));
        }
    }

    private static string Describe(Exception ex) =>
        ex.InnerException is WebhookAddressRefusedException refused ? refused.Message
        : ex.InnerException is { } inner && ex.Message.Contains(inner.Message, StringComparison.Ordinal) is false ? $"{ex.Message} ({inner.Message})"
        : ex.Message;

    /// <summary>The first <see cref="ExcerptBytes"/> bytes of the answer, as text: the rest is never read into memory.</summary>
    private static async Task<string?> ExcerptAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(ct);
            var buffer = new byte[ExcerptBytes];
            var read = 0;
            while (read < buffer.Length)
            {
                var n = await stream.ReadAsync(buffer.AsMemory(read), ct);
                if (n == 0)
                {
                    break;
                }

                read += n;
            }

            if (read == 0)
            {
                return null;
            }

            // Invalid UTF-8 (a cut character, binary) becomes U+FFFD: the log stays writable JSON; NUL cannot be stored.
            return Encoding.UTF8.GetString(buffer, 0, read).Replace('\0', '\uFFFD');
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            return null;
        }
    }

    private static string Bounded(string text, int max) => text.Length <= max ? text : text[..max] + "…";

    /// <summary>
    /// The connect step of the webhook client (<see cref="SocketsHttpHandler.ConnectCallback"/>): resolves the host, checks
    /// every address against <see cref="WebhookAddressRules"/> and connects only to an address that passed, so a host
    /// that resolved to a public address when the endpoint was saved cannot be pointed at a private one later (DNS rebinding).
    /// </summary>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<System.IO.Stream>> SafeConnect(bool allowPrivateNetworks) =>
        async (context, ct) =>
        {
            var host = context.DnsEndPoint.Host.Trim('[', ']');
            IPAddress[] addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
            string? refused = null;
            Exception? failure = null;
            foreach (var address in addresses)
            {
                if (WebhookAddressRules.Violation(address, allowPrivateNetworks) is { } rule)
                {
                    refused ??= $"{host} resolves to {address}: {WebhookAddressRules.Explain(rule)} (rule: {rule})";
                    continue;
                }

                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch (Exception ex) when (ex is SocketException or OperationCanceledException)
                {
                    socket.Dispose();
                    failure = ex;
                    if (ex is OperationCanceledException)
                    {
                        throw;
                    }
                }
            }

            if (failure is not null)
            {
                throw failure;
            }

            throw new WebhookAddressRefusedException(refused ?? $"{host} does not resolve");
        };

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Webhook delivery {DeliveryId} to endpoint {EndpointId} failed (attempt {Attempt}): {Error}")]
        public static partial void AttemptFailed(ILogger logger, Guid deliveryId, Guid endpointId, int attempt, string error);

        [LoggerMessage(2, LogLevel.Warning, "Could not record webhook delivery {DeliveryId}; it stays pending and is sent again")]
        public static partial void SendFailed(ILogger logger, Exception error, Guid deliveryId);

        [LoggerMessage(3, LogLevel.Warning, "Webhook endpoint {EndpointId} disabled after {Failures} failed attempts in a row")]
        public static partial void Disabled(ILogger logger, Guid endpointId, long failures);

        [LoggerMessage(5, LogLevel.Warning, "Could not disable webhook endpoint {EndpointId} after its failed attempts; the next failure tries again")]
        public static partial void DisableFailed(ILogger logger, Exception error, Guid endpointId);

        [LoggerMessage(4, LogLevel.Error, "The signing secret of webhook endpoint {EndpointId} cannot be decrypted with this node's Data Protection key ring; its deliveries wait")]
        public static partial void SecretUnreadable(ILogger logger, Exception error, Guid endpointId);
    }
}

/// <summary>The connect step refused every address of a webhook's host (SSRF rules).</summary>
public sealed class WebhookAddressRefusedException(string message) : IOException(message);
