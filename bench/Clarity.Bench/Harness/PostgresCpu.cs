using System.Collections.Concurrent;
using System.Globalization;
using Npgsql;

namespace Clarity.Bench.Harness;

/// <summary>
/// The CPU time of a PostgreSQL server on this machine: its postmaster and every process under it (backends, the WAL
/// writer, the checkpointer, autovacuum), from /proc. Backends that ended meanwhile count too: their time moves to the
/// postmaster's cutime + cstime when it reaps them. So the difference between two reads is all the CPU the server
/// spent in between, whoever its client was. Found from a backend's parent: the harness asks the server for its
/// backend's pid, so a second cluster on the same machine is not mixed in.
/// </summary>
public sealed class PostgresCpu
{
    private const int ClockTicksPerSecond = 100;
    private static readonly ConcurrentDictionary<string, Lazy<Task<PostgresCpu?>>> s_byServer = new();

    private PostgresCpu(int postmaster) => Postmaster = postmaster;

    /// <summary>The postmaster's process id.</summary>
    public int Postmaster { get; }

    /// <summary>
    /// The server behind a connection string, when it runs on this machine and /proc shows it; else null (a remote
    /// server, another OS). Looked up once per connection string.
    /// </summary>
    public static Task<PostgresCpu?> ForAsync(string? connectionString) =>
        connectionString is null ? Task.FromResult<PostgresCpu?>(null)
            : s_byServer.GetOrAdd(new NpgsqlConnectionStringBuilder(connectionString) { Database = null }.ConnectionString,
                cs => new Lazy<Task<PostgresCpu?>>(() => FindAsync(connectionString))).Value;

    /// <summary>The server's CPU time so far (the postmaster's, its reaped children's, and its live children's).</summary>
    public TimeSpan Cpu
    {
        get
        {
            var (_, own, reaped) = Read(Postmaster);
            var ticks = own + reaped;
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                var name = Path.GetFileName(dir);
                if (name.Length == 0 || !char.IsAsciiDigit(name[0]))
                {
                    continue;
                }

                try
                {
                    var (parent, childOwn, _) = ParseStat(File.ReadAllText(Path.Combine(dir, "stat")));
                    if (parent == Postmaster)
                    {
                        ticks += childOwn;
                    }
                }
                catch (IOException)
                {
                    // The process ended between the listing and the read; its time is in the postmaster's cutime by now or soon.
                }
                catch (UnauthorizedAccessException)
                {
                    // Another user's process: not one of the server's, which runs as one user and is readable here.
                }
            }

            return TimeSpan.FromSeconds(ticks / (double)ClockTicksPerSecond);
        }
    }

    private static async Task<PostgresCpu?> FindAsync(string connectionString)
    {
        if (!Directory.Exists("/proc/self"))
        {
            return null;
        }

        try
        {
            await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT pg_backend_pid()", connection);
            var backend = (int)(await command.ExecuteScalarAsync())!;
            var (postmaster, _, _) = Read(backend);
            return postmaster > 1 && File.Exists($"/proc/{postmaster}/stat") ? new PostgresCpu(postmaster) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NpgsqlException)
        {
            // Not on this machine (the pid is another machine's, or not ours to read).
            return null;
        }
    }

    private static (int Parent, long Own, long Reaped) Read(int pid) => ParseStat(File.ReadAllText($"/proc/{pid}/stat"));

    // After the command name (in parentheses, may hold spaces): state is field 3, ppid 4, utime 14, stime 15, cutime 16, cstime 17.
    private static (int Parent, long Own, long Reaped) ParseStat(string stat)
    {
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        long F(int field) => long.Parse(fields[field - 3], CultureInfo.InvariantCulture);
        return ((int)F(4), F(14) + F(15), F(16) + F(17));
    }
}
