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
        WriterCpuMs = (ThreadCpu.Of(ThreadCpu.SqliteWriter, server?.ServerProcessId) - writerAtStart).TotalMilliseconds;
        Volatile.Write(ref _stopping, 1);
    }
}
