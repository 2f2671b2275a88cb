using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Stream;

/// <summary>
/// A stream outlives the access check made when it opened: removing a user from the org, signing their session out, or
/// revoking an API key, ends that caller's open streams, and leaves everyone else's running. Each test runs on its own
/// host; most re-check access every second, and the ones that show an ending is immediate re-check only hourly.
/// </summary>
public abstract class StreamAccessTests(Backend backend)
{
    private static readonly Dictionary<string, string?> s_checkEverySecond = new() { ["Clarity:Stream:AccessCheckInterval"] = "00:00:01" };

    [Fact]
    public async Task UsersWebSocket_KeepsRunningWhileTheyAreAMember_AndEndsWithAccessRevoked_OnceRemovedFromTheOrg()
    {
        await using var host = await ClarityHost.StartAsync(backend, s_checkEverySecond);
        var org = await host.SetupAsync("acme");
        using var owner = host.CreateClient(org.OwnerToken);
        var (userId, token) = await AddSignedInMemberAsync(host, owner, org);

        await using var member = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, token);
        await member.SubscribeAsync(["tasks"]);
        await using var ownersStream = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, org.OwnerToken);
        await ownersStream.SubscribeAsync(["tasks"]);

        // Several access checks pass while the user is a member: events keep arriving.
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        using var agent = host.CreateClient(org.MemberKey);
        var before = await StreamTests.NewTaskAsync(agent, org);
        await member.NextAsync(m => m.IsTaskEvent(before), "an event while still a member");

        await owner.DeleteAsync(org.Api($"members/{userId}")).ExpectAsync(HttpStatusCode.OK);

        await DrainUntilClosedAsync(member);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, member.CloseStatus);
        Assert.Equal("access-revoked", member.CloseStatusDescription);

        // The owner's stream is unaffected and still receives events.
        var after = await StreamTests.NewTaskAsync(agent, org);
        await ownersStream.NextAsync(m => m.IsTaskEvent(after), "the owner's event after the removal");
    }

    [Fact]
    public async Task UsersServerSentEvents_EndOnceTheUserIsRemovedFromTheOrg()
    {
        await using var host = await ClarityHost.StartAsync(backend, s_checkEverySecond);
        var org = await host.SetupAsync("acme");
        using var owner = host.CreateClient(org.OwnerToken);
        var (userId, token) = await AddSignedInMemberAsync(host, owner, org);

        await using var sse = await SseReader.OpenAsync(host.CreateClient(token), org.Api("events?topics=tasks"));
        using var agent = host.CreateClient(org.MemberKey);
        var before = await StreamTests.NewTaskAsync(agent, org);
        var first = await sse.ReadAsync();
        Assert.Equal(before, first?.Data.GetProperty("data").Str("taskId"));

        await owner.DeleteAsync(org.Api($"members/{userId}")).ExpectAsync(HttpStatusCode.OK);

        // The response ends (a reconnect would now be refused); nothing of the org arrives after the removal is noticed.
        while (await sse.ReadAsync() is not null)
        {
        }

        using var again = host.CreateClient(token);
        await again.GetAsync(org.Api("events?topics=tasks")).ExpectAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task ApiKeysWebSocket_EndsWithCredentialRevoked_WhenTheKeyIsRevoked_WhileAnotherKeysStreamRuns()
    {
        await using var host = await ClarityHost.StartAsync(backend, s_checkEverySecond);
        var org = await host.SetupAsync("acme");
        using var owner = host.CreateClient(org.OwnerToken);
        var key = await owner.PostAsJsonAsync(org.Api("api-keys"), new { name = "watcher", role = "viewer" }).ExpectAsync(HttpStatusCode.Created);

        await using var revoked = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, key.Str("secret"));
        await revoked.SubscribeAsync(["tasks"]);
        await using var other = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, org.MemberKey);
        await other.SubscribeAsync(["tasks"]);

        await owner.DeleteAsync(org.Api($"api-keys/{key.Str("id")}")).ExpectAsync(HttpStatusCode.NoContent);

        await DrainUntilClosedAsync(revoked);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, revoked.CloseStatus);
        Assert.Equal("credential-revoked", revoked.CloseStatusDescription);

        using var agent = host.CreateClient(org.MemberKey);
        var task = await StreamTests.NewTaskAsync(agent, org);
        await other.NextAsync(m => m.IsTaskEvent(task), "the other key's event after the revocation");
    }

    [Fact]
    public async Task UsersWebSocket_EndsAtOnce_WhenTheirSessionIsSignedOut_WithoutWaitingForTheAccessCheck()
    {
        // The periodic check is an hour away: only the revocation event can end the stream.
        await using var host = await ClarityHost.StartAsync(backend, new Dictionary<string, string?> { ["Clarity:Stream:AccessCheckInterval"] = "01:00:00" });
        var org = await host.SetupAsync("acme");
        using var owner = host.CreateClient(org.OwnerToken);
        var (_, token) = await AddSignedInMemberAsync(host, owner, org);
        var otherSession = await host.LoginAsync((await MeAsync(host, token)).GetProperty("user").Str("email"));

        await using var signedOut = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, token);
        await signedOut.SubscribeAsync(["tasks"]);
        await using var stillSignedIn = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, otherSession);
        await stillSignedIn.SubscribeAsync(["tasks"]);

        using var member = host.CreateClient(token);
        await member.PostAsync("api/v1/auth/logout", null).ExpectAsync(HttpStatusCode.NoContent);

        await DrainUntilClosedAsync(signedOut);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, signedOut.CloseStatus);
        Assert.Equal("credential-revoked", signedOut.CloseStatusDescription);

        using var agent = host.CreateClient(org.MemberKey);
        var task = await StreamTests.NewTaskAsync(agent, org);
        await stillSignedIn.NextAsync(m => m.IsTaskEvent(task), "the same user's other session keeps its stream");
    }

    [Fact]
    public async Task UsersWebSocket_EndsAtOnce_WhenTheyAreRemovedFromTheOrg_WithoutWaitingForTheAccessCheck()
    {
        await using var host = await ClarityHost.StartAsync(backend, new Dictionary<string, string?> { ["Clarity:Stream:AccessCheckInterval"] = "01:00:00" });
        var org = await host.SetupAsync("acme");
        using var owner = host.CreateClient(org.OwnerToken);
        var (userId, token) = await AddSignedInMemberAsync(host, owner, org);
        await using var removed = await StreamSocket.ConnectAsync(host.BaseAddress, org.Org, token);
        await removed.SubscribeAsync(["tasks"]);

        await owner.DeleteAsync(org.Api($"members/{userId}")).ExpectAsync(HttpStatusCode.OK);

        await DrainUntilClosedAsync(removed);
        Assert.Equal("access-revoked", removed.CloseStatusDescription);
    }

    private static async Task<System.Text.Json.JsonElement> MeAsync(ClarityHost host, string token)
    {
        using var client = host.CreateClient(token);
        return await client.GetAsync("api/v1/me").ExpectAsync(HttpStatusCode.OK);
    }

    private static async Task<(string UserId, string Token)> AddSignedInMemberAsync(ClarityHost host, HttpClient owner, OrgSession org)
    {
        var person = await host.AddPersonAsync(org, "viewer", $"member@{org.Org}.example");
        return (person.UserId.ToString(), person.Token);
    }

    /// <summary>Reads until the server closes the socket (events still queued may arrive first; none is an error).</summary>
    private static async Task DrainUntilClosedAsync(StreamSocket socket)
    {
        while (await socket.ReceiveAsync() is { } message)
        {
            Assert.NotEqual("error", message.Str("type"));
        }
    }
}

public sealed class SqliteStreamAccessTests() : StreamAccessTests(Backend.Sqlite);

public sealed class PostgresStreamAccessTests() : StreamAccessTests(Backend.Postgres);
