using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Clarity.Storage;

/// <summary>
/// A SQLite VFS that is the platform's <c>unix</c> VFS except that it hands long writes to a journal's temporary file
/// on in pieces of at most 64 KiB.
/// </summary>
/// <remarks>
/// <para>
/// SQLite keeps a savepoint's journal in memory up to a threshold (<c>SQLITE_CONFIG_STMTJRNL_SPILL</c>) and then moves it
/// to a temporary file, writing what it held in one call. The unix VFS keeps only the low 17 bits of a write's length
/// (<c>seekAndWriteFd</c> in os_unix.c, <c>nBuf &amp;= 0x1ffff</c>, below an assert that release builds drop), so a spill of
/// 128 KiB or more is cut short and the statement fails with <c>SQLITE_FULL</c> (docs/benchmarks.md, run 23;
/// <c>bench/sqlite/stmtjrnl-spill.py</c> shows it without Clarity). Every other write SQLite makes is a page or a WAL
/// frame, far below that.
/// </para>
/// <para>
/// This VFS is a copy of the unix one whose <c>xOpen</c> gives statement and temporary-database journals a copy of
/// the unix file methods with another <c>xWrite</c>, which splits a long write and passes each piece to the unix one.
/// Every other file, and every other method, is the unix VFS's own: the database, its WAL and its shared memory do not
/// pass through managed code at all.
/// </para>
/// </remarks>
internal static unsafe partial class SqliteSplitWritesVfs
{
    /// <summary>The name it is registered under, as SQLite's default VFS.</summary>
    public const string Name = "clarity-unix";

    /// <summary>The longest write handed to the unix VFS at once: half of what it can pass on.</summary>
    internal const int MaxWriteBytes = 64 * 1024;

    private const int SqliteOk = 0;
    private const int OpenTempJournal = 0x00001000; // SQLITE_OPEN_TEMP_JOURNAL
    private const int OpenSubjournal = 0x00002000; // SQLITE_OPEN_SUBJOURNAL

    private static Vfs* _unix;

