using System.Text;
using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;

namespace Clarity.Hosting.KeyRing;

/// <summary>
/// Encrypts the secret part of each Data Protection key before it is stored, with the current key-encryption key
/// (AES-256-GCM). The stored element names the KEK by id, so that a node holding another KEK says which one it lacks.
/// </summary>
public sealed class KeyRingXmlEncryptor(KeyEncryptionKeys keys) : IXmlEncryptor
{
    internal static readonly XNamespace Ns = "urn:clarity:keyring:v1";
    internal static readonly XName Encrypted = Ns + "encrypted";

    public EncryptedXmlInfo Encrypt(XElement plaintextElement)
    {
        var plaintext = Encoding.UTF8.GetBytes(plaintextElement.ToString(SaveOptions.DisableFormatting));
        var (kekId, nonce, ciphertext, tag) = keys.Encrypt(plaintext);
        var element = new XElement(Encrypted,
            new XAttribute("kek", kekId),
            new XAttribute("alg", "AES-256-GCM"),
            new XAttribute("nonce", Convert.ToBase64String(nonce)),
            new XAttribute("tag", Convert.ToBase64String(tag)),
            Convert.ToBase64String(ciphertext));
        return new EncryptedXmlInfo(element, typeof(KeyRingXmlDecryptor));
    }
}

/// <summary>
/// Decrypts what <see cref="KeyRingXmlEncryptor"/> stored. Data Protection creates it from the type named in the
/// stored XML, with the service provider.
/// </summary>
public sealed class KeyRingXmlDecryptor(IServiceProvider services) : IXmlDecryptor
{
    public XElement Decrypt(XElement encryptedElement)
    {
        var keys = services.GetRequiredService<KeyEncryptionKeys>();
        var (kekId, nonce, ciphertext, tag) = Read(encryptedElement);
        return XElement.Parse(Encoding.UTF8.GetString(keys.Decrypt(kekId, nonce, ciphertext, tag)));
    }

    internal static (string KekId, byte[] Nonce, byte[] Ciphertext, byte[] Tag) Read(XElement element)
    {
        if (element.Name != KeyRingXmlEncryptor.Encrypted)
        {
            throw new FormatException($"Expected a {KeyRingXmlEncryptor.Encrypted} element, found {element.Name}.");
        }

        return ((string?)element.Attribute("kek") ?? throw new FormatException("The encrypted key has no kek attribute."),
            Convert.FromBase64String((string?)element.Attribute("nonce") ?? ""),
            Convert.FromBase64String(element.Value),
            Convert.FromBase64String((string?)element.Attribute("tag") ?? ""));
    }
}
