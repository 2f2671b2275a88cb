using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;

namespace Clarity.Events.Stream;

/// <summary>
/// One subscriber (a WebSocket or an SSE response) of one org. The hub offers it events without ever waiting:
/// frames go into a buffer that the transport drains, bounded both in frames and in bytes (a frame always fits into
/// an empty buffer). When the buffer is full the connection is marked overflowed and what it held is dropped; the
/// transport then sends <c>resync</c> (reason <c>buffer-overflow</c>) and closes, and nobody else waits. A replay
/// waits for room instead; the live events that arrive meanwhile are held back, within the same two bounds.
/// </summary>
public sealed class StreamConnection
{
    private readonly Channel<StreamFrame> _out;
    private readonly HashSet<string> _topics = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly int _capacity;
    private readonly long _capacityBytes;
    private readonly int _maxTopics;
    private List<StreamFrame>? _pending;
    private HashSet<string>? _replaying;

    // Bytes of the frames in the buffer, and of the live frames held back during a replay (under _gate).
    private long _queuedBytes;
    private long _pendingBytes;

    // Completed when the transport takes a frame, for a replay that waits for room.
    private TaskCompletionSource? _drained;

    // Per replayed topic, the last id the replay delivered. The hub may dispatch such an event live only after the
    // replay read it from the outbox (commit comes before dispatch), so live events at or below it are dropped.
    private readonly Dictionary<string, long> _replayedThrough = new(StringComparer.Ordinal);
    private int _overflowed;

    // Ended by the server or disconnected: frames offered from now on are dropped quietly, not taken for an overflow.
    private bool _closed;

