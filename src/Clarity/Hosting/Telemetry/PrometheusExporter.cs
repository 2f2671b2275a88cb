using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;

namespace Clarity.Hosting.Telemetry;

/// <summary>Something to fetch before a scrape collects (e.g. a gauge read from the database), so observable callbacks never block.</summary>
public interface IScrapeRefresh
{
    Task RefreshAsync(CancellationToken ct);
}

/// <summary>
/// Aggregates the measurements of this host's meters with a <see cref="MeterListener"/> and renders them in the Prometheus
/// text format. It listens only to instruments whose meter was created by this host's <see cref="IMeterFactory"/>
/// (<see cref="Meter.Scope"/>) and is named "Clarity", "Microsoft.AspNetCore.Hosting" or "Microsoft.AspNetCore.Server.Kestrel",
/// so several hosts in one process (the tests) never see each other's numbers. Counters and histograms are cumulative
/// from start-up; observable instruments are observed at each scrape.
/// </summary>
public sealed partial class PrometheusExporter : IDisposable
{
    public static readonly IReadOnlySet<string> MeterNames = new HashSet<string>(StringComparer.Ordinal)
    {
        ClarityMetrics.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel",
    };

    /// <summary>Buckets for a seconds histogram that gives no advice (ASP.NET Core's own request-duration buckets).</summary>
    private static readonly double[] s_secondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    /// <summary>OpenTelemetry's default explicit buckets, for any other histogram without advice.</summary>
    private static readonly double[] s_defaultBuckets = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

    private readonly IMeterFactory _scope;
    private readonly IScrapeRefresh[] _refreshers;
    private readonly ILogger _logger;
    private readonly MeterListener _listener;
    private readonly ConcurrentDictionary<Instrument, InstrumentState> _states = new();
    private readonly SemaphoreSlim _collect = new(1, 1);

