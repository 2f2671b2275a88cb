using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Clarity.Storage;

/// <summary>
/// Process-wide settings of the SQLite library, applied once before the first connection opens.
/// </summary>
/// <remarks>
/// The bundled SQLite is built "serialized": every call takes the connection's mutex, and every allocation a global one
/// for its memory statistics. Clarity never uses one connection from two threads at once (ADO.NET does not allow it; the
/// writer has its own thread and a read connection serves one request at a time), so it asks for multi-thread mode and no
/// memory statistics, which drops those locks from every statement. SQLite accepts both only before it initialises;
/// when something in the process opened a connection first, the calls are refused and SQLite stays serialized, which
/// is only slower.
/// </remarks>
internal static class SqliteEngine
{
    private static int _configured;

    public static void Configure()
    {
        if (Interlocked.Exchange(ref _configured, 1) != 0)
        {
            return;
        }

        // Microsoft.Data.Sqlite's type initializer loads the native library (the bundle's provider) without opening anything.
        RuntimeHelpers.RunClassConstructor(typeof(SqliteConnection).TypeHandle);
        if (raw.sqlite3_config(raw.SQLITE_CONFIG_MULTITHREAD) == raw.SQLITE_OK)
        {
            raw.sqlite3_config(raw.SQLITE_CONFIG_MEMSTATUS, 0);
        }
    }
}
