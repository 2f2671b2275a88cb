using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Clarity.Storage;

/// <summary>
/// A SQLite VFS that is the platform's <c>unix</c> VFS except in two things: it hands long writes to a journal's
/// temporary file on in pieces of at most 64 KiB, and it gathers the writer's WAL writes of a transaction into few
/// large writes.
/// </summary>
/// <remarks>
/// <para>
/// SQLite keeps a savepoint's journal in memory up to a threshold (<c>SQLITE_CONFIG_STMTJRNL_SPILL</c>) and then moves it
/// to a temporary file, writing what it held in one call. The unix VFS keeps only the low 17 bits of a write's length
/// (<c>seekAndWriteFd</c> in os_unix.c, <c>nBuf &amp;= 0x1ffff</c>, below an assert that release builds drop), so a spill of
/// 128 KiB or more is cut short and the statement fails with <c>SQLITE_FULL</c> (docs/benchmarks.md, run 23;
/// <c>bench/sqlite/stmtjrnl-spill.py</c> shows it without Clarity). Statement and temporary-database journals therefore
/// get a copy of the unix file methods whose <c>xWrite</c> splits a long write and passes each piece to the unix one.
/// </para>
/// <para>
/// SQLite writes each page of a commit to the WAL as a frame of two <c>pwrite</c> calls, its header and its page: about
/// 90 calls per group commit in a workflow step's load, each of them a switch into this virtual machine's kernel
/// (docs/benchmarks.md, run 31). A WAL opened by a connection inside <see cref="GatherWalWrites"/> (the writer's, when it
/// syncs every commit) gets methods whose <c>xWrite</c> copies an appended write into a buffer of
/// <see cref="WalBufferBytes"/> and writes the buffer out, in pieces of <see cref="MaxWriteBytes"/>, before anything that
/// needs the file as written: <c>xSync</c>, <c>xRead</c>, <c>xTruncate</c>, <c>xFileSize</c>, <c>xFileControl</c>,
/// <c>xClose</c>, a write that does not follow the buffer, and a full buffer. A commit with <c>synchronous=FULL</c> or
/// <c>EXTRA</c> syncs the WAL after its last frame and before it publishes the commit in the WAL index, so no other
/// connection can be pointed at a frame still in the buffer, and an acknowledged commit is on disk as before. A buffer
/// therefore only ever holds frames of the transaction in progress; if writing it out fails, the error goes to SQLite
/// from the call that wrote it out (the commit's sync, at the latest), and the transaction fails as it would have. A
/// connection that does not sync its commits (<c>synchronous=NORMAL</c> or <c>OFF</c>) must never gather: its commits
/// would be published with their frames still here.
/// </para>
/// <para>
/// Every other file, and every other method, is the unix VFS's own: the database file and the shared memory do not pass
/// through managed code at all.
/// </para>
/// </remarks>
internal static unsafe partial class SqliteSplitWritesVfs
{
    /// <summary>The name it is registered under, as SQLite's default VFS.</summary>
    public const string Name = "clarity-unix";

    /// <summary>The longest write handed to the unix VFS at once: half of what it can pass on.</summary>
    internal const int MaxWriteBytes = 64 * 1024;

    /// <summary>How much of a transaction's WAL writes a gathering WAL holds before it writes them out: a group commit of a
    /// busy writer is a few hundred KiB.</summary>
    internal const int WalBufferBytes = 1024 * 1024;

    private const int SqliteOk = 0;
    private const int OpenTempJournal = 0x00001000; // SQLITE_OPEN_TEMP_JOURNAL
    private const int OpenSubjournal = 0x00002000; // SQLITE_OPEN_SUBJOURNAL
    private const int OpenWal = 0x00080000; // SQLITE_OPEN_WAL

    private static Vfs* _unix;

    // Where a file's WAL buffer sits: after the unix VFS's own part of the file, which SQLite allocates szOsFile bytes for.
    private static int _bufferOffset;

    [ThreadStatic]
    private static bool t_gatherWal;

    private static long _gatheringWals;
    private static long _walWritesOut;

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
        _bufferOffset = (unix->szOsFile + 7) & ~7;
        vfs->szOsFile = _bufferOffset + sizeof(WalBuffer);

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

