using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Clarity.Storage;

/// <summary>
/// Process-wide settings of the SQLite library, applied once before the first connection opens.
/// </summary>
/// <remarks>
/// <para>
/// The bundled SQLite is built "serialized": every call takes the connection's mutex, and every allocation a global one
/// for its memory statistics. Clarity never uses one connection from two threads at once (ADO.NET does not allow it; the
/// writer has its own thread and a read connection serves one request at a time), so it asks for multi-thread mode and no
/// memory statistics, which drops those locks from every statement. SQLite accepts both only before it initialises;
/// when something in the process opened a connection first, the calls are refused and SQLite stays serialized, which
/// is only slower.
/// </para>
/// <para>
/// Every unit of work runs in a savepoint inside its group's transaction, and SQLite keeps the original of each page a
/// savepoint changes in a statement journal. With <c>temp_store=MEMORY</c> that journal is a list of 1 KiB chunks, and
/// whenever a statement's own savepoint ends SQLite walks the list from its head to cut it back: about a tenth of the
/// writer's time in a workflow step (docs/benchmarks.md, run 23). With a spill threshold and <c>temp_store</c> at its
/// default, the journal is instead one block of the threshold's size, cut back at no cost, and only a larger journal
/// moves to a temporary file. That move writes the block in one call, which the unix VFS cuts short past 128 KiB, so the
/// threshold is set only together with <see cref="SqliteSplitWritesVfs"/>; without it SQLite keeps its own default
/// (64 KiB), and the writer keeps <c>temp_store=MEMORY</c>.
/// </para>
/// </remarks>
internal static class SqliteEngine
{
    /// <summary>
    /// How large a statement journal grows in memory before it moves to a temporary file: about a thousand changed pages
    /// of 8 KiB, more than any request's unit of work changes. It is one allocation, made when a savepoint first writes
    /// and freed when the outermost one ends; only the pages the journal fills become resident.
    /// </summary>
    internal const int StatementJournalInMemoryBytes = 8 * 1024 * 1024;

    private const int SqliteConfigStatementJournalSpill = 26; // SQLITE_CONFIG_STMTJRNL_SPILL
    private const int SqliteDefaultStatementJournalSpill = 64 * 1024;

    private static readonly Lock Gate = new();
    private static bool _configured;

    /// <summary>
    /// Whether statement journals are kept as one block in memory (<see cref="StatementJournalInMemoryBytes"/>), behind
    /// the VFS that makes their spill safe. When true, the writer leaves <c>temp_store</c> at its default.
    /// </summary>
    public static bool StatementJournalInOneBlock { get; private set; }

    /// <summary>
    /// Applies the settings once. Every caller returns only once they are applied, so nothing opens a connection, or
    /// reads <see cref="StatementJournalInOneBlock"/>, halfway through.
    /// </summary>
    public static void Configure()
    {
        lock (Gate)
        {
            if (!_configured)
            {
                Apply();
                _configured = true;
            }
        }
    }

    private static void Apply()
    {
        // Microsoft.Data.Sqlite's type initializer loads the native library (the bundle's provider) without opening anything.
        RuntimeHelpers.RunClassConstructor(typeof(SqliteConnection).TypeHandle);
        if (raw.sqlite3_config(raw.SQLITE_CONFIG_MULTITHREAD) != raw.SQLITE_OK)
        {
            return;
        }

        raw.sqlite3_config(raw.SQLITE_CONFIG_MEMSTATUS, 0);

        // The VFS is registered in the bundled e_sqlite3, so the threshold is set only when that is the library in use,
        // and not on Windows, whose VFS is not the unix one.
        if (OperatingSystem.IsWindows() || raw.GetNativeLibraryName() != "e_sqlite3" ||
            raw.sqlite3_config(SqliteConfigStatementJournalSpill, StatementJournalInMemoryBytes) != raw.SQLITE_OK)
        {
            return;
        }

        // Registering the VFS initialises SQLite, so it comes after every setting above.
        if (SqliteSplitWritesVfs.Install())
        {
            StatementJournalInOneBlock = true;
            return;
        }

        // Not SQLite's unix VFS after all: back to SQLite's own threshold. SQLite has just been initialised, under the
        // lock that every opener in Clarity takes first, so no connection is open and it may be shut down.
        raw.sqlite3_shutdown();
        raw.sqlite3_config(SqliteConfigStatementJournalSpill, SqliteDefaultStatementJournalSpill);
    }
}