    /// <param name="capacity">Most frames buffered (Stream:BufferSize).</param>
    /// <param name="capacityBytes">Most bytes buffered (Stream:BufferBytes).</param>
    /// <param name="maxTopics">Most topics subscribed at once (Stream:MaxTopicsPerConnection).</param>
    public StreamConnection(Guid orgId, string transport, int capacity, long capacityBytes = long.MaxValue, int maxTopics = int.MaxValue)
    {
        OrgId = orgId;
        Transport = transport;
        _capacity = capacity;
        _capacityBytes = capacityBytes;
        _maxTopics = maxTopics;

        // Not a single reader: an overflow empties the buffer at once, from the thread that overflowed it.
        _out = Channel.CreateBounded<StreamFrame>(new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.Wait });
    }

    public Guid OrgId { get; }

    /// <summary>The API key the connection authenticated with, if any: revoking it ends the connection.</summary>
    public Guid? ApiKeyId { get; init; }

    /// <summary>The signed-in user, if any: their leaving the org ends the connection.</summary>
    public Guid? UserId { get; init; }

    /// <summary>The user's sign-in session, if any: revoking it (sign-out) ends the connection.</summary>
    public Guid? SessionId { get; init; }

    /// <summary>Why the server ended the connection (e.g. <c>server-stopping</c>, <c>credential-revoked</c>); null while it runs.</summary>
    public string? EndReason { get; private set; }

    public string Transport { get; }

    /// <summary>Completes when nothing more will be read: the connection ended, closed or overflowed.</summary>
    public Task Completion => _out.Reader.Completion;

    public bool Overflowed => Volatile.Read(ref _overflowed) == 1;

    /// <summary>Cancelled when the buffer overflows, so the transport stops waiting for frames and sends the resync.</summary>
    public CancellationTokenSource OverflowSignal { get; } = new();

    /// <summary>Bytes of the frames in the buffer now (what the transport has yet to send).</summary>
    public long BufferedBytes
    {
        get
        {
            lock (_gate)
            {
                return _queuedBytes;
            }
        }
    }

    public bool Wants(string topic)
    {
        lock (_gate)
        {
            return _topics.Contains(topic);
        }
    }

    public IReadOnlyList<string> Topics
    {
        get
        {
            lock (_gate)
            {
                return [.. _topics];
            }
        }
    }

    /// <summary>Waits until a frame can be read, or the connection is done (false).</summary>
    public ValueTask<bool> WaitToReadAsync(CancellationToken ct) => _out.Reader.WaitToReadAsync(ct);

    /// <summary>Takes the next frame to send, freeing its room in the buffer. False when there is none, or the connection overflowed.</summary>
    public bool TryRead([MaybeNullWhen(false)] out StreamFrame frame)
    {
        if (Overflowed || !_out.Reader.TryRead(out frame))
        {
            frame = null;
            return false;
        }

        TaskCompletionSource? drained;
        lock (_gate)
        {
            _queuedBytes -= frame.Json.Length;
            drained = _drained;
            _drained = null;
        }

        drained?.TrySetResult();
        return true;
    }

    /// <summary>The hub offers a live event. Never waits: a full buffer overflows the connection.</summary>
    public void Offer(string topic, StreamFrame frame)
    {
        lock (_gate)
        {
            if (_closed || Overflowed || !_topics.Contains(topic) || (_replayedThrough.TryGetValue(topic, out var through) && frame.Id <= through))
            {
                return;
            }

            if (_pending is not null && _replaying!.Contains(topic))
            {
                // Replaying: hold live events until the replay has been queued, so they arrive after it, in id order.
                if (_pending.Count >= _capacity || !Fits(_pendingBytes, frame))
                {
                    Overflow();
                    return;
                }

                _pending.Add(frame);
                _pendingBytes += frame.Json.Length;
                return;
            }

            Push(frame);
        }
    }

    /// <summary>Queues a control message (subscribed, pong, error) in order with the events.</summary>
    public void Send(StreamFrame frame)
    {
        lock (_gate)
        {
            Push(frame);
        }
    }

    /// <summary>
    /// Adds topics and acknowledges them; with <paramref name="replay"/>, live events are held back until <see cref="EndReplay"/>.
    /// False, and nothing changes, when the connection would then follow more than its maximum number of topics.
    /// </summary>
    public bool Subscribe(IReadOnlyList<string> topics, bool replay)
    {
        lock (_gate)
        {
            if (_topics.Count + topics.Count(t => !_topics.Contains(t)) > _maxTopics)
            {
                return false;
            }

            _topics.UnionWith(topics);
            if (replay)
            {
                _pending = [];
                _pendingBytes = 0;
                _replaying = [.. topics];
            }

            Push(StreamFrame.Subscribed("subscribed", topics));
            return true;
        }
    }

    public void Unsubscribe(IReadOnlyList<string> topics)
    {
        lock (_gate)
        {
            _topics.ExceptWith(topics);
            foreach (var topic in topics)
            {
                _replayedThrough.Remove(topic);
            }

            Push(StreamFrame.Subscribed("unsubscribed", topics));
        }
    }

    /// <summary>
    /// Queues one replayed event, waiting for room in the buffer (the replay runs on this connection's own task).
    /// False when the connection has overflowed or closed meanwhile: the replay stops.
    /// </summary>
    public async ValueTask<bool> ReplayAsync(StreamFrame frame, CancellationToken ct)
    {
        while (true)
        {
            Task drained;
            lock (_gate)
            {
                if (_closed || Overflowed)
                {
                    return false;
                }

                if (Fits(_queuedBytes, frame) && _out.Writer.TryWrite(frame))
                {
                    _queuedBytes += frame.Json.Length;
                    return true;
                }

                _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                drained = _drained.Task;
            }

            await drained.WaitAsync(ct);
        }
    }

    /// <summary>Ends replay: queues the live events that arrived meanwhile and are newer than the last replayed id, then goes live.</summary>
    public void EndReplay(long replayedThrough, StreamFrame? resync = null)
    {
        lock (_gate)
        {
            if (resync is not null)
            {
                Push(resync);
            }

            foreach (var topic in _replaying ?? [])
            {
                _replayedThrough[topic] = replayedThrough;
            }

            var pending = _pending;
            _pending = null;
            _pendingBytes = 0;
            _replaying = null;
            foreach (var frame in pending ?? [])
            {
                if (frame.Id > replayedThrough)
                {
                    Push(frame);
                }
            }
        }
    }

    public void Complete()
    {
        lock (_gate)
        {
            _closed = true;
            WakeReplay();
        }

        _out.Writer.TryComplete();
    }

    /// <summary>Ends the connection from the server side: the transport sends what is queued, then closes.</summary>
    public void End(string reason)
    {
        lock (_gate)
        {
            EndReason ??= reason;
            _closed = true;
            WakeReplay();
        }

        _out.Writer.TryComplete();
    }

    /// <summary>A frame fits when the buffer is empty, or when it stays within the byte bound with it.</summary>
    private bool Fits(long bytes, StreamFrame frame) => bytes == 0 || bytes + frame.Json.Length <= _capacityBytes;

    private void Push(StreamFrame frame)
    {
        if (_closed)
        {
            return;
        }

        if (!Fits(_queuedBytes, frame) || !_out.Writer.TryWrite(frame))
        {
            Overflow();
            return;
        }

        _queuedBytes += frame.Json.Length;
    }

    // Under _gate.
    private void Overflow()
    {
        if (Interlocked.Exchange(ref _overflowed, 1) == 0)
        {
            _out.Writer.TryComplete();

            // The client reloads state anyway: drop what it would have been sent, rather than hold it until it goes.
            while (_out.Reader.TryRead(out _))
            {
            }

            _queuedBytes = 0;
            _pending?.Clear();
            _pendingBytes = 0;
            WakeReplay();
            OverflowSignal.Cancel();
        }
    }

    // Under _gate: a replay waiting for room re-checks, and finds the connection closed or overflowed.
    private void WakeReplay()
    {
        _drained?.TrySetResult();
        _drained = null;
    }
}
