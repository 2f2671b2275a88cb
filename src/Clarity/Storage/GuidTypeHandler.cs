using System.Data;
using Dapper;

namespace Clarity.Storage;

/// <summary>
/// SQLite keeps ids as TEXT and PostgreSQL as uuid. Dapper's built-in Guid mapping cannot read TEXT,
/// so this handler accepts either shape. UUIDv7 text sorts in creation order, as uuid does.
/// </summary>
internal sealed class GuidTypeHandler : SqlMapper.TypeHandler<Guid>
{
    private static int s_registered;

    public static void Register()
    {
        if (Interlocked.Exchange(ref s_registered, 1) == 0)
        {
            SqlMapper.AddTypeHandler(new GuidTypeHandler());
        }
    }

    public override Guid Parse(object value) => value switch
    {
        Guid g => g,
        string s => Guid.Parse(s),
        byte[] b when b.Length == 16 => new Guid(b),
        _ => throw new DataException($"Cannot read a {value.GetType().Name} as a Guid."),
    };

    public override void SetValue(IDbDataParameter parameter, Guid value) => parameter.Value = value;
}
