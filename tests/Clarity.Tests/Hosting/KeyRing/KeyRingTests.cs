using System.Data.Common;
using System.Net;
using System.Security.Cryptography;
using System.Xml.Linq;
using Clarity.Cli;
using Clarity.Hosting.KeyRing;
using Clarity.Storage;
using Clarity.Tests.Cli;
using Clarity.Tests.Infrastructure;
using Dapper;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Npgsql;
using Xunit;

namespace Clarity.Tests.Hosting.KeyRing;

/// <summary>
/// Secrets at rest: the Data Protection key ring lives in the database with every key encrypted by the key-encryption
/// key (KEK) kept beside it, so that every node and every restart read the same ring; the JWT signing key is stored
/// through it; and a node that cannot read the ring refuses to start.
/// </summary>
public abstract class KeyRingTests(Backend backend)
{
    private const string WebhookPurpose = "Clarity.Webhooks.Secret.v1";

    [Fact]
    public async Task JwtSigningKey_IsStoredEncrypted_AndNoKeyOfTheRingIsStoredInPlainText()
    {
        await using var host = await ClarityHost.StartAsync(backend);
        var org = await host.SetupAsync();

        var stored = await QueryAsync<string>(host, "SELECT value FROM server_secrets WHERE name = 'jwt-signing-key'");
        Assert.StartsWith("dp1:", stored.Single(), StringComparison.Ordinal);
        var key = await SigningKeyAsync(host);
        Assert.DoesNotContain(key, stored.Single(), StringComparison.Ordinal);
        Assert.True(await SignedWithAsync(org.OwnerToken, Convert.FromBase64String(key)), "The owner's token is signed with the decrypted key.");

        var ring = await QueryAsync<string>(host, "SELECT xml FROM data_protection_keys");
        Assert.NotEmpty(ring);
        foreach (var element in ring.Select(XElement.Parse).Where(e => e.Name.LocalName == "key"))
        {
            Assert.DoesNotContain(element.Descendants(), e => e.Name.LocalName is "masterKey" or "value");
            Assert.Single(element.Descendants(), e => e.Name.LocalName == "encrypted");
        }

        var kek = Path.Combine(host.DataDirectory, KeyEncryptionKeys.DefaultFileName);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(kek));
        }

        Assert.True(KeyEncryptionKeys.TryParse(await File.ReadAllTextAsync(kek), out _));
    }

    [Fact]
    public async Task SecondNode_SharingTheDatabaseAndTheKek_ReadsTheSameRing_AndValidatesTheFirstNodesTokens()
    {
        await using var first = await ClarityHost.StartAsync(backend);
        var org = await first.SetupAsync();
        var payload = Protector(first).Protect("whsec-first");

        // On PostgreSQL the second node is another machine: its own data folder, the shared KEK given as a setting.
        var folder = TestDatabases.NewTempDirectory();
        var overrides = backend == Backend.Postgres
            ? new Dictionary<string, string?>
            {
                ["Clarity:DataDirectory"] = folder,
                ["Clarity:KeyRing:Key"] = (await File.ReadAllTextAsync(Path.Combine(first.DataDirectory, KeyEncryptionKeys.DefaultFileName))).Trim(),
            }
            : null;
        try
        {
            await using var second = await ClarityHost.StartNodeAsync(first, overrides);

            using var onSecond = second.CreateClient(org.OwnerToken);
            await onSecond.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
            Assert.Equal("whsec-first", Protector(second).Unprotect(payload));

            var tokenFromSecond = await second.LoginAsync(org.OwnerEmail, ClarityHost.OwnerPassword);
            using var onFirst = first.CreateClient(tokenFromSecond);
            await onFirst.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
            Assert.Equal("whsec-second", Protector(first).Unprotect(Protector(second).Protect("whsec-second")));
            Assert.Equal(await SigningKeyAsync(first), await SigningKeyAsync(second));
            Assert.False(File.Exists(Path.Combine(folder, KeyEncryptionKeys.DefaultFileName)), "A node given the KEK as a setting writes no key file.");
        }
        finally
        {
            TestDatabases.DeleteDirectory(folder);
        }
    }

    [Fact]
    public async Task Restart_KeepsSessionsAndProtectedPayloadsValid_WithoutANewKey()
    {
        await using var host = await ClarityHost.StartAsync(backend);
        var org = await host.SetupAsync();
        var payload = Protector(host).Protect("whsec-before");
        var keysBefore = await QueryAsync<string>(host, "SELECT name FROM data_protection_keys");

        await host.RestartAsync();

        using var client = host.CreateClient(org.OwnerToken);
        await client.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
        Assert.Equal("whsec-before", Protector(host).Unprotect(payload));
        Assert.Equal(keysBefore, await QueryAsync<string>(host, "SELECT name FROM data_protection_keys"));
    }

    [Fact]
    public async Task PlainTextSigningKey_FromBeforeTheKeyRing_IsEncryptedInPlace_AndItsTokensStayValid()
    {
        await using var host = await ClarityHost.StartAsync(backend);
        var org = await host.SetupAsync();
        var plain = Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));
        var signedIn = new JsonWebToken(org.OwnerToken);
        var oldToken = Sign(signedIn.GetClaim("sub").Value, signedIn.GetClaim("sid").Value, plain);

        // The database as the previous version left it: the key in plain text, no key ring table, no KEK file.
        await host.RestartAsync(async () =>
        {
            await ExecuteStoppedAsync(host, "UPDATE server_secrets SET value = @plain WHERE name = 'jwt-signing-key'", new { plain });
            // Secrets of later versions (the web push key pair, migration 0021) did not exist yet.
            await ExecuteStoppedAsync(host, "DELETE FROM server_secrets WHERE name <> 'jwt-signing-key'");
            await ExecuteStoppedAsync(host, "DROP TABLE data_protection_keys");
            await ExecuteStoppedAsync(host, "DELETE FROM schema_migrations WHERE version = 11");
            File.Delete(Path.Combine(host.DataDirectory, KeyEncryptionKeys.DefaultFileName));
        });

        using (var client = host.CreateClient(oldToken))
        {
            await client.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
        }

        var stored = (await QueryAsync<string>(host, "SELECT value FROM server_secrets WHERE name = 'jwt-signing-key'")).Single();
        Assert.StartsWith("dp1:", stored, StringComparison.Ordinal);
        Assert.DoesNotContain(plain, stored, StringComparison.Ordinal);
        Assert.Equal(plain, await SigningKeyAsync(host));

        await host.RestartAsync();
        using (var client = host.CreateClient(oldToken))
        {
            await client.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
        }

        Assert.Equal(stored, (await QueryAsync<string>(host, "SELECT value FROM server_secrets WHERE name = 'jwt-signing-key'")).Single());
    }

    [Fact]
    public async Task UnreadableKeyRing_StopsStartUp_WithOneLineNamingTheSetting_AndCreatesNoNewKey()
    {
        await using var host = await ClarityHost.StartAsync(backend);
        var org = await host.SetupAsync();
        var kek = Path.Combine(host.DataDirectory, KeyEncryptionKeys.DefaultFileName);
        var keysBefore = await QueryAsync<string>(host, "SELECT name FROM data_protection_keys");

        await host.RestartAsync(async () =>
        {
            File.Move(kek, kek + ".saved");

            // The KEK file is missing: no new one is made up.
            var (exitCode, stderr) = await ServeAsync(host, null);
            AssertOneClearLine(exitCode, stderr, "Clarity:KeyRing:KeyFile");
            Assert.Contains("does not exist", stderr, StringComparison.Ordinal);
            Assert.False(File.Exists(kek), "Start-up must not create a key-encryption key for a ring that already has keys.");

            // Another KEK (a node given the wrong key).
            var wrong = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
            (exitCode, stderr) = await ServeAsync(host, new Dictionary<string, string> { ["CLARITY_KEYRING__KEY"] = wrong });
            AssertOneClearLine(exitCode, stderr, "Clarity:KeyRing:Key");
            Assert.Contains(KeyEncryptionKeys.IdOf(Convert.FromBase64String(wrong)), stderr, StringComparison.Ordinal);

            File.Move(kek + ".saved", kek);
        });

        Assert.Equal(keysBefore, await QueryAsync<string>(host, "SELECT name FROM data_protection_keys"));
        using var client = host.CreateClient(org.OwnerToken);
        await client.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task KeyRollover_KeepsOldPayloadsReadable_OnEveryNodeAndAfterRestart()
    {
        await using var host = await ClarityHost.StartAsync(backend, new Dictionary<string, string?> { ["Clarity:KeyRing:KeyLifetime"] = "30.00:00:00" });
        var org = await host.SetupAsync();
        var keys = host.Services.GetRequiredService<IKeyManager>();
        var first = Assert.Single(keys.GetAllKeys());
        Assert.Equal(TimeSpan.FromDays(30), first.ExpirationDate - first.ActivationDate);

        var old = Protector(host).Protect("whsec-old");
        var signingKeyBefore = (await QueryAsync<string>(host, "SELECT value FROM server_secrets WHERE name = 'jwt-signing-key'")).Single();

        // What the automatic rollover does when the default key nears its expiry: it adds the next key to the ring,
        // and each node makes it the default once it reads the ring again (here: at the restart).
        var now = DateTimeOffset.UtcNow;
        var next = keys.CreateNewKey(now, now.AddDays(30));
        await host.RestartAsync();

        var fresh = Protector(host).Protect("whsec-new");
        Assert.Equal(first.KeyId, KeyIdOf(old));
        Assert.Equal(next.KeyId, KeyIdOf(fresh));
        Assert.Equal("whsec-old", Protector(host).Unprotect(old));
        Assert.Equal("whsec-new", Protector(host).Unprotect(fresh));

        await using (var second = await ClarityHost.StartNodeAsync(host))
        {
            Assert.Equal("whsec-old", Protector(second).Unprotect(old));
            Assert.Equal("whsec-new", Protector(second).Unprotect(fresh));
        }

        // The signing key was protected with the old key: the start after the rollover protected it again with the new one.
        var signingKeyAfter = (await QueryAsync<string>(host, "SELECT value FROM server_secrets WHERE name = 'jwt-signing-key'")).Single();
        Assert.NotEqual(signingKeyBefore, signingKeyAfter);
        Assert.Equal(next.KeyId, KeyIdOf(signingKeyAfter["dp1:".Length..]));
        using var client = host.CreateClient(org.OwnerToken);
        await client.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task DefaultKeyNearItsExpiry_IsFollowedByTheNextKeyAutomatically_AndOldPayloadsStayReadable()
    {
        var lifetime = TimeSpan.FromDays(20);
        await using var host = await ClarityHost.StartAsync(backend, new Dictionary<string, string?> { ["Clarity:KeyRing:KeyLifetime"] = lifetime.ToString("c") });
        var org = await host.SetupAsync();
        var old = Protector(host).Protect("whsec-old");
        var first = Assert.Single(host.Services.GetRequiredService<IKeyManager>().GetAllKeys());
        var expiry = DateTimeOffset.UtcNow.AddDays(1);

        // The only key expires in a day (its dates are the one part of a key that is not encrypted).
        await host.RestartAsync(async () =>
        {
            var name = $"key-{first.KeyId:D}";
            var xml = XElement.Parse(await ScalarStoppedAsync(host, "SELECT xml FROM data_protection_keys WHERE name = @name", new { name }));
            xml.Element("expirationDate")!.Value = expiry.UtcDateTime.ToString("O");
            await ExecuteStoppedAsync(host, "UPDATE data_protection_keys SET xml = @xml WHERE name = @name", new { name, xml = xml.ToString(SaveOptions.DisableFormatting) });
        });

        // Data Protection's own rollover: the next key, active from the old one's expiry, with the configured lifetime.
        var keys = host.Services.GetRequiredService<IKeyManager>().GetAllKeys().OrderBy(k => k.CreationDate).ToList();
        Assert.Equal(2, keys.Count);
        var next = keys[1];
        Assert.Equal(expiry.ToUnixTimeSeconds(), next.ActivationDate.ToUnixTimeSeconds());
        Assert.InRange(next.ExpirationDate - next.CreationDate, lifetime - TimeSpan.FromHours(1), lifetime + TimeSpan.FromHours(1));
        Assert.Equal(2, (await QueryAsync<string>(host, "SELECT name FROM data_protection_keys")).Count);

        Assert.Equal("whsec-old", Protector(host).Unprotect(old));
        using var client = host.CreateClient(org.OwnerToken);
        await client.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
    }

    private static IDataProtector Protector(ClarityHost host) =>
        host.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector(WebhookPurpose);

    /// <summary>The id of the key that protected a payload: after the 4-byte magic header, 16 bytes of key id.</summary>
    private static Guid KeyIdOf(string payload) => new(WebEncoders.Base64UrlDecode(payload).AsSpan(4, 16));

    private static Task<string> SigningKeyAsync(ClarityHost host) =>
        host.Services.GetRequiredService<ServerSecrets>().GetOrCreateAsync("jwt-signing-key", () => throw new InvalidOperationException("The server has no signing key."), CancellationToken.None);

    private static async Task<List<T>> QueryAsync<T>(ClarityHost host, string sql)
    {
        await using var c = await host.Services.GetRequiredService<Database>().OpenReadAsync();
        return (await c.QueryAsync<T>(sql)).ToList();
    }

    /// <summary>Runs a statement against the host's database while its server is stopped.</summary>
    private static async Task ExecuteStoppedAsync(ClarityHost host, string sql, object? parameters = null)
    {
        await using var c = await OpenStoppedAsync(host);
        await c.ExecuteAsync(sql, parameters);
    }

    private static async Task<string> ScalarStoppedAsync(ClarityHost host, string sql, object? parameters = null)
    {
        await using var c = await OpenStoppedAsync(host);
        return await c.QuerySingleAsync<string>(sql, parameters);
    }

    private static async Task<DbConnection> OpenStoppedAsync(ClarityHost host)
    {
        DbConnection c = host.Backend == Backend.Postgres
            ? new NpgsqlConnection(host.PostgresConnectionString)
            : new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(host.DataDirectory, "clarity.db"), Pooling = false }.ToString());
        await c.OpenAsync();
        return c;
    }

    private static async Task<(int ExitCode, string Stderr)> ServeAsync(ClarityHost host, IDictionary<string, string>? environment)
    {
        List<string> args = ["serve", "--urls", "http://127.0.0.1:0", "--data", host.DataDirectory];
        if (host.PostgresConnectionString is { } database)
        {
            args.AddRange(["--database", database]);
        }

        var (exitCode, _, stderr) = await ClarityProcess.RunAsync(args, environment);
        return (exitCode, stderr);
    }

    private static void AssertOneClearLine(int exitCode, string stderr, string setting)
    {
        Assert.Equal(ExitCodes.Unavailable, exitCode);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("clarity: ", line, StringComparison.Ordinal);
        Assert.Contains(setting, line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", line, StringComparison.Ordinal);
    }

    private static async Task<bool> SignedWithAsync(string token, byte[] key)
    {
        var result = await new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidateIssuer = false,
            ValidateAudience = false,
            ValidateLifetime = false,
            IssuerSigningKey = new SymmetricSecurityKey(key),
        });
        return result.IsValid;
    }

    private static string Sign(string userId, string sessionId, string base64Key)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = "clarity",
            Audience = "clarity",
            Claims = new Dictionary<string, object> { ["sub"] = userId, ["sid"] = sessionId, ["jti"] = Guid.NewGuid().ToString("N") },
            IssuedAt = now,
            NotBefore = now,
            Expires = now.AddHours(1),
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Convert.FromBase64String(base64Key)), SecurityAlgorithms.HmacSha256),
        });
    }
}

public sealed class SqliteKeyRingTests() : KeyRingTests(Backend.Sqlite);

public sealed class PostgresKeyRingTests() : KeyRingTests(Backend.Postgres);
