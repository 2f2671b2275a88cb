using System.Security.Cryptography;
using Clarity.Storage;
using Dapper;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.WebUtilities;

namespace Clarity.Hosting.KeyRing;

/// <summary>
/// Secrets the server keeps for its own use (the JWT signing key), in <c>server_secrets</c>, encrypted with Data
/// Protection (purpose <see cref="Purpose"/>, and the secret's name, so one row cannot stand in for another).
/// A stored value is <c>dp1:</c> followed by the protected payload. A value without that prefix is plain text
/// written before the key ring existed: the first start encrypts it in place and keeps using it, so tokens signed
/// with it stay valid.
/// </summary>
public sealed partial class ServerSecrets(Database db, IDataProtectionProvider provider, ILogger<ServerSecrets> logger)
{
    public const string Purpose = "Clarity.ServerSecrets.v1";
    internal const string Prefix = "dp1:";

    /// <summary>Returns the named secret, creating it with <paramref name="create"/> the first time (first writer wins across nodes).</summary>
    public async Task<string> GetOrCreateAsync(string name, Func<string> create, CancellationToken ct)
    {
        var protector = provider.CreateProtector(Purpose, name);
        var stored = await ReadAsync(name, ct);
        if (stored is null)
        {
            var candidate = Prefix + protector.Protect(create());
            stored = await db.WriteAsync(async (c, t) =>
            {
                await c.ExecuteAsync(
                    "INSERT INTO server_secrets (name, value, created_at) VALUES (@name, @candidate, @now) ON CONFLICT (name) DO NOTHING",
                    new { name, candidate, now = DbTime.ToDb(DateTimeOffset.UtcNow) }, t);
                return await c.QuerySingleAsync<string>("SELECT value FROM server_secrets WHERE name = @name", new { name }, t);
            }, ct);
        }

        if (!stored.StartsWith(Prefix, StringComparison.Ordinal))
        {
            // Plain text from before the key ring: encrypt it in place (only if no other node did meanwhile).
            await ReplaceAsync(name, stored, Prefix + protector.Protect(stored), ct);
            Log.EncryptedInPlace(logger, name);
            return stored;
        }

        string value;
        bool requiresMigration;
        try
        {
            if (protector is IPersistedDataProtector persisted)
            {
                var bytes = persisted.DangerousUnprotect(WebEncoders.Base64UrlDecode(stored[Prefix.Length..]), ignoreRevocationErrors: false, out requiresMigration, out _);
                value = System.Text.Encoding.UTF8.GetString(bytes);
            }
            else
            {
                value = protector.Unprotect(stored[Prefix.Length..]);
                requiresMigration = false;
            }
        }
        catch (CryptographicException ex)
        {
            throw new KeyRingException($"the server secret '{name}' does not decrypt with the key ring ({ex.Message}); restore the database and the key-encryption key from the same backup.");
        }

        if (requiresMigration)
        {
            // Protected with a key that is no longer the default (it rolled over): protect it again with the current one.
            await ReplaceAsync(name, stored, Prefix + protector.Protect(value), ct);
        }

        return value;
    }

    private async Task<string?> ReadAsync(string name, CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        return await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition("SELECT value FROM server_secrets WHERE name = @name", new { name }, cancellationToken: ct));
    }

    private Task ReplaceAsync(string name, string old, string replacement, CancellationToken ct) =>
        db.WriteAsync((c, t) => c.ExecuteAsync(
            "UPDATE server_secrets SET value = @replacement WHERE name = @name AND value = @old", new { name, old, replacement }, t), ct);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Encrypted the server secret '{Name}' in place with the key ring (it was stored in plain text)")]
        public static partial void EncryptedInPlace(ILogger logger, string name);
    }
}
