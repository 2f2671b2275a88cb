using System.Diagnostics.Metrics;
using System.Net;
using Clarity.Hosting;
using Clarity.Hosting.Telemetry;
using Clarity.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Hosting;

/// <summary>
/// GET /metrics of a real host against the exposition format's rules: instruments of every kind, registered on the
/// host's "Clarity" meter the way Clarity's own code does, come out with the expected names, escaping and histogram
/// buckets, and nothing of another meter or another host leaks in. Each scrape is checked by the strict reader in
/// <see cref="PrometheusScrape"/> and by promtool. The exposition does not touch storage, so one backend serves;
/// MetricsTests runs the real metrics through promtool on both.
/// </summary>
public sealed class PrometheusFormatTests(SqliteHostFixture fixture) : IClassFixture<SqliteHostFixture>, IDisposable
{
    private readonly ServiceProvider _otherHost = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private ClarityHost Host => fixture.Host;

    /// <summary>The meter Clarity's instruments live on: the one this host's IMeterFactory hands out for "Clarity".</summary>
    private Meter ClarityMeter => Host.Services.GetRequiredService<IMeterFactory>().Create(ClarityMetrics.MeterName);

    public void Dispose() => _otherHost.Dispose();

    [Fact]
    public async Task Scrape_FollowsTheFormat_AndCarriesEveryInstrumentKind()
    {
        var meter = ClarityMeter;
        var counter = meter.CreateCounter<long>("clarity.format.things", "{thing}", "Things.\nSecond line with a \\ backslash.");
        counter.Add(2, new KeyValuePair<string, object?>("org", "acme"), new("http.route", "/a/{id}"));
        counter.Add(3, new KeyValuePair<string, object?>("org", "acme"), new("http.route", "/a/{id}"));
        counter.Add(1, new KeyValuePair<string, object?>("org", "we\"ird\\org\nname"));

        var histogram = meter.CreateHistogram<double>("clarity.format.duration", "s", "Durations.", tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 1, 10] });
        foreach (var v in new[] { 0.05, 0.1, 0.5, 100 })
        {
            histogram.Record(v, new KeyValuePair<string, object?>("kind", "x"));
        }

        var upDown = meter.CreateUpDownCounter<int>("clarity.format.inflight", "{request}", "In flight.");
        upDown.Add(5);
        upDown.Add(-2);
        meter.CreateObservableUpDownCounter("clarity.format.connections", () => new[]
        {
            new Measurement<long>(3, new KeyValuePair<string, object?>("transport", "websocket")),
            new Measurement<long>(2, new KeyValuePair<string, object?>("transport", "sse")),
        }, "{connection}", "Open connections.");
        meter.CreateObservableGauge("clarity.format.usage", () => 1024L, "By", "Bytes in use.");

        // Neither another meter of this host nor a "Clarity" meter of another host (in this same process) is reported.
        Host.Services.GetRequiredService<IMeterFactory>().Create("Somebody.Else").CreateCounter<long>("foreign.counter").Add(1);
        _otherHost.GetRequiredService<IMeterFactory>().Create(ClarityMetrics.MeterName).CreateCounter<long>("clarity.format.other_host").Add(1);

        var (text, families) = await MetricsTests.ScrapeAsync(Host);

        var things = families["clarity_format_things_total"];
        Assert.Equal("counter", things.Type);
        Assert.Equal("Things.\nSecond line with a \\ backslash.", things.Help);
        Assert.Equal(5, things.Value("clarity_format_things_total", ("org", "acme"), ("http_route", "/a/{id}")));
        Assert.Equal(1, things.Value("clarity_format_things_total", ("org", "we\"ird\\org\nname")));
        Assert.Contains(@"org=""we\""ird\\org\nname""", text, StringComparison.Ordinal);

        var duration = families["clarity_format_duration_seconds"];
        Assert.Equal("histogram", duration.Type);
        Assert.Equal(2, duration.Value("clarity_format_duration_seconds_bucket", ("kind", "x"), ("le", "0.1")));
        Assert.Equal(3, duration.Value("clarity_format_duration_seconds_bucket", ("kind", "x"), ("le", "1")));
        Assert.Equal(3, duration.Value("clarity_format_duration_seconds_bucket", ("kind", "x"), ("le", "10")));
        Assert.Equal(4, duration.Value("clarity_format_duration_seconds_bucket", ("kind", "x"), ("le", "+Inf")));
        Assert.Equal(4, duration.Value("clarity_format_duration_seconds_count", ("kind", "x")));
        Assert.Equal(100.65, duration.Value("clarity_format_duration_seconds_sum", ("kind", "x"))!.Value, 6);

        Assert.Equal("gauge", families["clarity_format_inflight"].Type);
        Assert.Equal(3, families["clarity_format_inflight"].Value("clarity_format_inflight"));

        var connections = families["clarity_format_connections"];
        Assert.Equal("gauge", connections.Type);
        Assert.Equal(3, connections.Value("clarity_format_connections", ("transport", "websocket")));
        Assert.Equal(2, connections.Value("clarity_format_connections", ("transport", "sse")));
        Assert.Equal(1024, families["clarity_format_usage_bytes"].Value("clarity_format_usage_bytes"));

        Assert.DoesNotContain("foreign", text, StringComparison.Ordinal);
        Assert.DoesNotContain("other_host", text, StringComparison.Ordinal);

        // Series carry their own labels only: no otel_scope_name (or any other) label added by the exporter.
        Assert.Equal(["transport"], connections.Samples.SelectMany(s => s.Labels.Keys).Distinct());

        var (exit, output) = await PrometheusScrape.PromtoolAsync(text);
        Assert.True(exit == 0 && output.Trim().Length == 0, $"promtool check metrics: exit {exit}\n{output}\n---\n{text}");
    }

    [Fact]
    public async Task Scrape_ObservesGaugesAnew_SoASeriesThatIsNoLongerReportedDisappears()
    {
        var reported = new List<Measurement<int>> { new(1, new KeyValuePair<string, object?>("org", "a")), new(2, new KeyValuePair<string, object?>("org", "b")) };
        ClarityMeter.CreateObservableGauge("clarity.format.level", () => reported.ToArray(), description: "Levels.");

        var (_, first) = await MetricsTests.ScrapeAsync(Host);
        Assert.Equal(2, first["clarity_format_level"].Samples.Count);
        reported.RemoveAt(1);
        var (_, second) = await MetricsTests.ScrapeAsync(Host);
        Assert.Equal(1, Assert.Single(second["clarity_format_level"].Samples).Value);
    }

    [Fact]
    public async Task Scrape_NamesTheServiceInTargetInfo()
    {
        var (_, families) = await MetricsTests.ScrapeAsync(Host);
        Assert.Equal(1, families["target_info"].Value("target_info", ("service_name", "clarity")));
    }

    /// <summary>A Prometheus server asks for OpenMetrics first: it gets it, with the same series names and labels as the text format.</summary>
    [Fact]
    public async Task Scrape_AskingForOpenMetricsAsPrometheusDoes_GetsIt_WithTheSameSeries()
    {
        ClarityMeter.CreateCounter<long>("clarity.format.negotiated", "{thing}", "Negotiated things.").Add(4, new KeyValuePair<string, object?>("org", "acme"));
        var (_, text) = await MetricsTests.ScrapeAsync(Host);

        using var client = Host.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "metrics");
        request.Headers.TryAddWithoutValidation("Accept",
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1");
        using var response = await client.SendAsync(request);
        var openMetrics = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/openmetrics-text", response.Content.Headers.ContentType?.MediaType);
        Assert.EndsWith("# EOF\n", openMetrics, StringComparison.Ordinal);
        Assert.Contains("# TYPE clarity_format_negotiated counter\n", openMetrics, StringComparison.Ordinal);
        Assert.Contains("clarity_format_negotiated_total{org=\"acme\"} 4\n", openMetrics, StringComparison.Ordinal);
        Assert.Equal(4, text["clarity_format_negotiated_total"].Value("clarity_format_negotiated_total", ("org", "acme")));
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