    public PrometheusExporter(IMeterFactory meterFactory, IEnumerable<IScrapeRefresh> refreshers, ILogger<PrometheusExporter> logger)
    {
        _scope = meterFactory;
        _refreshers = [.. refreshers];
        _logger = logger;
        _listener = new MeterListener
        {
            InstrumentPublished = OnInstrumentPublished,
            MeasurementsCompleted = (instrument, _) => _states.TryRemove(instrument, out InstrumentState? _),
        };
        _listener.SetMeasurementEventCallback<byte>((i, v, tags, state) => ((InstrumentState)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<short>((i, v, tags, state) => ((InstrumentState)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, state) => ((InstrumentState)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<long>((i, v, tags, state) => ((InstrumentState)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<float>((i, v, tags, state) => ((InstrumentState)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, state) => ((InstrumentState)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<decimal>((i, v, tags, state) => ((InstrumentState)state!).Record((double)v, tags));
        _listener.Start();
    }

    private void OnInstrumentPublished(Instrument instrument, MeterListener listener)
    {
        if (!ReferenceEquals(instrument.Meter.Scope, _scope) || !MeterNames.Contains(instrument.Meter.Name))
        {
            return;
        }

        var state = InstrumentState.For(instrument);
        if (state is not null && _states.TryAdd(instrument, state))
        {
            listener.EnableMeasurementEvents(instrument, state);
        }
    }

    /// <summary>Refreshes what must be fetched first, observes the observable instruments, and renders everything.</summary>
    public async Task<string> ScrapeAsync(CancellationToken ct)
    {
        foreach (var refresher in _refreshers)
        {
            try
            {
                await refresher.RefreshAsync(ct);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A failed read (database down) leaves that gauge at its last value; the rest of the scrape still answers.
                Log.RefreshFailed(_logger, ex, refresher.GetType().Name);
            }
        }

        await _collect.WaitAsync(ct);
        try
        {
            var states = _states.Values
                .OrderBy(s => s.Family, StringComparer.Ordinal)
                .ThenBy(s => s.Instrument.Meter.Name, StringComparer.Ordinal)
                .ToList();
            foreach (var state in states)
            {
                state.BeginCollect();
            }

            try
            {
                _listener.RecordObservableInstruments();
            }
            catch (Exception ex)
            {
                Log.ObserveFailed(_logger, ex);
            }

            var families = new List<MetricFamily>(states.Count);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var state in states)
            {
                // Two instruments that map to one name would make a duplicate family: the first (by meter name) wins.
                if (seen.Add(state.Family))
                {
                    families.Add(state.Snapshot());
                }
            }

            return PrometheusText.Write(families);
        }
        finally
        {
            _collect.Release();
        }
    }

    public void Dispose()
    {
        _listener.Dispose();
        _collect.Dispose();
    }

    /// <summary>The aggregation of one instrument, keyed by its label set.</summary>
    private abstract class InstrumentState(Instrument instrument, MetricType type)
    {
        public Instrument Instrument { get; } = instrument;

        public MetricType Type { get; } = type;

        public string Family { get; } = PrometheusText.MetricName(instrument.Name, instrument.Unit, type);

        public string Help { get; } = string.IsNullOrWhiteSpace(instrument.Description) ? instrument.Name : instrument.Description;

        public static InstrumentState? For(Instrument instrument)
        {
            if (!instrument.GetType().IsGenericType)
            {
                return null;
            }

            var kind = instrument.GetType().GetGenericTypeDefinition();
            if (kind == typeof(Counter<>))
            {
                return new SumState(instrument, MetricType.Counter, monotonic: true);
            }

            if (kind == typeof(UpDownCounter<>))
            {
                return new SumState(instrument, MetricType.Gauge, monotonic: false);
            }

            if (kind == typeof(Histogram<>))
            {
                return new HistogramState(instrument, BoundsOf(instrument));
            }

            if (kind == typeof(ObservableCounter<>))
            {
                return new ObservedState(instrument, MetricType.Counter);
            }

            if (kind == typeof(ObservableUpDownCounter<>) || kind == typeof(ObservableGauge<>) || kind == typeof(Gauge<>))
            {
                return new ObservedState(instrument, MetricType.Gauge, keep: kind == typeof(Gauge<>));
            }

            return null;
        }

        public abstract void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags);

        public virtual void BeginCollect()
        {
        }

        public abstract MetricFamily Snapshot();

        /// <summary>The label set of a measurement (instrument tags plus measurement tags), sorted by name, with a key for lookups.</summary>
        protected (string Key, KeyValuePair<string, string>[] Labels) LabelsOf(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
            if (Instrument.Tags is { } fixedTags)
            {
                foreach (var tag in fixedTags)
                {
                    Add(labels, tag);
                }
            }

            foreach (var tag in tags)
            {
                Add(labels, tag);
            }

            var array = labels.ToArray();
            return (string.Join('\u0001', array.Select(l => l.Key + '\u0002' + l.Value)), array);
        }

        private void Add(SortedDictionary<string, string> labels, KeyValuePair<string, object?> tag)
        {
            if (tag.Value is null)
            {
                return;
            }

            var name = PrometheusText.LabelName(tag.Key);
            if (Type == MetricType.Histogram && name == "le")
            {
                name = "tag_le";
            }

            var value = tag.Value switch
            {
                string s => s,
                bool b => b ? "true" : "false",
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => tag.Value.ToString() ?? "",
            };
            labels.TryAdd(name, value);
        }

        private static double[] BoundsOf(Instrument instrument)
        {
            IReadOnlyList<double>? advised = instrument switch
            {
                Histogram<double> h => h.Advice?.HistogramBucketBoundaries,
                Histogram<float> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToList(),
                Histogram<long> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToList(),
                Histogram<int> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToList(),
                _ => null,
            };
            var bounds = advised is { Count: > 0 } ? advised : instrument.Unit == "s" ? s_secondsBuckets : s_defaultBuckets;
            return [.. bounds.Where(double.IsFinite).Distinct().Order()];
        }
    }

    /// <summary>Counter (monotonic, a Prometheus counter) or UpDownCounter (a Prometheus gauge): a running sum per label set.</summary>
    private sealed class SumState(Instrument instrument, MetricType type, bool monotonic) : InstrumentState(instrument, type)
    {
        private readonly ConcurrentDictionary<string, Cell> _series = new(StringComparer.Ordinal);

        public override void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (double.IsNaN(value) || (monotonic && value < 0))
            {
                return;
            }

            var (key, labels) = LabelsOf(tags);
            var cell = _series.GetOrAdd(key, _ => new Cell(labels));
            lock (cell)
            {
                cell.Value += value;
            }
        }

        public override MetricFamily Snapshot()
        {
            var series = _series.Values.Select(c =>
            {
                lock (c)
                {
                    return new MetricSeries(c.Labels, c.Value);
                }
            });
            return new MetricFamily(Family, Type, Help, Sorted(series));
        }
    }

    /// <summary>Observable instruments: the values reported by the callbacks of this collection (a synchronous Gauge keeps its last value).</summary>
    private sealed class ObservedState(Instrument instrument, MetricType type, bool keep = false) : InstrumentState(instrument, type)
    {
        private readonly Dictionary<string, Cell> _series = new(StringComparer.Ordinal);

        public override void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var (key, labels) = LabelsOf(tags);
            lock (_series)
            {
                _series[key] = new Cell(labels) { Value = value };
            }
        }

        public override void BeginCollect()
        {
            if (!keep)
            {
                lock (_series)
                {
                    _series.Clear();
                }
            }
        }

        public override MetricFamily Snapshot()
        {
            lock (_series)
            {
                return new MetricFamily(Family, Type, Help, Sorted(_series.Values.Select(c => new MetricSeries(c.Labels, c.Value))));
            }
        }
    }

    /// <summary>A histogram with explicit bucket bounds (the instrument's advice, or a default).</summary>
    private sealed class HistogramState(Instrument instrument, double[] bounds) : InstrumentState(instrument, MetricType.Histogram)
    {
        private readonly ConcurrentDictionary<string, HistogramCell> _series = new(StringComparer.Ordinal);

        public override void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (double.IsNaN(value))
            {
                return;
            }

            var (key, labels) = LabelsOf(tags);
            var cell = _series.GetOrAdd(key, _ => new HistogramCell(labels, bounds.Length + 1));
            // Prometheus buckets are upper-inclusive: a value equal to a bound falls in that bound's bucket.
            var index = Array.BinarySearch(bounds, value);
            if (index < 0)
            {
                index = ~index;
            }

            lock (cell)
            {
                cell.Counts[index]++;
                cell.Sum += value;
                cell.Count++;
            }
        }

        public override MetricFamily Snapshot()
        {
            var series = _series.Values.Select(c =>
            {
                lock (c)
                {
                    return new MetricSeries(c.Labels, 0, [.. c.Counts], c.Sum, c.Count);
                }
            });
            return new MetricFamily(Family, MetricType.Histogram, Help, Sorted(series), bounds);
        }
    }

    private static List<MetricSeries> Sorted(IEnumerable<MetricSeries> series) =>
        [.. series.OrderBy(s => string.Join('\u0001', s.Labels.Select(l => l.Key + '\u0002' + l.Value)), StringComparer.Ordinal)];

    private sealed class Cell(KeyValuePair<string, string>[] labels)
    {
        public KeyValuePair<string, string>[] Labels { get; } = labels;

        public double Value { get; set; }
    }

    private sealed class HistogramCell(KeyValuePair<string, string>[] labels, int buckets)
    {
        public KeyValuePair<string, string>[] Labels { get; } = labels;

        public long[] Counts { get; } = new long[buckets];

        public double Sum { get; set; }

        public long Count { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Could not refresh {Source} before a metrics scrape")]
        public static partial void RefreshFailed(ILogger logger, Exception error, string source);

        [LoggerMessage(2, LogLevel.Warning, "An observable instrument failed during a metrics scrape")]
        public static partial void ObserveFailed(ILogger logger, Exception error);
    }
}
