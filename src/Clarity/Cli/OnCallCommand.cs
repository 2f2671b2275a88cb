using System.CommandLine;
using System.Globalization;
using Clarity.Client;

namespace Clarity.Cli;

/// <summary>
/// <c>clarity oncall drill --policy P</c>: sends a clearly marked test page through an escalation policy's chain,
/// prints each step as it happens, waits for the acknowledgement (or the chain's end) and prints the evidence: who
/// acknowledged, when, through which channel, and the correlation id. Exits 0 when someone acknowledged, 1 when nobody did.
/// </summary>
public static class OnCallCommand
{
    public static Command Create()
    {
        var command = new Command("oncall", "On-call: drill an escalation policy.");
        command.Subcommands.Add(Drill());
        return command;
    }

    private static Command Drill()
    {
        var policy = new Option<string?>("--policy") { Description = "The escalation policy: its id or its name." };
        var server = new Option<string?>("--server") { Description = "The Clarity server URL (env CLARITY_SERVER)." };
        var key = new Option<string?>("--key") { Description = "API key of someone who manages on-call (env CLARITY_KEY)." };
        var org = new Option<string?>("--org") { Description = "Org slug (env CLARITY_ORG)." };
        var timeout = new Option<int?>("--timeout") { Description = "Give up waiting after this many seconds (default: until the chain ends)." };
        var poll = new Option<int>("--poll") { Description = "Seconds between looks at the escalation (1 to 60).", DefaultValueFactory = _ => 2 };
        var command = new Command("drill", "Send a test page through a policy's chain and record who acknowledged it, and when, as evidence.");
        command.Options.Add(policy);
        command.Options.Add(server);
        command.Options.Add(key);
        command.Options.Add(org);
        command.Options.Add(timeout);
        command.Options.Add(poll);
        command.SetAction(async (result, ct) =>
        {
            var settings = new DrillSettings(
                result.GetValue(policy), result.GetValue(server) ?? Env("CLARITY_SERVER"), result.GetValue(key) ?? Env("CLARITY_KEY"),
                result.GetValue(org) ?? Env("CLARITY_ORG"), result.GetValue(timeout), result.GetValue(poll));
            if (Validate(settings) is { } problem)
            {
                return await AuditCommand.FailAsync(problem, ExitCodes.BadUsage);
            }

            try
            {
                using var client = new ClarityClient(new Uri(settings.Server!), settings.Key, settings.Org);
                return await RunDrillAsync(client, settings, ct);
            }
            catch (ClarityApiException ex)
            {
                return await AuditCommand.FailAsync(ex.Message, (int)ex.StatusCode is >= 400 and < 500 ? ExitCodes.BadUsage : ExitCodes.Unavailable);
            }
            catch (Exception ex) when (ex is HttpRequestException or TimeoutException)
            {
                return await AuditCommand.FailAsync($"cannot reach {settings.Server}: {ex.Message}", ExitCodes.Unavailable);
            }
        });
        return command;
    }

    private sealed record DrillSettings(string? Policy, string? Server, string? Key, string? Org, int? TimeoutSeconds, int PollSeconds);

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;

