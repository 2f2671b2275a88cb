using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Clarity.Events.Audit;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Clarity.Tests.Features.Audit;

/// <summary>The SIEM forwarder against real syslog listeners on loopback (TCP with octet counting, and UDP).</summary>
public abstract partial class SiemForwarderTests(Backend backend)
{
    // RFC 5424: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA [SP MSG]
    [GeneratedRegex(@"^<(?<pri>\d{1,3})>1 (?<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?<host>[!-~]{1,255}) (?<app>[!-~]{1,48}) (?<proc>[!-~]{1,128}) (?<msgid>[!-~]{1,32}) (?<sd>\[clarity@32473(?: [a-z]+=""[^""\\\]]*"")+\]) (?<msg>.*)$", RegexOptions.Singleline)]
    private static partial Regex Rfc5424();

    [GeneratedRegex(@"position=""(\d+)""")]
    private static partial Regex Position();

    [Fact]
    public async Task Forward_OverTcp_DeliversEveryEntryParseable_AndResumesAfterReceiverOutageWithoutLoss()
    {
        using var receiver = new TcpReceiver();
        var host = await ClarityHost.StartAsync(backend, new Dictionary<string, string?>
        {
            ["Clarity:Siem:Host"] = "127.0.0.1",
            ["Clarity:Siem:Port"] = receiver.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Clarity:Siem:Protocol"] = "tcp",
            ["Clarity:Siem:MaxRetrySeconds"] = "1",
        });
        try
        {
            await host.SetupAsync("acme");
            var org = await host.OrgIdAsync("acme");
            await host.WriteEntriesAsync(org, 20);
            var newest = await NewestAsync(host);
            await WaitForAsync(() => receiver.Positions().Contains(newest), "the first entries to arrive");

            receiver.Stop();
            await host.WriteEntriesAsync(org, 20, "test.during-outage");
            await Task.Delay(1500); // the forwarder meets the closed port and backs off
            receiver.Start();
            await host.WriteEntriesAsync(org, 5, "test.after-outage");
            newest = await NewestAsync(host);
            await WaitForAsync(() => receiver.Positions().Contains(newest), "the entries after the outage to arrive");

            var messages = receiver.Messages.ToList();
            var positions = messages.Select(ParsePosition).ToList();
            Assert.Equal(Enumerable.Range(1, (int)newest).Select(p => (long)p), positions.Distinct().Order());
            Assert.All(positions.GroupBy(p => p), g => Assert.True(g.Count() <= 2, $"position {g.Key} arrived {g.Count()} times"));
            Assert.Contains(messages, m => m.Contains("test.during-outage", StringComparison.Ordinal));
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    [Fact]
    public async Task Forward_OverUdpWithCef_DeliversEachEntryAsOneParseableDatagram()
    {
        using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)udp.Client.LocalEndPoint!).Port;
        var host = await ClarityHost.StartAsync(backend, new Dictionary<string, string?>
        {
            ["Clarity:Siem:Host"] = "127.0.0.1",
            ["Clarity:Siem:Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Clarity:Siem:Protocol"] = "udp",
            ["Clarity:Siem:Format"] = "cef",
        });
        try
        {
            await host.SetupAsync("acme");
            await host.WriteEntriesAsync(await host.OrgIdAsync("acme"), 10);
            var newest = await NewestAsync(host);
            var seen = new HashSet<long>();
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (!seen.Contains(newest))
            {
                var datagram = await udp.ReceiveAsync(deadline.Token);
                var text = Encoding.UTF8.GetString(datagram.Buffer);
                var m = Rfc5424().Match(text);
                Assert.True(m.Success, $"not RFC 5424: {text}");
                Assert.StartsWith("CEF:0|Clarity|Clarity|1|", m.Groups["msg"].Value, StringComparison.Ordinal);
                Assert.Contains($"act={m.Groups["msgid"].Value}", m.Groups["msg"].Value, StringComparison.Ordinal);
                seen.Add(long.Parse(Position().Match(m.Groups["sd"].Value).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    private static long ParsePosition(string message)
    {
        var m = Rfc5424().Match(message);
        Assert.True(m.Success, $"not RFC 5424: {message}");
        var msg = m.Groups["msg"].Value;
        Assert.StartsWith("\uFEFF", msg, StringComparison.Ordinal); // a UTF-8 MSG starts with the BOM
        using var entry = JsonDocument.Parse(msg[1..]);
        Assert.Equal(m.Groups["msgid"].Value, entry.RootElement.GetProperty("action").GetString());
        Assert.Equal(13 * 8 + 6, int.Parse(m.Groups["pri"].Value, System.Globalization.CultureInfo.InvariantCulture));
        return long.Parse(Position().Match(m.Groups["sd"].Value).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static Task<long> NewestAsync(ClarityHost host) =>
        host.Services.GetRequiredService<AuditLog>().NewestPositionAsync(CancellationToken.None);

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        for (var i = 0; i < 600 && !condition(); i++)
        {
            await Task.Delay(100);
        }

        Assert.True(condition(), $"timed out waiting for {what}");
    }

    /// <summary>A syslog receiver over TCP with RFC 6587 octet-counting framing; it can be stopped and started again on the same port.</summary>
    private sealed class TcpReceiver : IDisposable
    {
        private readonly ConcurrentQueue<string> _messages = new();
        private readonly List<TcpClient> _clients = [];
        private TcpListener? _listener;
        private CancellationTokenSource _stop = new();

        public TcpReceiver()
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            Start();
        }

        public int Port { get; }

        public IReadOnlyCollection<string> Messages => _messages;

        public HashSet<long> Positions() => [.. _messages.Select(m => long.Parse(Position().Match(m).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))];

        public void Start()
        {
            _stop = new CancellationTokenSource();
            _listener = new TcpListener(IPAddress.Loopback, Port);
            _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _listener.Start();
            _ = AcceptAsync(_listener, _stop.Token);
        }

        public void Stop()
        {
            _stop.Cancel();
            _listener?.Stop();
            lock (_clients)
            {
                foreach (var c in _clients)
                {
                    c.Dispose();
                }

                _clients.Clear();
            }
        }

        private async Task AcceptAsync(TcpListener listener, CancellationToken ct)
        {
            try
            {
                while (!ct.IsCancellationRequested)
                {
                    var client = await listener.AcceptTcpClientAsync(ct);
                    lock (_clients)
                    {
                        _clients.Add(client);
                    }

                    _ = ReadAsync(client, ct);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        private async Task ReadAsync(TcpClient client, CancellationToken ct)
        {
            try
            {
                var stream = client.GetStream();
                while (true)
                {
                    // MSG-LEN SP SYSLOG-MSG
                    var length = 0;
                    int b;
                    while ((b = await ReadByteAsync(stream, ct)) != ' ')
                    {
                        if (b is < '0' or > '9')
                        {
                            throw new InvalidDataException($"bad frame length byte {b}");
                        }

                        length = (length * 10) + (b - '0');
                    }

                    var message = new byte[length];
                    await stream.ReadExactlyAsync(message, ct);
                    _messages.Enqueue(Encoding.UTF8.GetString(message));
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or EndOfStreamException or ObjectDisposedException or SocketException)
            {
            }
        }

        private static async Task<int> ReadByteAsync(NetworkStream stream, CancellationToken ct)
        {
            var one = new byte[1];
            await stream.ReadExactlyAsync(one, ct);
            return one[0];
        }

        public void Dispose()
        {
            Stop();
            _stop.Dispose();
        }
    }
}

public sealed class SqliteSiemForwarderTests() : SiemForwarderTests(Backend.Sqlite);

public sealed class PostgresSiemForwarderTests() : SiemForwarderTests(Backend.Postgres);