    /// <summary>Whether the VFS is installed, so that <see cref="GatherWalWrites"/> has an effect.</summary>
    public static bool Installed => _unix != null;

    /// <summary>
    /// While the returned scope lasts, a WAL that a connection opens on this thread gathers its writes (the class remarks
    /// say how). Only for threads where every connection that writes syncs every commit (<c>synchronous=FULL</c> or
    /// <c>EXTRA</c>); a read-only connection never writes its WAL, so it gathers nothing. SQLite opens a connection's WAL
    /// when the connection first reads a database in WAL mode (a new database's at its first write), and keeps it open
    /// with the connection.
    /// </summary>
    public static GatherScope GatherWalWrites()
    {
        t_gatherWal = true;
        return default;
    }

    /// <summary>WALs opened so far that gather their writes (tests, diagnostics).</summary>
    internal static long GatheringWals => Interlocked.Read(ref _gatheringWals);

    /// <summary>How many times a gathering WAL has written its buffer out (tests, diagnostics).</summary>
    internal static long WalWritesOut => Interlocked.Read(ref _walWritesOut);

    /// <summary>Ends <see cref="GatherWalWrites"/> on this thread.</summary>
    public readonly struct GatherScope : IDisposable
    {
        public void Dispose() => t_gatherWal = false;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Open(Vfs* vfs, byte* name, SqliteFile* file, int flags, int* outFlags)
    {
        // The unix VFS reads only its own fields of the VFS it is given (its locking finder, the size of a file), so it
        // is handed its own.
        var rc = _unix->xOpen(_unix, name, file, flags, outFlags);
        if (rc != SqliteOk || file->pMethods == null)
        {
            return rc;
        }

        try
        {
            if ((flags & (OpenSubjournal | OpenTempJournal)) != 0)
            {
                file->pMethods = &Patched(file->pMethods, wal: false)->Methods;
            }
            else if ((flags & OpenWal) != 0 && t_gatherWal)
            {
                *Buffer(file) = default;
                file->pMethods = &Patched(file->pMethods, wal: true)->Methods;
                Interlocked.Increment(ref _gatheringWals);
            }
        }
        catch (Exception)
        {
            // Nothing may leave a callback from C. The file keeps the unix methods: a journal's spill past 128 KiB fails
            // its statement as it would without this VFS, a WAL writes each frame itself; nothing is written wrongly.
        }

        return rc;
    }

    // Managed code in the file methods only does arithmetic, copies and calls through pointers, so nothing in them can
    // throw (the one allocation catches its failure).
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Write(SqliteFile* file, byte* data, int amount, long offset) =>
        WriteInPieces(Unix(file), file, data, amount, offset);

    private static int WriteInPieces(IoMethods* unix, SqliteFile* file, byte* data, int amount, long offset)
    {
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

    private static IoMethods* Unix(SqliteFile* file) => ((PatchedMethods*)file->pMethods)->Unix;

    private static WalBuffer* Buffer(SqliteFile* file) => (WalBuffer*)((byte*)file + _bufferOffset);

    /// <summary>Writes out what the WAL's buffer holds, and empties it whether or not that succeeded.</summary>
    private static int WriteOut(SqliteFile* file)
    {
        var buffer = Buffer(file);
        if (buffer->Length == 0)
        {
            return SqliteOk;
        }

        var rc = WriteInPieces(Unix(file), file, buffer->Data, buffer->Length, buffer->Start);
        buffer->Length = 0;
        Interlocked.Increment(ref _walWritesOut);
        return rc;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int WalWrite(SqliteFile* file, byte* data, int amount, long offset)
    {
        var buffer = Buffer(file);
        if (buffer->Length > 0 && (offset != buffer->Start + buffer->Length || buffer->Length + amount > WalBufferBytes))
        {
            var rc = WriteOut(file);
            if (rc != SqliteOk)
            {
                return rc;
            }
        }

        if (buffer->Data == null && amount <= WalBufferBytes)
        {
            try
            {
                buffer->Data = (byte*)NativeMemory.AlignedAlloc(WalBufferBytes, 4096);
            }
            catch (OutOfMemoryException)
            {
                // No buffer: this write, and the next ones until one is had, go to the file at once.
            }
        }

        if (buffer->Data == null || amount > WalBufferBytes)
        {
            return WriteInPieces(Unix(file), file, data, amount, offset);
        }

        if (buffer->Length == 0)
        {
            buffer->Start = offset;
        }

        System.Buffer.MemoryCopy(data, buffer->Data + buffer->Length, WalBufferBytes - buffer->Length, amount);
        buffer->Length += amount;
        return SqliteOk;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int WalRead(SqliteFile* file, byte* data, int amount, long offset)
    {
        var rc = WriteOut(file);
        return rc != SqliteOk ? rc : Unix(file)->xRead(file, data, amount, offset);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int WalSync(SqliteFile* file, int flags)
    {
        var rc = WriteOut(file);
        return rc != SqliteOk ? rc : Unix(file)->xSync(file, flags);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int WalTruncate(SqliteFile* file, long size)
    {
        var rc = WriteOut(file);
        return rc != SqliteOk ? rc : Unix(file)->xTruncate(file, size);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int WalFileSize(SqliteFile* file, long* size)
    {
        var rc = WriteOut(file);
        return rc != SqliteOk ? rc : Unix(file)->xFileSize(file, size);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int WalFileControl(SqliteFile* file, int op, void* arg)
    {
        var rc = WriteOut(file);
        return rc != SqliteOk ? rc : Unix(file)->xFileControl(file, op, arg);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int WalClose(SqliteFile* file)
    {
        // What is left belongs to a transaction that did not commit (a commit writes out at its sync): written or not,
        // SQLite never reads it as committed.
        WriteOut(file);
        var buffer = Buffer(file);
        var unix = Unix(file);
        if (buffer->Data != null)
        {
            NativeMemory.AlignedFree(buffer->Data);
            buffer->Data = null;
        }

        return unix->xClose(file);
    }

    // One patched copy per table of unix file methods and kind seen: in practice one of each, since every journal file,
    // and every WAL, is opened alike.
    private static readonly Lock Patching = new();
    private static PatchedMethods* _patched;

    private static PatchedMethods* Patched(IoMethods* unix, bool wal)
    {
        lock (Patching)
        {
            for (var p = _patched; p != null; p = p->Next)
            {
                if (p->Unix == unix && p->Wal == wal)
                {
                    return p;
                }
            }

            var patched = (PatchedMethods*)NativeMemory.AllocZeroed((nuint)sizeof(PatchedMethods));
            System.Buffer.MemoryCopy(unix, &patched->Methods, sizeof(IoMethods), MethodsBytes(unix->iVersion));
            patched->Methods.iVersion = Math.Min(unix->iVersion, 3); // what this copy holds
            if (wal)
            {
                patched->Methods.xWrite = &WalWrite;
                patched->Methods.xRead = &WalRead;
                patched->Methods.xSync = &WalSync;
                patched->Methods.xTruncate = &WalTruncate;
                patched->Methods.xFileSize = &WalFileSize;
                patched->Methods.xFileControl = &WalFileControl;
                patched->Methods.xClose = &WalClose;
            }
            else
            {
                patched->Methods.xWrite = &Write;
            }

            patched->Unix = unix;
            patched->Wal = wal;
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
        public delegate* unmanaged[Cdecl]<SqliteFile*, int> xClose;
        public delegate* unmanaged[Cdecl]<SqliteFile*, byte*, int, long, int> xRead;
        public delegate* unmanaged[Cdecl]<SqliteFile*, byte*, int, long, int> xWrite;
        public delegate* unmanaged[Cdecl]<SqliteFile*, long, int> xTruncate;
        public delegate* unmanaged[Cdecl]<SqliteFile*, int, int> xSync;
        public delegate* unmanaged[Cdecl]<SqliteFile*, long*, int> xFileSize;
        public nint xLock;
        public nint xUnlock;
        public nint xCheckReservedLock;
        public delegate* unmanaged[Cdecl]<SqliteFile*, int, void*, int> xFileControl;
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
        public bool Wal;
    }

    // A gathering WAL's writes of the transaction in progress: Length bytes that belong at Start in the file.
    [StructLayout(LayoutKind.Sequential)]
    private struct WalBuffer
    {
        public byte* Data;
        public long Start;
        public int Length;
    }
}
