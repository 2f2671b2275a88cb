using System.Diagnostics;

namespace Clarity.Bench.Harness;

/// <summary>
/// The measured window of a closed-loop load scenario. The load starts first and runs through the warm-up; it counts
/// only what it finishes while <see cref="IsOpen"/>, and stops when <see cref="Stopping"/>. <see cref="RunAsync"/> waits
/// out the warm-up, holds the window open, and measures it: wall time, machine and process CPU, the SQLite writer
/// thread's CPU, and with --server-process the server's own CPU.
/// </summary>
public sealed class MeasuredWindow
{
    private int _open;
    private int _stopping;

    public bool IsOpen => Volatile.Read(ref _open) == 1;

    public bool Stopping => Volatile.Read(ref _stopping) == 1;

    public double Seconds { get; private set; }

    /// <summary>Machine CPU busy, in percent of all cores (PostgreSQL and other processes count too).</summary>
    public double MachinePercent { get; private set; }

    /// <summary>This process's CPU, in percent of all cores.</summary>
    public double ProcessPercent { get; private set; }

    public double ProcessCpuMs { get; private set; }

    /// <summary>The SQLite writer thread's CPU, in this process or in the server's own (zero with PostgreSQL).</summary>
    public double WriterCpuMs { get; private set; }

    /// <summary>The server process's own CPU with --server-process; null in-process.</summary>
    public double? ServerCpuMs { get; private set; }

    /// <summary>PostgreSQL's own CPU (all its processes) on the PostgreSQL backend when it runs on this machine; else null.</summary>
    public double? PostgresCpuMs { get; private set; }

    /// <summary>The whole machine's busy CPU milliseconds over the window (every process, all cores).</summary>
    public double MachineCpuMs { get; private set; }

    /// <summary>
    /// Reports PostgreSQL's own CPU and the whole machine's CPU per unit of work, when PostgreSQL's is known: with the
    /// server's and the load generator's, where a unit's CPU goes on this machine.
    /// </summary>
    public void ReportPostgresCpu(Report report, string scenario, Backend backend, long count, string per = "lifecycle")
    {
        if (PostgresCpuMs is { } postgres)
        {
            ReportPostgresCpu(report, scenario, backend, postgres, MachineCpuMs, count, per);
        }
    }

    /// <inheritdoc cref="ReportPostgresCpu(Report, string, Backend, long, string)"/>
    public static void ReportPostgresCpu(Report report, string scenario, Backend backend, double postgresMs, double machineMs, long count, string per, string? prefix = null)
    {
        report.Add(scenario, backend, $"{prefix}PostgreSQL CPU per {per}", postgresMs / count, "ms",
            notes: $"every process of the local PostgreSQL server (/proc: the postmaster, its children, and those reaped); alone on {Environment.ProcessorCount} cores it would allow ≈ {Report.Format(Environment.ProcessorCount * 1000 * count / postgresMs)} {per}s/s");
        report.Add(scenario, backend, $"{prefix}machine CPU per {per}", machineMs / count, "ms",
            notes: $"every process on the machine (/proc/stat busy time); {Environment.ProcessorCount} cores at this cost allow ≈ {Report.Format(Environment.ProcessorCount * 1000 * count / machineMs)} {per}s/s");
    }

    /// <summary>With --server-process: how the machine's CPU split between the server process and this one (the load generator).</summary>
    public string ServerProcessSplit =>
        $"server process: {100 * (ServerCpuMs ?? 0) / (Seconds * 1000 * Environment.ProcessorCount):F0}%, load generator: {ProcessPercent:F0}% of {Environment.ProcessorCount} cores";

    /// <summary>
    /// Reports the SQLite writer thread's CPU per unit of work over the window (a lifecycle, an acknowledged log line),
    /// when there is one: every write runs on that thread, so its CPU per unit bounds the write rate.
    /// </summary>
    /// <param name="per">What <paramref name="count"/> counts, singular ("lifecycle", "line").</param>
    /// <param name="inMicroseconds">Report the CPU per unit in µs rather than ms (for small units such as a log line).</param>
    public void ReportWriterCpu(Report report, string scenario, Backend backend, long count, string per = "lifecycle", bool inMicroseconds = false)
    {
        if (backend == Backend.Sqlite && WriterCpuMs > 0)
        {
            report.Add(scenario, backend, $"writer thread CPU per {per}", WriterCpuMs * (inMicroseconds ? 1000 : 1) / count, inMicroseconds ? "µs" : "ms",
                notes: $"busy {100 * WriterCpuMs / (Seconds * 1000):F0}% of the window; alone it would allow ≈ {1000 * count / WriterCpuMs:N0} {per}s/s");
        }
    }

    /// <param name="length">The window's length: <see cref="BenchOptions.Duration"/> unless a scenario takes less.</param>
    /// <param name="atOpen">Runs just before the window opens (a scenario's own counters).</param>
    /// <param name="atClose">Runs just after it closes, before the load is told to stop.</param>
    public async Task RunAsync(BenchOptions options, BenchServer? server = null, TimeSpan? length = null, Action? atOpen = null, Action? atClose = null)
    {
        await Task.Delay(options.Warmup);
        atOpen?.Invoke();
        var cpu = new CpuMeter(server);
        var writerAtStart = ThreadCpu.Of(ThreadCpu.SqliteWriter, server?.ServerProcessId);
        var started = Stopwatch.GetTimestamp();
        Volatile.Write(ref _open, 1);
        await Task.Delay(length ?? options.Duration);
        Volatile.Write(ref _open, 0);
        Seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        atClose?.Invoke();
        (MachinePercent, ProcessPercent, ProcessCpuMs) = cpu.Stop();
        ServerCpuMs = cpu.ServerCpuMs;
        PostgresCpuMs = cpu.PostgresCpuMs;
        MachineCpuMs = cpu.MachineCpuMs;
        WriterCpuMs = (ThreadCpu.Of(ThreadCpu.SqliteWriter, server?.ServerProcessId) - writerAtStart).TotalMilliseconds;
        Volatile.Write(ref _stopping, 1);
    }
}
