using System.Diagnostics.Metrics;
using System.Net;
using Clarity.Hosting;
using Clarity.Hosting.Telemetry;
using Clarity.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Clarity.Tests.Hosting;

/// <summary>
/// The exporter against the exposition format's rules, without a host: names, escaping, histogram buckets, scoping to
/// one IMeterFactory. Each scrape is checked by the strict reader in <see cref="PrometheusScrape"/> and by promtool.
/// </summary>
public sealed class PrometheusFormatTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly ServiceProvider _otherHost = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private IMeterFactory Factory => _services.GetRequiredService<IMeterFactory>();

    public void Dispose()
    {
        _services.Dispose();
        _otherHost.Dispose();
    }

    [Theory]
    [InlineData("clarity.tasks.created", "{task}", MetricType.Counter, "clarity_tasks_created_total")]
    [InlineData("http.server.request.duration", "s", MetricType.Histogram, "http_server_request_duration_seconds")]
    [InlineData("kestrel.active_connections", "{connection}", MetricType.Gauge, "kestrel_active_connections")]
    [InlineData("process.memory.usage", "By", MetricType.Gauge, "process_memory_usage_bytes")]
    [InlineData("cpu.utilization", "1", MetricType.Gauge, "cpu_utilization_ratio")]
    [InlineData("requests.rate", "{request}/s", MetricType.Gauge, "requests_rate_per_second")]
    [InlineData("queue.wait.seconds", "s", MetricType.Histogram, "queue_wait_seconds")]
    [InlineData("jobs_total", null, MetricType.Counter, "jobs_total")]
    [InlineData("9-lives/metric", "", MetricType.Gauge, "_9_lives_metric")]
    [InlineData("a..b--c", "ms", MetricType.Gauge, "a_b_c_milliseconds")]
    public void MetricName_ConvertsOpenTelemetryNamesAndUnits(string instrument, string? unit, MetricType type, string expected)
    {
        var name = PrometheusText.MetricName(instrument, unit, type);
        Assert.Equal(expected, name);
        Assert.True(PrometheusText.IsValidMetricName(name));
    }

    [Theory]
    [InlineData("http.route", "http_route")]
    [InlineData("org", "org")]
    [InlineData("__reserved", "_reserved")]
    [InlineData("1st", "_1st")]
    [InlineData("a:b", "a_b")]
    public void LabelName_IsAValidPrometheusLabel(string key, string expected)
    {
        Assert.Equal(expected, PrometheusText.LabelName(key));
        Assert.True(PrometheusText.IsValidLabelName(PrometheusText.LabelName(key)));
    }

    [Fact]
    public void LabelValues_EscapeBackslashQuoteAndNewline_AndNothingElse()
    {
        Assert.Equal(@"a\\b\""c\nd", PrometheusText.EscapeLabelValue("a\\b\"c\nd"));
        Assert.Equal("tab\tünï", PrometheusText.EscapeLabelValue("tab\tünï"));
        Assert.Equal(@"line\nnext \\ ""quoted""", PrometheusText.EscapeHelp("line\nnext \\ \"quoted\""));
    }

    [Fact]
    public async Task Scrape_FollowsTheFormat_AndCarriesEveryInstrumentKind()
    {
        // Instruments created after the exporter started are published to it as they appear.
        using var exporter = new PrometheusExporter(Factory, [], NullLogger<PrometheusExporter>.Instance);
        var meter = Factory.Create("Clarity");
        var counter = meter.CreateCounter<long>("clarity.test.things", "{thing}", "Things.\nSecond line with a \\ backslash.");
        counter.Add(2, new KeyValuePair<string, object?>("org", "acme"), new("http.route", "/a/{id}"));
        counter.Add(3, new KeyValuePair<string, object?>("org", "acme"), new("http.route", "/a/{id}"));
        counter.Add(1, new KeyValuePair<string, object?>("org", "we\"ird\\org\nname"));
        counter.Add(-5, new KeyValuePair<string, object?>("org", "acme"), new("http.route", "/a/{id}"));

        var histogram = meter.CreateHistogram<double>("clarity.test.duration", "s", "Durations.", tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 1, 10] });
        foreach (var v in new[] { 0.05, 0.1, 0.5, 100 })
        {
            histogram.Record(v, new KeyValuePair<string, object?>("le", "user-tag"), new("kind", "x"));
        }

        var upDown = meter.CreateUpDownCounter<int>("clarity.test.inflight", "{request}");
        upDown.Add(5);
        upDown.Add(-2);

        // The stream helper's instrument, registered the way it does: picked up with no exporter change.
        meter.CreateObservableUpDownCounter("clarity.stream.connections", () => new[]
        {
            new Measurement<long>(3, new KeyValuePair<string, object?>("transport", "websocket")),
            new Measurement<long>(2, new KeyValuePair<string, object?>("transport", "sse")),
        }, "{connection}", "Open stream connections.");

        // Neither another meter of this host nor a "Clarity" meter of another host is reported.
        Factory.Create("Somebody.Else").CreateCounter<long>("foreign.counter").Add(1);
        _otherHost.GetRequiredService<IMeterFactory>().Create("Clarity").CreateCounter<long>("clarity.other.host").Add(1);

        var text = await exporter.ScrapeAsync(CancellationToken.None);
        var families = PrometheusScrape.Parse(text);

        var things = families["clarity_test_things_total"];
        Assert.Equal("counter", things.Type);
        Assert.Equal("Things.\nSecond line with a \\ backslash.", things.Help);
        Assert.Equal(5, things.Value("clarity_test_things_total", ("org", "acme"), ("http_route", "/a/{id}")));
        Assert.Equal(1, things.Value("clarity_test_things_total", ("org", "we\"ird\\org\nname")));
        Assert.Contains(@"clarity_test_things_total{org=""we\""ird\\org\nname""} 1", text, StringComparison.Ordinal);
        Assert.Contains(@"clarity_test_things_total{http_route=""/a/{id}"",org=""acme""} 5", text, StringComparison.Ordinal);

        var duration = families["clarity_test_duration_seconds"];
        Assert.Equal("histogram", duration.Type);
        (string, string)[] labels = [("kind", "x"), ("tag_le", "user-tag")];
        Assert.Equal(2, duration.Value("clarity_test_duration_seconds_bucket", [.. labels, ("le", "0.1")]));
        Assert.Equal(3, duration.Value("clarity_test_duration_seconds_bucket", [.. labels, ("le", "1")]));
        Assert.Equal(3, duration.Value("clarity_test_duration_seconds_bucket", [.. labels, ("le", "10")]));
        Assert.Equal(4, duration.Value("clarity_test_duration_seconds_bucket", [.. labels, ("le", "+Inf")]));
        Assert.Equal(4, duration.Value("clarity_test_duration_seconds_count", labels));
        Assert.Equal(100.65, duration.Value("clarity_test_duration_seconds_sum", labels)!.Value, 6);

        Assert.Equal("gauge", families["clarity_test_inflight"].Type);
        Assert.Equal(3, families["clarity_test_inflight"].Value("clarity_test_inflight"));

        var streams = families["clarity_stream_connections"];
        Assert.Equal("gauge", streams.Type);
        Assert.Equal(3, streams.Value("clarity_stream_connections", ("transport", "websocket")));
        Assert.Equal(2, streams.Value("clarity_stream_connections", ("transport", "sse")));

        Assert.DoesNotContain("foreign", text, StringComparison.Ordinal);
        Assert.DoesNotContain("other_host", text, StringComparison.Ordinal);

        var (exit, output) = await PrometheusScrape.PromtoolAsync(text);
        Assert.True(exit == 0 && output.Trim().Length == 0, $"promtool check metrics: exit {exit}\n{output}\n---\n{text}");
    }

    [Fact]
    public async Task Scrape_ObservesGaugesAnew_SoASeriesThatIsNoLongerReportedDisappears()
    {
        var reported = new List<Measurement<int>> { new(1, new KeyValuePair<string, object?>("org", "a")), new(2, new KeyValuePair<string, object?>("org", "b")) };
        Factory.Create("Clarity").CreateObservableGauge("clarity.test.level", () => reported.ToArray());
        using var exporter = new PrometheusExporter(Factory, [], NullLogger<PrometheusExporter>.Instance);

        var first = PrometheusScrape.Parse(await exporter.ScrapeAsync(CancellationToken.None))["clarity_test_level"];
        Assert.Equal(2, first.Samples.Count);
        reported.RemoveAt(1);
        var second = PrometheusScrape.Parse(await exporter.ScrapeAsync(CancellationToken.None))["clarity_test_level"];
        Assert.Equal(1, Assert.Single(second.Samples).Value);
    }

    [Fact]
    public async Task Promtool_RejectsBrokenExpositions_SoItsVerdictMeansSomething()
    {
        Assert.NotEqual(0, (await PrometheusScrape.PromtoolAsync("broken{label=\"unterminated} 1\n")).ExitCode);
        Assert.NotEqual(0, (await PrometheusScrape.PromtoolAsync("# HELP c x\n# TYPE c counter\nc 1\n")).ExitCode);
    }

    [Fact]
    public void MetricsAccess_WithoutAToken_AnswersLoopbackOnly()
    {
        Assert.True(TelemetryEndpoints.IsLoopback(IPAddress.Loopback));
        Assert.True(TelemetryEndpoints.IsLoopback(IPAddress.IPv6Loopback));
        Assert.True(TelemetryEndpoints.IsLoopback(IPAddress.Parse("::ffff:127.0.0.1")));
        Assert.False(TelemetryEndpoints.IsLoopback(IPAddress.Parse("10.1.2.3")));
        Assert.False(TelemetryEndpoints.IsLoopback(IPAddress.Parse("::ffff:10.1.2.3")));
        Assert.False(TelemetryEndpoints.IsLoopback(null));

        var remote = new DefaultHttpContext();
        remote.Connection.RemoteIpAddress = IPAddress.Parse("192.0.2.7");
        var refused = Assert.Throws<ApiException>(() => TelemetryEndpoints.CheckAccess(remote, token: null));
        Assert.Equal((403, "urn:clarity:problem:forbidden"), (refused.Status, refused.Type));

        // With a token, where the scraper is does not matter; the token does.
        remote.Request.Headers.Authorization = "Bearer the-metrics-token-123456";
        TelemetryEndpoints.CheckAccess(remote, "the-metrics-token-123456");
        Assert.Equal(401, Assert.Throws<ApiException>(() => TelemetryEndpoints.CheckAccess(remote, "another-token-abcdefgh")).Status);
        Assert.False(TelemetryEndpoints.TokenMatches("", ""));
    }
}
