using System.Xml.Linq;
using Clarity.Storage;
using Dapper;
using Microsoft.AspNetCore.DataProtection.Repositories;

namespace Clarity.Hosting.KeyRing;

/// <summary>
/// Data Protection's key ring in the <c>data_protection_keys</c> table, so every node and every restart read the same
/// ring. Data Protection calls it rarely (at the first use, when it refreshes its cache about once a day, and when it
/// creates a key) and synchronously.
/// </summary>
public sealed class DatabaseXmlRepository(Database db) : IXmlRepository
{
    public IReadOnlyCollection<XElement> GetAllElements() =>
        Task.Run(() => ReadAllAsync(CancellationToken.None)).GetAwaiter().GetResult();

    public void StoreElement(XElement element, string friendlyName) =>
        Task.Run(() => db.WriteAsync((c, t) => c.ExecuteAsync(
            "INSERT INTO data_protection_keys (id, name, xml, created_at) VALUES (@id, @friendlyName, @xml, @now)",
            new { id = Guid.CreateVersion7(), friendlyName, xml = element.ToString(SaveOptions.DisableFormatting), now = DbTime.ToDb(DateTimeOffset.UtcNow) }, t))).GetAwaiter().GetResult();

    public async Task<IReadOnlyCollection<XElement>> ReadAllAsync(CancellationToken ct)
    {
        await using var c = await db.OpenReadAsync(ct);
        var rows = await c.QueryAsync<string>(new CommandDefinition("SELECT xml FROM data_protection_keys ORDER BY id", cancellationToken: ct));
        return rows.Select(x => XElement.Parse(x)).ToList();
    }
}
