using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Clarity.Tests.Infrastructure;
using Dapper;
using Npgsql;
using Xunit;

namespace Clarity.Tests.Hosting;

/// <summary>
/// A database that does not answer in time is an outage, not a bug: the request is answered 503 with problem+json and
/// Retry-After, never 500. PostgreSQL only: there a lock held by another session makes a command outlast its timeout;
/// SQLite's readers never wait on a writer (WAL), and its one writer has no command timeout.
/// </summary>
public sealed class DatabaseUnavailableTests
{
    [Fact]
    public async Task ARequestTheDatabaseDoesNotAnswerInTime_Gets503WithRetryAfter_AndSucceedsOnceTheDatabaseAnswers()
    {
        await using var first = await ClarityHost.StartAsync(Backend.Postgres);
        var org = await first.SetupAsync("acme");
        await first.CreateClient(org.MemberKey).PostAsJsonAsync(org.Api("tasks"), new { queue = "build", title = "one" }).ExpectAsync(HttpStatusCode.Created);

        // A second node on the same database whose commands give up after one second (Npgsql's Command Timeout).
        var impatient = first.Settings["Clarity:Database"] + ";Command Timeout=1";
        await using var node = await ClarityHost.StartNodeAsync(first, new Dictionary<string, string?> { ["Clarity:Database"] = impatient });
        using var client = node.CreateClient(org.MemberKey);
        await client.GetAsync(org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);

        await using (var blocker = new NpgsqlConnection(first.PostgresConnectionString))
        {
            await blocker.OpenAsync();
            await using var transaction = await blocker.BeginTransactionAsync();
            await blocker.ExecuteAsync("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE", transaction: transaction);

            using var refused = await client.GetAsync(org.Api("tasks"));

            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            Assert.NotNull(refused.Headers.RetryAfter);
            var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("urn:clarity:problem:database-unavailable", problem.Str("type"));
            Assert.Equal(503, problem.GetProperty("status").GetInt32());
        }

        var tasks = await client.GetAsync(org.Api("tasks")).ExpectAsync(HttpStatusCode.OK);
        Assert.Single(tasks.GetProperty("items").EnumerateArray());
    }
}
