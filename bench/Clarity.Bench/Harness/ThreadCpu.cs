using System.Globalization;

namespace Clarity.Bench.Harness;

/// <summary>
/// The CPU time of a process's threads with a given name, from /proc/&lt;pid&gt;/task/&lt;tid&gt;/stat (utime + stime), e.g.
/// the SQLite writer thread of a server ("clarity-sqlite-writer", which the kernel keeps as its first 15 characters; no
/// other thread of the server shares them). Zero where /proc is not available.
/// </summary>
public static class ThreadCpu
{
    /// <summary>The in-process SQLite server's one writer thread: every write runs on it, so its CPU per operation bounds the write rate.</summary>
    public const string SqliteWriter = "clarity-sqlite-writer";

    private const int ClockTicksPerSecond = 100;

    /// <param name="processId">The server's process with --server-process; null for this process (an in-process server).</param>
    public static TimeSpan Of(string threadName, int? processId = null)
    {
        var comm = threadName.Length > 15 ? threadName[..15] : threadName;
        long ticks = 0;
        try
        {
            foreach (var task in Directory.EnumerateDirectories(processId is { } pid ? $"/proc/{pid}/task" : "/proc/self/task"))
            {
                try
                {
                    if (File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') != comm)
                    {
                        continue;
                    }

                    ticks += Ticks(File.ReadAllText(Path.Combine(task, "stat")));
                }
                catch (IOException)
                {
                    // The thread ended meanwhile.
                }
            }
        }
        catch (IOException)
        {
            return TimeSpan.Zero;
        }

        return FromTicks(ticks);
    }

    /// <summary>utime + stime of a /proc/&lt;pid&gt;/stat (a process, all its threads) or /proc/&lt;pid&gt;/task/&lt;tid&gt;/stat (one thread).</summary>
    public static TimeSpan FromStat(string stat) => FromTicks(Ticks(stat));

    // Fields after the command name (which is in parentheses and may hold spaces): state is field 3, utime 14, stime 15.
    private static long Ticks(string stat)
    {
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    // USER_HZ, the unit of those times: 100 on every Linux architecture .NET runs on.
    private static TimeSpan FromTicks(long ticks) => TimeSpan.FromSeconds(ticks / (double)ClockTicksPerSecond);
}
