using System.Data.Common;
using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Clarity.Tests.Storage;

/// <summary>
/// SQLite's group commit: the work units of work hand to the end of their group (merged by key, dropped with a unit
/// that fails, failing the whole group if it fails itself), and the checkpoints that run beside the writer.
/// </summary>
public sealed class SqliteGroupCommitTests : IAsyncLifetime
{
    private SqliteDatabase _db = null!;
    private string _dir = null!;

    private string DatabaseFile => Path.Combine(_dir, "clarity.db");

    public async Task InitializeAsync()
    {
        _dir = TestDatabases.NewTempDirectory();
        _db = new SqliteDatabase(DatabaseFile, "FULL", NullLogger<SqliteDatabase>.Instance);
        await _db.WriteAsync((c, t) => c.ExecuteAsync(
            "CREATE TABLE probe (id INTEGER PRIMARY KEY, v TEXT NOT NULL); CREATE TABLE merged (key TEXT NOT NULL, v TEXT NOT NULL)", transaction: t));
    }

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        TestDatabases.DeleteDirectory(_dir);
    }

    /// <summary>Group-end work that writes its key and every merged value, in order, as one row of <c>merged</c>.</summary>
    private sealed class ProbeWork(string key, string value, bool fails = false) : SqliteDatabase.GroupWork
    {
        private readonly List<string> _values = [value];
        private bool _fails = fails;

        public override string Key => key;

        public override void Merge(SqliteDatabase.GroupWork later)
        {
            var other = (ProbeWork)later;
            _values.AddRange(other._values);
            _fails |= other._fails;
        }

        public override void Run(SqliteConnection connection, SqliteTransaction transaction)
        {
            connection.Execute("INSERT INTO merged (key, v) VALUES (@key, @v)", new { key, v = string.Join(',', _values) }, transaction);
            if (_fails)
            {
                throw new InvalidOperationException("group-end work failed");
            }
        }
    }

    /// <summary>Holds the writer inside a write until the gate is released, so that what is queued meanwhile commits as one group.</summary>
    private Task<(SemaphoreSlim Gate, Task Held)> HoldWriterAsync() => SqliteWriterHold.HoldAsync(_db);

    private Task<int> Unit(int id, string? key = null, bool unitFails = false, bool workFails = false) =>
        _db.WriteAsync(async (c, t) =>
        {
            await c.ExecuteAsync("INSERT INTO probe (id, v) VALUES (@id, 'unit')", new { id }, t);
            if (key is not null)
            {
                _db.AtGroupEnd(new ProbeWork(key, id.ToString(System.Globalization.CultureInfo.InvariantCulture), workFails));
            }

            return unitFails ? throw new InvalidOperationException("unit failed") : id;
        });

    private async Task<List<(string Key, string V)>> MergedAsync()
    {
        await using var c = await _db.OpenReadAsync();
        return (await c.QueryAsync<(string, string)>("SELECT key, v FROM merged ORDER BY rowid")).AsList();
    }

    private async Task<List<long>> ProbesAsync()
    {
        await using var c = await _db.OpenReadAsync();
        return (await c.QueryAsync<long>("SELECT id FROM probe ORDER BY id")).AsList();
    }

    [Fact]
    public async Task GroupEndWork_OfSeveralUnits_IsMergedByKey_AndRunsOncePerKey_InTheGroupsTransaction()
    {
        var (gate, held) = await HoldWriterAsync();
        var units = new[] { Unit(1, "a"), Unit(2, "b"), Unit(3, "a"), Unit(4), Unit(5, "a") };
        gate.Release();
        await held;
        var ids = await Task.WhenAll(units);
        Assert.Equal([1, 2, 3, 4, 5], ids);

        Assert.Equal([("a", "1,3,5"), ("b", "2")], await MergedAsync());
        Assert.Equal([1L, 2, 3, 4, 5], await ProbesAsync());
    }

    [Fact]
    public async Task GroupEndWork_OfAUnitThatFails_IsDroppedWithIt_AndTheOtherUnitsCommit()
    {
        var (gate, held) = await HoldWriterAsync();
        var first = Unit(1, "a");
        var failing = Unit(2, "a", unitFails: true);
        var last = Unit(3, "a");
        gate.Release();
        await held;

        Assert.Equal(1, await first);
        Assert.Equal("unit failed", (await Assert.ThrowsAsync<InvalidOperationException>(() => failing)).Message);
        Assert.Equal(3, await last);
        Assert.Equal([("a", "1,3")], await MergedAsync());
        Assert.Equal([1L, 3], await ProbesAsync());
    }

    [Fact]
    public async Task GroupEndWork_ThatFails_FailsEveryUnitOfTheGroup_AndNothingOfTheGroupCommits_ButTheNextGroupDoes()
    {
        var (gate, held) = await HoldWriterAsync();
        var units = new[] { Unit(1, "a"), Unit(2, "b", workFails: true), Unit(3) };
        gate.Release();
        await held;

        foreach (var unit in units)
        {
            Assert.Equal("group-end work failed", (await Assert.ThrowsAsync<InvalidOperationException>(() => unit)).Message);
        }

        Assert.Empty(await MergedAsync());
        Assert.Empty(await ProbesAsync());

        Assert.Equal(4, await Unit(4, "c"));
        Assert.Equal([("c", "4")], await MergedAsync());
        Assert.Equal([4L], await ProbesAsync());
    }

    [Fact]
    public async Task AUnitThatChangesTenMegabytesOfPages_RollsBackOnlyItselfWhenItFails_AndCommitsWhenItDoesNot()
    {
        // Each unit's savepoint keeps the original of every page it changes in SQLite's statement journal. Rows of 8,000
        // characters take a page each, so this unit journals about 10 MiB. A statement journal that spills to a file past
        // a threshold of 128 KiB or more (SQLITE_CONFIG_STMTJRNL_SPILL) fails here with "database or disk is full": SQLite's
        // unix VFS keeps only the low 17 bits of a write's length, and the spill writes the in-memory journal in one piece (run 23).
        const int RowBytes = 8_000;
        const int Rows = 1_250;
        await _db.WriteAsync((c, t) => c.ExecuteAsync(
            "WITH RECURSIVE n(i) AS (SELECT 100 UNION ALL SELECT i + 1 FROM n WHERE i < @last) " +
            "INSERT INTO probe (id, v) SELECT i, replace(hex(zeroblob(@half)), '0', 'a') FROM n",
            new { last = 100 + Rows - 1, half = RowBytes / 2 }, t));

        Task<int> ChangeAll(string to, bool fails) => _db.WriteAsync(async (c, t) =>
        {
            Assert.Equal(Rows, await c.ExecuteAsync("UPDATE probe SET v = @to WHERE id >= 100", new { to }, t));
            return fails ? throw new InvalidOperationException("big unit failed") : Rows;
        });

        var (gate, held) = await HoldWriterAsync();
        var first = Unit(1);
        var failing = ChangeAll("changed", fails: true);
        var last = Unit(3);
        gate.Release();
        await held;

        Assert.Equal(1, await first);
        Assert.Equal("big unit failed", (await Assert.ThrowsAsync<InvalidOperationException>(() => failing)).Message);
        Assert.Equal(3, await last);
        await using (var c = await _db.OpenReadAsync())
        {
            Assert.Equal((long)Rows * RowBytes, await c.ExecuteScalarAsync<long>("SELECT sum(length(v)) FROM probe WHERE id >= 100"));
            Assert.Equal(0L, await c.ExecuteScalarAsync<long>("SELECT count(*) FROM probe WHERE v <> replace(hex(zeroblob(@half)), '0', 'a') AND id >= 100", new { half = RowBytes / 2 }));
        }

        Assert.Equal(Rows, await ChangeAll("changed", fails: false));
        await using (var c = await _db.OpenReadAsync())
        {
            Assert.Equal((long)Rows, await c.ExecuteScalarAsync<long>("SELECT count(*) FROM probe WHERE v = 'changed'"));
            Assert.Equal([1L, 3], (await c.QueryAsync<long>("SELECT id FROM probe WHERE id < 100 ORDER BY id")).AsList());
        }
    }

    [Fact]
    public async Task AtGroupEnd_OutsideAUnitOfWork_IsRefused()
    {
        Assert.Throws<InvalidOperationException>(() => _db.AtGroupEnd(new ProbeWork("a", "outside")));

        // Nor does work handed over outside leak into the next group.
        Assert.Equal(1, await Unit(1));
        Assert.Empty(await MergedAsync());
    }

    [Fact]
    public async Task Checkpoints_CopyCommittedPages_IntoTheDatabaseFile_WithoutTheWriterCheckpointing()
    {
        // 2 MiB is far below the WAL size at which the writer checkpoints itself (SqliteDatabase.WriterCheckpointPages).
        const int Bytes = 2 * 1024 * 1024;
        Assert.True(Bytes < SqliteDatabase.WriterCheckpointPages * 4096L / 4);
        var before = new FileInfo(DatabaseFile).Length;
        await _db.WriteAsync((c, t) => c.ExecuteAsync("INSERT INTO probe (id, v) VALUES (1, @v)", new { v = new string('x', Bytes) }, t));

        // The database file grows once the checkpointer thread has copied the pages out of the WAL.
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (new FileInfo(DatabaseFile).Length < before + Bytes)
        {
            await Task.Delay(50, deadline.Token);
        }

        await using var c = new SqliteConnection($"Data Source={DatabaseFile};Mode=ReadOnly;Pooling=false");
        Assert.Equal(Bytes, await c.ExecuteScalarAsync<long>("SELECT length(v) FROM probe WHERE id = 1"));
    }
}