    private static string? Validate(DrillSettings s)
    {
        if (string.IsNullOrWhiteSpace(s.Policy))
        {
            return "--policy is required (the escalation policy's id or name).";
        }

        if (string.IsNullOrWhiteSpace(s.Server))
        {
            return "--server is required (or set CLARITY_SERVER).";
        }

        if (!Uri.TryCreate(s.Server, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            return $"--server must be an http or https URL, not '{s.Server}'.";
        }

        if (string.IsNullOrWhiteSpace(s.Key))
        {
            return "--key is required (or set CLARITY_KEY).";
        }

        if (string.IsNullOrWhiteSpace(s.Org))
        {
            return "--org is required (or set CLARITY_ORG).";
        }

        if (s.TimeoutSeconds is < 1)
        {
            return "--timeout must be at least 1 second.";
        }

        return s.PollSeconds is < 1 or > 60 ? "--poll must be between 1 and 60 seconds." : null;
    }

    private static async Task<int> RunDrillAsync(ClarityClient client, DrillSettings s, CancellationToken ct)
    {
        if (await FindPolicyAsync(client, s.Policy!, ct) is not { } policyId)
        {
            return await AuditCommand.FailAsync($"no escalation policy '{s.Policy}' in org '{s.Org}'.", ExitCodes.BadUsage);
        }

        var escalation = await client.StartDrillAsync(policyId, ct);
        Console.WriteLine($"TEST PAGE: drill of escalation policy '{escalation.PolicyName}' started at {Time(escalation.StartedAt)}.");
        Console.WriteLine($"Escalation {escalation.Id}, correlation id {escalation.CorrelationId}.");
        var deadline = s.TimeoutSeconds is { } seconds ? DateTimeOffset.UtcNow.AddSeconds(seconds) : (DateTimeOffset?)null;
        var printed = 0;
        DateTimeOffset? announcedNext = null;
        while (true)
        {
            var timeline = escalation.Timeline ?? [];
            for (; printed < timeline.Count; printed++)
            {
                Console.WriteLine(Describe(timeline[printed]));
            }

            if (escalation.Status != "open")
            {
                break;
            }

            if (escalation.NextAt != announcedNext)
            {
                announcedNext = escalation.NextAt;
                Console.WriteLine(announcedNext is { } next
                    ? $"Waiting for an acknowledgement; the chain moves on at {Time(next)}."
                    : "Waiting for an acknowledgement.");
            }

            if (deadline is { } end && DateTimeOffset.UtcNow >= end)
            {
                await Console.Error.WriteLineAsync($"clarity: nobody acknowledged within {s.TimeoutSeconds} s; the drill escalation {escalation.Id} is still open.");
                return ExitCodes.Failure;
            }

            await Task.Delay(TimeSpan.FromSeconds(s.PollSeconds), ct);
            escalation = await client.GetEscalationAsync(escalation.Id, ct);
        }

        Console.WriteLine("Evidence:");
        Console.WriteLine($"  policy:         {escalation.PolicyName} ({escalation.PolicyId})");
        Console.WriteLine($"  escalation:     {escalation.Id} (test page)");
        Console.WriteLine($"  correlation id: {escalation.CorrelationId}");
        Console.WriteLine($"  started:        {Time(escalation.StartedAt)}");
        if (escalation.Status == "acknowledged")
        {
            Console.WriteLine($"  acknowledged:   by {escalation.AcknowledgedByName ?? escalation.AcknowledgedBy?.ToString() ?? "someone"} via {escalation.AcknowledgedVia} at {Time(escalation.AcknowledgedAt)}, level {escalation.LevelReached}");
            return ExitCodes.Ok;
        }

        Console.WriteLine($"  outcome:        {escalation.Status}: nobody acknowledged the test page.");
        return ExitCodes.Failure;
    }

    private static async Task<Guid?> FindPolicyAsync(ClarityClient client, string policy, CancellationToken ct)
    {
        string? cursor = null;
        do
        {
            var page = await client.ListEscalationPoliciesAsync(cursor, 200, ct);
            foreach (var item in page.Items)
            {
                if (string.Equals(item.Name, policy, StringComparison.Ordinal) || (Guid.TryParse(policy, out var id) && item.Id == id))
                {
                    return item.Id;
                }
            }

            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return null;
    }

    private static string Describe(EscalationTimelineEntry entry) => entry.Kind switch
    {
        "notified" => $"{Time(entry.At)}  level {entry.Level} notified -> {(entry.Recipients.Count == 0 ? "nobody" : string.Join(", ", entry.Recipients))} ({entry.Detail})",
        _ => $"{Time(entry.At)}  {entry.Kind}: {entry.Detail}",
    };

    private static string Time(DateTimeOffset? at) => at?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) ?? "-";
}
