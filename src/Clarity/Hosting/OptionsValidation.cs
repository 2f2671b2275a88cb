using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Clarity.Hosting;

/// <summary>Validates <see cref="ClarityOptions"/> and its nested sections with their data annotations at start-up.</summary>
public sealed class ClarityOptionsValidator : IValidateOptions<ClarityOptions>
{
    public ValidateOptionsResult Validate(string? name, ClarityOptions options)
    {
        var failures = new List<string>();
        Collect(options, "Clarity", failures);
        Collect(options.Metrics, "Clarity:Metrics", failures);
        Collect(options.Otlp, "Clarity:Otlp", failures);
        Collect(options.Limits, "Clarity:Limits", failures);
        Collect(options.Tasks, "Clarity:Tasks", failures);
        Collect(options.Auth, "Clarity:Auth", failures);
        Collect(options.Stream, "Clarity:Stream", failures);
        Collect(options.Audit, "Clarity:Audit", failures);
        Collect(options.RateLimits, "Clarity:RateLimits", failures);
        Collect(options.RateLimits.SignIn, "Clarity:RateLimits:SignIn", failures);
        Collect(options.RateLimits.PasswordHashing, "Clarity:RateLimits:PasswordHashing", failures);
        options.RateLimits.Validate(failures);
        options.Http.Validate(failures);
        options.Cors.Validate(failures);
        Collect(options.KeyRing, "Clarity:KeyRing", failures);
        options.KeyRing.Validate(failures);
        Collect(options.Webhooks, "Clarity:Webhooks", failures);
        options.Webhooks.Validate(failures);
        Collect(options.Notifications, "Clarity:Notifications", failures);
        Collect(options.Smtp, "Clarity:Smtp", failures);
        Collect(options.Slack, "Clarity:Slack", failures);
        if (options.Stream.Retention < StreamOptions.MinRetention)
        {
            failures.Add($"Clarity:Stream:Retention: must be at least {StreamOptions.MinRetention} (10 minutes); it is {options.Stream.Retention}.");
        }
        foreach (var url in options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!Uri.TryCreate(url.Replace("*", "localhost", StringComparison.Ordinal).Replace("+", "localhost", StringComparison.Ordinal), UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            {
                failures.Add($"Clarity:Urls: '{url}' is not an http(s) URL.");
            }
        }

        if (!string.IsNullOrWhiteSpace(options.Database))
        {
            try
            {
                _ = new Npgsql.NpgsqlConnectionStringBuilder(options.Database);
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException)
            {
                failures.Add($"Clarity:Database: not a PostgreSQL connection string ({ex.Message}). Example: Host=localhost;Username=clarity;Password=…;Database=clarity");
            }
        }

        if (!string.IsNullOrWhiteSpace(options.PublicUrl)
            && (!Uri.TryCreate(options.PublicUrl, UriKind.Absolute, out var publicUrl) || (publicUrl.Scheme != "http" && publicUrl.Scheme != "https")
                || !string.IsNullOrEmpty(publicUrl.Query) || !string.IsNullOrEmpty(publicUrl.Fragment)))
        {
            failures.Add($"Clarity:PublicUrl: '{options.PublicUrl}' is not an http(s) URL without a query (for example https://clarity.example.com).");
        }

        if (PublicHost.AllowedHosts(options.AllowedHosts).Count == 0)
        {
            failures.Add("Clarity:AllowedHosts: name at least one host, or * for any host.");
        }

        if (!string.IsNullOrWhiteSpace(options.Otlp.Endpoint)
            && (!Uri.TryCreate(options.Otlp.Endpoint, UriKind.Absolute, out var otlp) || (otlp.Scheme != "http" && otlp.Scheme != "https")))
        {
            failures.Add($"Clarity:Otlp:Endpoint: '{options.Otlp.Endpoint}' is not an http(s) URL (for example http://localhost:4318).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Collect(object instance, string section, List<string> failures)
    {
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(instance, new ValidationContext(instance), results, validateAllProperties: true))
        {
            failures.AddRange(results.Select(r => $"{section}:{string.Join(",", r.MemberNames)}: {r.ErrorMessage}"));
        }
    }
}
