using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit;

namespace Clarity.Tests.Infrastructure;

public static class HttpAssertions
{
    public static async Task<JsonElement> ReadJsonAsync(this HttpResponseMessage response) =>
        await response.Content.ReadFromJsonAsync<JsonElement>();

    /// <summary>Asserts the status and returns the JSON body (or default for an empty body).</summary>
    public static async Task<JsonElement> ExpectAsync(this Task<HttpResponseMessage> pending, HttpStatusCode status)
    {
        using var response = await pending;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"Expected {(int)status} but got {(int)response.StatusCode}: {body}");
        return body.Length == 0 ? default : JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>Asserts a problem+json answer with the given status and problem type slug.</summary>
    public static async Task<JsonElement> ExpectProblemAsync(this Task<HttpResponseMessage> pending, HttpStatusCode status, string? slug = null)
    {
        using var response = await pending;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"Expected {(int)status} but got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var json = JsonDocument.Parse(body).RootElement.Clone();
        if (slug is not null)
        {
            Assert.Equal("urn:clarity:problem:" + slug, json.GetProperty("type").GetString());
        }

        return json;
    }
}
