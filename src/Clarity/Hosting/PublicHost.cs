using Microsoft.AspNetCore.HostFiltering;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Clarity.Hosting;

/// <summary>
/// How the server is addressed from outside, always from configuration and never from the request: the hosts it
/// answers to (<see cref="ClarityOptions.AllowedHosts"/>, with the framework's host filtering) and the server URL
/// its OpenAPI document names (<see cref="ClarityOptions.PublicUrl"/>).
/// </summary>
public static class PublicHost
{
    public static IReadOnlyList<string> AllowedHosts(string setting) =>
        setting.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static IServiceCollection AddPublicHost(this IServiceCollection services, ClarityOptions options)
    {
        // The web host registers host filtering as a startup filter, ahead of the whole pipeline, where a refused
        // host gets a bare 400. Clarity runs the same middleware itself, after error handling, so that the 400 is
        // problem+json like every other answer (ClarityServer.Configure).
        var startupFilter = services.FirstOrDefault(d => d.ServiceType == typeof(IStartupFilter) && d.ImplementationType?.Name == "HostFilteringStartupFilter");
        if (startupFilter is not null)
        {
            services.Remove(startupFilter);
        }

        services.Configure<HostFilteringOptions>(o =>
        {
            o.AllowedHosts = [.. AllowedHosts(options.AllowedHosts)];
            o.AllowEmptyHosts = true; // HTTP/1.0 requests carry no Host header
            o.IncludeFailureMessage = false; // the status code page writes the problem body
        });

        services.AddOpenApi(o => o.AddDocumentTransformer(NameServer));
        return services;
    }

    /// <summary>
    /// The document's server list: <see cref="ClarityOptions.PublicUrl"/> when set, otherwise none, so that clients
    /// resolve paths against wherever they fetched the document. (By default the framework would echo the request's
    /// Host header there, which lets anyone who can send a request put their own host into the document.)
    /// </summary>
    private static Task NameServer(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken ct)
    {
        var url = context.ApplicationServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<ClarityOptions>>().Value.PublicUrl;
        document.Servers = string.IsNullOrWhiteSpace(url) ? [] : [new OpenApiServer { Url = url.TrimEnd('/') }];
        return Task.CompletedTask;
    }
}
