using System.Globalization;

namespace Clarity.Bench.Harness;

/// <summary>
/// The CPU time of this process's threads with a given name, from /proc/self/task/&lt;tid&gt;/stat (utime + stime), e.g.
/// the SQLite writer thread of an in-process server ("clarity-sqlite-writer", which the kernel keeps as its first 15
/// characters). Zero where /proc is not available.
/// </summary>
public static class ThreadCpu
{
    /// <summary>The in-process SQLite server's one writer thread: every write runs on it, so its CPU per operation bounds the write rate.</summary>
    public const string SqliteWriter = "clarity-sqlite-writer";

    private const int ClockTicksPerSecond = 100;

    public static TimeSpan Of(string threadName)
    {
        var comm = threadName.Length > 15 ? threadName[..15] : threadName;
        long ticks = 0;
        try
        {
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                try
                {
                    if (File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') != comm)
                    {
                        continue;
                    }

                    var stat = File.ReadAllText(Path.Combine(task, "stat"));
                    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
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

        return TimeSpan.FromSeconds(ticks / (double)ClockTicksPerSecond);
    }
}
