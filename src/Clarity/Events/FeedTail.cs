namespace Clarity.Events;

/// <summary>
/// The newest sequenced outbox rows as this node's <see cref="EventFeed"/> delivered them: every row with a seq in
/// (<c>from</c>, <c>through</c>], in seq order, and no others. The feed reads the table once per announcement (or, on
/// SQLite, takes the committed rows in memory); the durable consumers on the same node (<see cref="OutboxConsumer"/>:
/// webhooks, notifications, Slack) then read their batches from here instead of each reading the same rows from the
/// table again, and are woken when it grows. A cursor outside the window (behind it after a restart or a long outage,
/// or ahead of this node's feed) reads the table as before: the table stays the truth, and this is a copy of a prefix
/// of it. Bounded by <see cref="MaxRows"/> rows and <see cref="MaxPayloadChars"/> characters of payload; the oldest rows
/// leave first.
/// </summary>
public sealed class FeedTail
{
    /// <summary>The most rows kept.</summary>
    public const int MaxRows = 4_096;

    /// <summary>The most payload characters kept, over all rows (16 MB of UTF-16).</summary>
    public const long MaxPayloadChars = 8L * 1024 * 1024;

    private readonly Lock _gate = new();
    private readonly List<EventRow> _rows = [];
    private long _from = -1;
    private long _through = -1;
    private long _payloadChars;
    private Action<IReadOnlyList<EventRow>>[] _listeners = [];

    /// <summary>The feed starts at <paramref name="position"/>: the window is empty and begins after it.</summary>
    internal void Start(long position)
    {
        lock (_gate)
        {
            _rows.Clear();
            _payloadChars = 0;
            (_from, _through) = (position, position);
        }
    }

    /// <summary>
    /// The feed delivered <paramref name="rows"/>: every sequenced row after the previous <c>through</c> up to the last
    /// of them, in seq order. Rows that do not continue the window (not started, or not past its end) are ignored.
    /// </summary>
    internal void Append(IReadOnlyList<EventRow> rows)
    {
        if (rows.Count == 0)
        {
            return;
        }

        lock (_gate)
        {
            if (_through < 0 || rows[0].Seq <= _through)
            {
                return;
            }

            foreach (var row in rows)
            {
                _rows.Add(row);
                _payloadChars += row.Payload.Length;
            }

            _through = rows[^1].Seq;
            Trim();
        }

        foreach (var listener in Volatile.Read(ref _listeners))
        {
            listener(rows);
        }
    }

    /// <summary>Drops the oldest rows past the bounds, in chunks so that a steady stream of appends moves the list rarely.</summary>
    private void Trim()
    {
        if (_rows.Count <= MaxRows && _payloadChars <= MaxPayloadChars)
        {
            return;
        }

        var drop = Math.Max(_rows.Count - MaxRows * 3 / 4, 0);
        long chars = 0;
        for (var i = 0; i < drop; i++)
        {
            chars += _rows[i].Payload.Length;
        }

        while (drop < _rows.Count && _payloadChars - chars > MaxPayloadChars * 3 / 4)
        {
            chars += _rows[drop].Payload.Length;
            drop++;
        }

        if (drop == 0)
        {
            return;
        }

        _from = _rows[drop - 1].Seq;
        _rows.RemoveRange(0, drop);
        _payloadChars -= chars;
    }

    /// <summary>
    /// The rows after <paramref name="afterSeq"/>, at most <paramref name="limit"/>, when the window holds everything after
    /// it (an empty list when nothing is newer yet); false when the caller must read the table: the cursor is behind the
    /// window, ahead of this node's feed, or the feed has not started.
    /// </summary>
    public bool TryRead(long afterSeq, int limit, out IReadOnlyList<EventRow> rows)
    {
        lock (_gate)
        {
            if (_through < 0 || afterSeq < _from || afterSeq > _through)
            {
                rows = [];
                return false;
            }

            var first = FirstAfter(afterSeq);
            var count = Math.Min(limit, _rows.Count - first);
            rows = count <= 0 ? [] : _rows.GetRange(first, count);
            return true;
        }
    }

    private int FirstAfter(long seq)
    {
        int lo = 0, hi = _rows.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_rows[mid].Seq <= seq)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    /// <summary>Calls <paramref name="listener"/> with each run of rows appended from now on (outside the tail's lock).</summary>
    public IDisposable Subscribe(Action<IReadOnlyList<EventRow>> listener)
    {
        lock (_gate)
        {
            _listeners = [.. _listeners, listener];
        }

        return new Subscription(this, listener);
    }

    private sealed class Subscription(FeedTail tail, Action<IReadOnlyList<EventRow>> listener) : IDisposable
    {
        public void Dispose()
        {
            lock (tail._gate)
            {
                tail._listeners = [.. tail._listeners.Where(l => l != listener)];
            }
        }
    }
}
