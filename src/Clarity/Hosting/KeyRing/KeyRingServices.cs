using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;

namespace Clarity.Hosting.KeyRing;

public static class KeyRingServices
{
    /// <summary>The application name every node shares: Data Protection isolates payloads by it.</summary>
    public const string ApplicationName = "Clarity";

    /// <summary>
    /// ASP.NET Core Data Protection with its key ring in the database (<see cref="DatabaseXmlRepository"/>), each key's
    /// secret encrypted with the key-encryption key (<see cref="KeyRingXmlEncryptor"/>), the configured key lifetime
    /// (automatic rollover; old keys keep decrypting), and the server secrets stored through it.
    /// </summary>
    public static IServiceCollection AddKeyRing(this IServiceCollection services, ClarityOptions options)
    {
        services.AddSingleton<KeyEncryptionKeys>();
        services.AddSingleton<DatabaseXmlRepository>();
        services.AddSingleton<KeyRingXmlEncryptor>();
        services.AddSingleton<KeyRingCheck>();
        services.AddSingleton<ServerSecrets>();
        services.AddDataProtection()
            .SetApplicationName(ApplicationName)
            .SetDefaultKeyLifetime(options.KeyRing.KeyLifetime);
        services.AddOptions<KeyManagementOptions>().Configure<DatabaseXmlRepository, KeyRingXmlEncryptor>((o, repository, encryptor) =>
        {
            o.XmlRepository = repository;
            o.XmlEncryptor = encryptor;
        });
        return services;
    }
}
