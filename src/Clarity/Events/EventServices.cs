using Clarity.Events.Audit;
using Clarity.Hosting;
using Clarity.Hosting.Compliance;

namespace Clarity.Events;

public static class EventServices
{
    /// <summary>
    /// The write path's parts: the unit of work (<see cref="Changes"/>), the outbox (<see cref="EventLog"/>) and its
    /// consumers' cursors, this node's feed and bus, the audit log's writer, leadership, and on PostgreSQL the event
    /// sequencer and the audit chainer. Hosted services start in this order, before the server listens: leadership first,
    /// then the feed, so no event committed after start-up is missed.
    /// </summary>
    public static IServiceCollection AddEvents(this IServiceCollection services, bool postgres)
    {
        services.AddSingleton<EventBus>();
        services.AddSingleton<IEventBus>(sp => sp.GetRequiredService<EventBus>());
        services.AddSingleton<EventLog>();
        services.AddSingleton<ConsumerCursors>();
        services.AddClarityRedaction();
        services.AddSingleton<AuditEntryJson>();
        services.AddSingleton<AuditLog>();
        services.AddSingleton<AuditSignal>();
        services.AddSingleton<Changes>();
        services.AddSingleton<Leadership>();
        services.AddHostedService(sp => sp.GetRequiredService<Leadership>());
        services.AddSingleton<EventFeed>();
        services.AddHostedService(sp => sp.GetRequiredService<EventFeed>());
        if (postgres)
        {
            services.AddSingleton<EventSequencer>();
            services.AddHostedService(sp => sp.GetRequiredService<EventSequencer>());
            services.AddSingleton<AuditChainer>();
            services.AddHostedService(sp => sp.GetRequiredService<AuditChainer>());
        }

        return services;
    }
}
