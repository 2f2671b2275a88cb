using Clarity.Events;
using Clarity.Events.Audit;
using Clarity.Features.Audit;
using Clarity.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Clarity.Tests.Features.Audit;

/// <summary>Helpers of the audit verification tests: entries written through the real unit of work, and waiting for the chainer.</summary>
internal static class AuditWork
{
    public static async Task<Guid> OrgIdAsync(this ClarityHost host, string slug) =>
        (await host.Services.GetRequiredService<AuditVerifyStore>().FindOrgAsync(slug, CancellationToken.None))!.Value.Id;

    /// <summary>Writes <paramref name="count"/> entries on the org's chain, a few per unit of work, as the system.</summary>
    public static async Task WriteEntriesAsync(this ClarityHost host, Guid orgId, int count, string action = "test.recorded")
    {
        var changes = host.Services.GetRequiredService<Changes>();
        for (var i = 0; i < count;)
        {
            var batch = Math.Min(3, count - i);
            var first = i;
            await changes.RunAsync(Actor.System, change =>
            {
                for (var j = 0; j < batch; j++)
                {
                    change.Audit(new AuditRecord(orgId, action, new AuditTarget("task", Guid.CreateVersion7(), $"item {first + j}"),
                        After: new AuditFields().Add("n", first + j).Add("note", "näive ☃ \"quoted\"")));
                }

                return Task.CompletedTask;
            });
            i += batch;
        }

        await host.WaitChainedAsync();
    }

    /// <summary>On PostgreSQL, waits until the leader's chainer has chained every committed entry.</summary>
    public static async Task WaitChainedAsync(this ClarityHost host)
    {
        var log = host.Services.GetRequiredService<AuditLog>();
        for (var i = 0; i < 600 && await log.UnchainedAsync(CancellationToken.None) > 0; i++)
        {
            await Task.Delay(50);
        }

        if (await log.UnchainedAsync(CancellationToken.None) > 0)
        {
            throw new TimeoutException("Audit entries stayed unchained for 30 s.");
        }
    }
}
