using System.Diagnostics;
using System.Globalization;

namespace Clarity.Bench.Harness;

/// <summary>
/// How busy the machine and this process were over a window: machine-wide from /proc/stat (so PostgreSQL and
/// other processes count too), and this process (server + load generator) from its CPU time; given a server in its
/// own process (--server-process), also that server's CPU; given a PostgreSQL server on this machine (the server's
/// backend, or <paramref name="postgres"/>), also PostgreSQL's own CPU.
/// </summary>
public sealed class CpuMeter(BenchServer? server = null, PostgresCpu? postgres = null)
{
    private readonly PostgresCpu? _postgres = postgres ?? server?.Postgres;
    private readonly (long Busy, long Total) _machineStart = ReadMachine();
    private readonly TimeSpan _processStart = Process.GetCurrentProcess().TotalProcessorTime;
    private readonly TimeSpan? _serverStart = server?.ServerCpu;
    private readonly TimeSpan? _postgresStart = (postgres ?? server?.Postgres)?.Cpu;
    private readonly long _started = Stopwatch.GetTimestamp();

    /// <summary>Machine CPU busy from start to <see cref="Stop"/>, in percent of all cores.</summary>
    public double MachinePercent { get; private set; }

    /// <summary>The wall time from start to <see cref="Stop"/>, in seconds.</summary>
    public double Seconds { get; private set; }

    /// <summary>The server process's CPU milliseconds from start to <see cref="Stop"/>; null in-process or without a server.</summary>
    public double? ServerCpuMs { get; private set; }

    /// <summary>PostgreSQL's own CPU milliseconds (all its processes) from start to <see cref="Stop"/>; null without a local PostgreSQL.</summary>
    public double? PostgresCpuMs { get; private set; }

    /// <summary>The whole machine's busy CPU milliseconds from start to <see cref="Stop"/> (every process, all cores).</summary>
    public double MachineCpuMs => MachinePercent / 100 * Environment.ProcessorCount * Seconds * 1000;

    /// <summary>Machine CPU busy in percent of all cores, this process's CPU in percent of all cores, and its CPU milliseconds.</summary>
    public (double MachinePercent, double ProcessPercent, double ProcessCpuMs) Stop()
    {
        var wall = Stopwatch.GetElapsedTime(_started);
        Seconds = wall.TotalSeconds;
        ServerCpuMs = (server?.ServerCpu - _serverStart)?.TotalMilliseconds;
        PostgresCpuMs = (_postgres?.Cpu - _postgresStart)?.TotalMilliseconds;
        var (busy, total) = ReadMachine();
        var machine = MachinePercent = total - _machineStart.Total > 0 ? 100.0 * (busy - _machineStart.Busy) / (total - _machineStart.Total) : double.NaN;
        var cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - _processStart).TotalMilliseconds;
        var process = 100.0 * cpuMs / (wall.TotalMilliseconds * Environment.ProcessorCount);
        return (machine, process, cpuMs);
    }

    private static (long Busy, long Total) ReadMachine()
    {
        try
        {
            var first = File.ReadLines("/proc/stat").First();
            var fields = first.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
            var total = fields.Sum();
            var idle = fields[3] + fields[4];
            return (total - idle, total);
        }
        catch (IOException)
        {
            return (0, 0);
        }
    }
}
