using System.Net;
using System.Net.Http.Json;
using System.Text;
using Clarity.Cli;
using Clarity.Tests.Infrastructure;
using Xunit;

namespace Clarity.Tests.Features.Notifications.OnCall;

/// <summary>The drill tests swap the process's console, so they run alone, after the parallel tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OnCallDrillCollection
{
    public const string Name = "On-call drill console";
}

/// <summary><c>clarity oncall drill</c>, run in-process against a real host.</summary>
public abstract class OnCallDrillTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : HostFixture
{
    private static async Task<(int Exit, string Out, string Err)> RunAsync(Func<Task>? meanwhile, params string[] args)
    {
        var (stdout, stderr) = (Console.Out, Console.Error);
        var outText = new StringBuilder();
        var errText = new StringBuilder();
        using var outWriter = TextWriter.Synchronized(new StringWriter(outText));
        using var errWriter = TextWriter.Synchronized(new StringWriter(errText));
        Console.SetOut(outWriter);
        Console.SetError(errWriter);
        try
        {
            var run = ClarityCli.RunAsync(args);
            if (meanwhile is not null)
            {
                await meanwhile();
            }

            var exit = await run;
            return (exit, outText.ToString(), errText.ToString());
        }
        finally
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }
    }

    [Fact]
    public async Task Drill_WhenThePagedPersonAcknowledges_PrintsTheEvidence_AndExitsZero()
    {
        var host = fixture.Host;
        var org = fixture.Org;
        host.UseFakeClock();
        var ann = await host.AddPersonAsync(org, "member");
        using var admin = host.CreateClient(org.OwnerToken);
        var policy = await admin.CreatePolicyAsync(org, [OnCallTestKit.Level(5, users: [ann.UserId])]);
        var policyName = (await admin.GetAsync(org.Api($"escalation-policies/{policy}")).ExpectAsync(HttpStatusCode.OK)).Str("name");

        string? acknowledged = null;
        var (exit, stdout, stderr) = await RunAsync(async () =>
        {
            // Ann gets the test page: she finds the open drill and acknowledges it.
            using var annClient = host.CreateClient(ann.Token);
            var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
            while (acknowledged is null)
            {
                var open = await annClient.GetAsync(org.Api("escalations?status=open&limit=200")).ExpectAsync(HttpStatusCode.OK);
                var drill = open.GetProperty("items").EnumerateArray().FirstOrDefault(e => e.Str("policyId") == policy && e.GetProperty("isDrill").GetBoolean());
                if (drill.ValueKind == System.Text.Json.JsonValueKind.Object)
                {
                    acknowledged = drill.Str("id");
                    await annClient.PostAsJsonAsync(org.Api($"escalations/{acknowledged}/acknowledge"), new { via = "dashboard" }).ExpectAsync(HttpStatusCode.OK);
                    break;
                }

                Assert.True(DateTimeOffset.UtcNow < deadline, "The drill never started.");
                await Task.Delay(100);
            }
        }, "oncall", "drill", "--policy", policyName, "--server", host.BaseAddress.ToString(), "--key", org.Keys["owner"], "--org", org.Org, "--poll", "1");

        Assert.True(exit == ExitCodes.Ok, stdout + stderr);
        var escalation = await admin.GetEscalationAsync(org, Guid.Parse(acknowledged!));
        Assert.True(escalation.GetProperty("isDrill").GetBoolean());
        Assert.Equal(("acknowledged", "dashboard", ann.Email), (escalation.Str("status"), escalation.Str("acknowledgedVia"), escalation.Str("acknowledgedByName")));
        Assert.Contains("TEST PAGE", stdout, StringComparison.Ordinal);
        Assert.Contains($"level 1 notified -> {ann.UserId}", stdout, StringComparison.Ordinal);
        Assert.Contains($"correlation id: {escalation.Str("correlationId")}", stdout, StringComparison.Ordinal);
        Assert.Contains($"acknowledged:   by {ann.Email} via dashboard", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Drill_WhenNobodyAcknowledgesBeforeTheTimeout_ExitsNonZero()
    {
        var host = fixture.Host;
        var org = fixture.Org;
        host.UseFakeClock();
        var ann = await host.AddPersonAsync(org, "member");
        using var admin = host.CreateClient(org.OwnerToken);
        var policy = await admin.CreatePolicyAsync(org, [OnCallTestKit.Level(5, users: [ann.UserId])]);

        var (exit, stdout, stderr) = await RunAsync(null, "oncall", "drill", "--policy", policy, "--server", host.BaseAddress.ToString(), "--key", org.Keys["owner"], "--org", org.Org, "--timeout", "1", "--poll", "1");

        Assert.Equal(ExitCodes.Failure, exit);
        Assert.Contains("TEST PAGE", stdout, StringComparison.Ordinal);
        Assert.Contains("nobody acknowledged", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("no-such-policy", "no escalation policy 'no-such-policy'")]
    [InlineData(null, "--policy is required")]
    public async Task Drill_WithBadInput_PrintsOneLine_AndExitsWithBadUsage(string? policy, string message)
    {
        var host = fixture.Host;
        var org = fixture.Org;
        var args = new List<string> { "oncall", "drill", "--server", host.BaseAddress.ToString(), "--key", org.Keys["owner"], "--org", org.Org };
        if (policy is not null)
        {
            args.AddRange(["--policy", policy]);
        }

        var (exit, _, stderr) = await RunAsync(null, [.. args]);

        Assert.Equal(ExitCodes.BadUsage, exit);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
    }
}

[Collection(OnCallDrillCollection.Name)]
public sealed class SqliteOnCallDrillTests(SqliteHostFixture fixture) : OnCallDrillTests<SqliteHostFixture>(fixture);

[Collection(OnCallDrillCollection.Name)]
public sealed class PostgresOnCallDrillTests(PostgresHostFixture fixture) : OnCallDrillTests<PostgresHostFixture>(fixture);
