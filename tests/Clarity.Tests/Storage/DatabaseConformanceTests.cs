using Clarity.Storage;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Clarity.Tests.Storage;

/// <summary>The storage contract every feature relies on, checked on both backends.</summary>
public abstract class DatabaseConformanceTests(Backend backend) : IAsyncLifetime
{
    private Database _db = null!;
    private string _dir = null!;

    public async Task InitializeAsync()
    {
        _dir = TestDatabases.NewTempDirectory();
        _db = await MigratedDatabases.CreateAsync(backend, _dir);
        await _db.WriteAsync((c, t) => c.ExecuteAsync("CREATE TABLE probe (id INTEGER PRIMARY KEY, v TEXT NOT NULL)", transaction: t));
    }

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        TestDatabases.DeleteDirectory(_dir);
    }

    private async Task<long> CountAsync(string where = "1 = 1")
    {
        await using var c = await _db.OpenReadAsync();
        return await c.ExecuteScalarAsync<long>($"SELECT COUNT(*) FROM probe WHERE {where}");
    }

    [Fact]
    public async Task Write_WhenWorkThrows_RollsBackItsOwnChangesOnly()
    {
        var failing = _db.WriteAsync(async (c, t) =>
        {
            await c.ExecuteAsync("INSERT INTO probe (id, v) VALUES (1, 'partial')", transaction: t);
            throw new InvalidOperationException("boom");
        });
        var succeeding = Enumerable.Range(2, 20).Select(i => _db.WriteAsync((c, t) => c.ExecuteAsync("INSERT INTO probe (id, v) VALUES (@i, 'ok')", new { i }, t))).ToList();

        await Assert.ThrowsAsync<InvalidOperationException>(() => failing);
        await Task.WhenAll(succeeding);
        Assert.Equal(0, await CountAsync("id = 1"));
        Assert.Equal(20, await CountAsync("v = 'ok'"));
    }

    [Fact]
    public async Task Write_ManyConcurrentWrites_AllCommitBeforeTheyAnswer()
    {
        await Task.WhenAll(Enumerable.Range(1, 300).Select(i =>
            _db.WriteAsync((c, t) => c.ExecuteAsync("INSERT INTO probe (id, v) VALUES (@i, 'x')", new { i }, t))));

        Assert.Equal(300, await CountAsync());
    }

    [Fact]
    public async Task WriteBackground_CommitsBeforeItAnswers_AndAFailureRollsBackOnlyItself()
    {
        var failing = _db.WriteBackgroundAsync<int>(async (c, t) =>
        {
            await c.ExecuteAsync("INSERT INTO probe (id, v) VALUES (1, 'partial')", transaction: t);
            throw new InvalidOperationException("boom");
        });
        var background = Enumerable.Range(2, 50).Select(i =>
            _db.WriteBackgroundAsync((c, t) => c.ExecuteAsync("INSERT INTO probe (id, v) VALUES (@i, 'background')", new { i }, t))).ToList();
        var requests = Enumerable.Range(100, 50).Select(i =>
            _db.WriteAsync((c, t) => c.ExecuteAsync("INSERT INTO probe (id, v) VALUES (@i, 'request')", new { i }, t))).ToList();

        await Assert.ThrowsAsync<InvalidOperationException>(() => failing);
        await Task.WhenAll(background.Concat(requests));
        Assert.Equal(0, await CountAsync("id = 1"));
        Assert.Equal(50, await CountAsync("v = 'background'"));
        Assert.Equal(50, await CountAsync("v = 'request'"));
    }

    [Fact]
    public async Task Write_ConstraintViolation_SurfacesAndLeavesOthersIntact()
    {
        await _db.WriteAsync((c, t) => c.ExecuteAsync("INSERT INTO probe (id, v) VALUES (7, 'first')", transaction: t));
        var duplicate = _db.WriteAsync((c, t) => c.ExecuteAsync("INSERT INTO probe (id, v) VALUES (7, 'again')", transaction: t));
        var other = _db.WriteAsync((c, t) => c.ExecuteAsync("INSERT INTO probe (id, v) VALUES (8, 'other')", transaction: t));

        await Assert.ThrowsAnyAsync<Exception>(() => duplicate);
        await other;
        Assert.Equal(2, await CountAsync());
    }

    [Fact]
    public async Task Migrate_SecondRun_AppliesNothing()
    {
        var report = await new Migrator(_db, NullLogger<Migrator>.Instance).MigrateAsync();

        Assert.Empty(report.Applied);
        Assert.True(await new Migrator(_db, NullLogger<Migrator>.Instance).IsCurrentAsync());
    }

    [Fact]
    public async Task Migrate_WhenAShippedMigrationChanged_RefusesToStart()
    {
        await _db.WriteAsync((c, t) => c.ExecuteAsync("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1", transaction: t));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => new Migrator(_db, NullLogger<Migrator>.Instance).MigrateAsync());
        Assert.Contains("changed after it was applied", error.Message, StringComparison.Ordinal);
    }
}

public sealed class SqliteDatabaseConformanceTests() : DatabaseConformanceTests(Backend.Sqlite);

public sealed class PostgresDatabaseConformanceTests() : DatabaseConformanceTests(Backend.Postgres);
