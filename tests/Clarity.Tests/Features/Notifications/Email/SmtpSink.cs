using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Clarity.Tests.Infrastructure;
using MimeKit;

namespace Clarity.Tests.Features.Notifications.Email;

/// <summary>
/// A real SMTP server on loopback (smtp/smtp_server.py: aiosmtpd's Controller under Debian's /usr/bin/python3, package
/// python3-aiosmtpd), with STARTTLS required (a self-signed certificate written here) and AUTH required over TLS. Every
/// accepted message lands in a folder as its raw bytes plus its envelope, which the tests read back.
/// </summary>
public sealed class SmtpSink : IAsyncDisposable
{
    public const string User = "clarity-mailer";
    public const string Password = "smtp-pass-0123";
    private const string Python = "/usr/bin/python3";

    private readonly Process _process;

    private SmtpSink(Process process, string directory, int port)
    {
        _process = process;
        Directory = directory;
        Port = port;
    }

    public string Directory { get; }

    public int Port { get; }

    private string Output => Path.Combine(Directory, "received");

    public static async Task<SmtpSink> StartAsync()
    {
        if (!File.Exists(Python))
        {
            throw new InvalidOperationException($"{Python} is missing: install Debian's python3-aiosmtpd (test.sh does).");
        }

        var dir = TestDatabases.NewTempDirectory();
        System.IO.Directory.CreateDirectory(Path.Combine(dir, "received"));
        var (cert, key) = WriteCertificate(dir);
        var start = new ProcessStartInfo(Python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { ScriptPath(), cert, key, Path.Combine(dir, "received"), User, Password })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        var errors = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            lock (errors)
            {
                errors.AppendLine(e.Data);
            }
        };
        process.BeginErrorReadLine();
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (line is null)
        {
            await process.WaitForExitAsync();
            lock (errors)
            {
                throw new InvalidOperationException("The SMTP server exited before it listened (is python3-aiosmtpd installed?): " + errors);
            }
        }

        return new SmtpSink(process, dir, JsonDocument.Parse(line).RootElement.GetProperty("port").GetInt32());
    }

    /// <summary>The host settings that send through this server.</summary>
    public Dictionary<string, string?> Settings(string publicUrl) => new()
    {
        ["Clarity:PublicUrl"] = publicUrl,
        ["Clarity:Smtp:Host"] = "127.0.0.1",
        ["Clarity:Smtp:Port"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Clarity:Smtp:From"] = "Clarity <clarity@example.test>",
        ["Clarity:Smtp:UseStartTls"] = "true",
        ["Clarity:Smtp:User"] = User,
        ["Clarity:Smtp:Password"] = Password,
        ["Clarity:Smtp:AcceptAnyCertificate"] = "true",
    };

    /// <summary>The message the server accepted under <paramref name="messageId"/> (without angle brackets), with its envelope.</summary>
    public ReceivedMail Find(string messageId) =>
        TryFind(messageId) ?? throw new InvalidOperationException($"The SMTP server received no message {messageId}.");

    /// <summary>As <see cref="Find"/>, or null when the server has not received that message.</summary>
    public ReceivedMail? TryFind(string messageId)
    {
        foreach (var file in System.IO.Directory.GetFiles(Output, "*.eml"))
        {
            using var stream = File.OpenRead(file);
            var message = MimeMessage.Load(stream);
            if (message.MessageId == messageId)
            {
                var envelope = JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(file, ".json"))).RootElement.Clone();
                return new ReceivedMail(message, File.ReadAllBytes(file), envelope);
            }
        }

        return null;
    }

    /// <summary>How many messages the server has accepted.</summary>
    public int Count => System.IO.Directory.GetFiles(Output, "*.eml").Length;

    private static (string Cert, string Key) WriteCertificate(string dir)
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var cert = Path.Combine(dir, "cert.pem");
        var key = Path.Combine(dir, "key.pem");
        File.WriteAllText(cert, certificate.ExportCertificatePem());
        File.WriteAllText(key, rsa.ExportPkcs8PrivateKeyPem());
        return (cert, key);
    }

    private static string ScriptPath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "Clarity.Tests", "Features", "Notifications", "Email", "smtp", "smtp_server.py");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("Could not find tests/Clarity.Tests/Features/Notifications/Email/smtp/smtp_server.py above " + AppContext.BaseDirectory);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }
        finally
        {
            _process.Dispose();
            TestDatabases.DeleteDirectory(Directory);
        }
    }
}

/// <summary>A message as the SMTP server received it: parsed, raw, and its envelope (mailFrom, rcptTos, tls, authenticatedAs).</summary>
public sealed record ReceivedMail(MimeMessage Message, byte[] Raw, JsonElement Envelope);
