using System.Threading.Channels;

namespace Clarity.Events.Stream;

/// <summary>
/// One subscriber (a WebSocket or an SSE response) of one org. The hub offers it events without ever waiting:
/// frames go into a bounded buffer that the transport drains. When the buffer is full the connection is marked
/// overflowed; the transport then sends <c>resync</c> (reason <c>buffer-overflow</c>) and closes, and nobody else waits.
/// </summary>
public sealed class StreamConnection
{
    private readonly Channel<StreamFrame> _out;
    private readonly HashSet<string> _topics = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly int _capacity;
    private List<StreamFrame>? _pending;
    private HashSet<string>? _replaying;

    // Per replayed topic, the last id the replay delivered. The hub may dispatch such an event live only after the
    // replay read it from the journal (commit comes before dispatch), so live events at or below it are dropped.
    private readonly Dictionary<string, long> _replayedThrough = new(StringComparer.Ordinal);
    private int _overflowed;

    // Ended by the server or disconnected: frames offered from now on are dropped quietly, not taken for an overflow.
    private bool _closed;

    public StreamConnection(Guid orgId, string transport, int capacity)
    {
        OrgId = orgId;
        Transport = transport;
        _capacity = capacity;
        _out = Channel.CreateBounded<StreamFrame>(new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
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

    /// <summary>What the transport sends, in order.</summary>
    public ChannelReader<StreamFrame> Outbound => _out.Reader;

    public bool Overflowed => Volatile.Read(ref _overflowed) == 1;

    /// <summary>Cancelled when the buffer overflows, so the transport stops waiting for frames and sends the resync.</summary>
    public CancellationTokenSource OverflowSignal { get; } = new();

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

    /// <summary>The hub offers a live event. Never waits: a full buffer overflows the connection.</summary>
    public void Offer(string topic, StreamFrame frame)
    {
        lock (_gate)
        {
            if (_closed || !_topics.Contains(topic) || (_replayedThrough.TryGetValue(topic, out var through) && frame.Id <= through))
            {
                return;
            }

            if (_pending is not null && _replaying!.Contains(topic))
            {
                // Replaying: hold live events until the replay has been queued, so they arrive after it, in id order.
                if (_pending.Count >= _capacity)
                {
                    Overflow();
                    return;
                }

                _pending.Add(frame);
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

    /// <summary>Adds topics and acknowledges them; with <paramref name="replay"/>, live events are held back until <see cref="EndReplay"/>.</summary>
    public void Subscribe(IReadOnlyList<string> topics, bool replay)
    {
        lock (_gate)
        {
            _topics.UnionWith(topics);
            if (replay)
            {
                _pending = [];
                _replaying = [.. topics];
            }

            Push(StreamFrame.Subscribed("subscribed", topics));
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
    /// Queues one replayed event, waiting for buffer space (the replay runs on this connection's own task).
    /// False when the connection has overflowed or closed meanwhile: the replay stops.
    /// </summary>
    public async ValueTask<bool> ReplayAsync(StreamFrame frame, CancellationToken ct)
    {
        while (await _out.Writer.WaitToWriteAsync(ct))
        {
            if (_out.Writer.TryWrite(frame))
            {
                return true;
            }
        }

        return false;
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
        }

        _out.Writer.TryComplete();
    }

    private void Push(StreamFrame frame)
    {
        if (_closed)
        {
            return;
        }

        if (!_out.Writer.TryWrite(frame))
        {
            Overflow();
        }
    }

    private void Overflow()
    {
        if (Interlocked.Exchange(ref _overflowed, 1) == 0)
        {
            _out.Writer.TryComplete();
            OverflowSignal.Cancel();
        }
    }
}