    /// <summary>
    /// Registers the VFS as SQLite's default, once. False when the default VFS is not SQLite's <c>unix</c> one (Windows),
    /// which leaves everything as it was.
    /// </summary>
    /// <remarks>This initializes SQLite, so process-wide <c>sqlite3_config</c> calls must come first.</remarks>
    public static bool Install()
    {
        if (_unix != null)
        {
            return true;
        }

        Vfs* unix;
        try
        {
            unix = sqlite3_vfs_find(null);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // another SQLite than the bundled e_sqlite3: left as it is
        }

        if (unix == null || unix->iVersion != 3 || Marshal.PtrToStringUTF8((nint)unix->zName) != "unix")
        {
            return false;
        }

        // SQLite keeps the pointer for the life of the process, and so does this.
        var vfs = (Vfs*)NativeMemory.AllocZeroed((nuint)sizeof(Vfs));
        *vfs = *unix;
        vfs->pNext = null;
        vfs->zName = (byte*)Marshal.StringToCoTaskMemUTF8(Name);
        vfs->xOpen = &Open;

        // Set before the VFS is registered, since from then on any thread may open a file through it (registering takes
        // SQLite's main mutex, which publishes it to them).
        _unix = unix;
        if (sqlite3_vfs_register(vfs, makeDefault: 1) != SqliteOk)
        {
            _unix = null;
            Marshal.FreeCoTaskMem((nint)vfs->zName);
            NativeMemory.Free(vfs);
            return false;
        }

        return true;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Open(Vfs* vfs, byte* name, SqliteFile* file, int flags, int* outFlags)
    {
        // The unix VFS reads only its own fields of the VFS it is given (its locking finder, the size of a file), so it
        // is handed its own.
        var rc = _unix->xOpen(_unix, name, file, flags, outFlags);
        if (rc == SqliteOk && (flags & (OpenSubjournal | OpenTempJournal)) != 0 && file->pMethods != null)
        {
            try
            {
                file->pMethods = &SplittingMethods(file->pMethods)->Methods;
            }
            catch (Exception)
            {
                // Nothing may leave a callback from C. The file keeps the unix methods, so a spill past 128 KiB fails its
                // statement as it would without this VFS; nothing is written wrongly.
            }
        }

        return rc;
    }

    // Managed code here only does arithmetic and calls through pointers, so nothing in it can throw.
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Write(SqliteFile* file, byte* data, int amount, long offset)
    {
        var unix = ((PatchedMethods*)file->pMethods)->Unix;
        while (amount > MaxWriteBytes)
        {
            var rc = unix->xWrite(file, data, MaxWriteBytes, offset);
            if (rc != SqliteOk)
            {
                return rc;
            }

            data += MaxWriteBytes;
            offset += MaxWriteBytes;
            amount -= MaxWriteBytes;
        }

        return unix->xWrite(file, data, amount, offset);
    }

    // One patched copy per table of unix file methods seen: in practice one, since every journal file is opened alike.
    private static readonly Lock Patching = new();
    private static PatchedMethods* _patched;

    private static PatchedMethods* SplittingMethods(IoMethods* unix)
    {
        lock (Patching)
        {
            for (var p = _patched; p != null; p = p->Next)
            {
                if (p->Unix == unix)
                {
                    return p;
                }
            }

            var patched = (PatchedMethods*)NativeMemory.AllocZeroed((nuint)sizeof(PatchedMethods));
            Buffer.MemoryCopy(unix, &patched->Methods, sizeof(IoMethods), MethodsBytes(unix->iVersion));
            patched->Methods.iVersion = Math.Min(unix->iVersion, 3); // what this copy holds
            patched->Methods.xWrite = &Write;
            patched->Unix = unix;
            patched->Next = _patched;
            _patched = patched;
            return patched;
        }
    }

    // A methods table is only as long as its version: version 1 ends before the shared-memory methods, 2 before xFetch.
    private static int MethodsBytes(int version) => version switch
    {
        1 => (int)Marshal.OffsetOf<IoMethods>(nameof(IoMethods.xShmMap)),
        2 => (int)Marshal.OffsetOf<IoMethods>(nameof(IoMethods.xFetch)),
        _ => sizeof(IoMethods),
    };

    [LibraryImport("e_sqlite3")]
    private static partial Vfs* sqlite3_vfs_find(byte* name);

    [LibraryImport("e_sqlite3")]
    private static partial int sqlite3_vfs_register(Vfs* vfs, int makeDefault);

    // The C structs of sqlite3.h, field for field (sqlite3_vfs at version 3, sqlite3_io_methods at version 3).
#pragma warning disable IDE1006, SA1307 // the names are SQLite's
    [StructLayout(LayoutKind.Sequential)]
    private struct Vfs
    {
        public int iVersion;
        public int szOsFile;
        public int mxPathname;
        public Vfs* pNext;
        public byte* zName;
        public void* pAppData;
        public delegate* unmanaged[Cdecl]<Vfs*, byte*, SqliteFile*, int, int*, int> xOpen;
        public nint xDelete;
        public nint xAccess;
        public nint xFullPathname;
        public nint xDlOpen;
        public nint xDlError;
        public nint xDlSym;
        public nint xDlClose;
        public nint xRandomness;
        public nint xSleep;
        public nint xCurrentTime;
        public nint xGetLastError;
        public nint xCurrentTimeInt64;
        public nint xSetSystemCall;
        public nint xGetSystemCall;
        public nint xNextSystemCall;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct SqliteFile
    {
        public IoMethods* pMethods;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct IoMethods
    {
        public int iVersion;
        public nint xClose;
        public nint xRead;
        public delegate* unmanaged[Cdecl]<SqliteFile*, byte*, int, long, int> xWrite;
        public nint xTruncate;
        public nint xSync;
        public nint xFileSize;
        public nint xLock;
        public nint xUnlock;
        public nint xCheckReservedLock;
        public nint xFileControl;
        public nint xSectorSize;
        public nint xDeviceCharacteristics;
        public nint xShmMap;
        public nint xShmLock;
        public nint xShmBarrier;
        public nint xShmUnmap;
        public nint xFetch;
        public nint xUnfetch;
    }
#pragma warning restore IDE1006, SA1307

    // The patched table comes first, so a file's pMethods points at both it and the unix table it was copied from.
    [StructLayout(LayoutKind.Sequential)]
    private struct PatchedMethods
    {
        public IoMethods Methods;
        public IoMethods* Unix;
        public PatchedMethods* Next;
    }
}
