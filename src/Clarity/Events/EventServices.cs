using Clarity.Hosting;

namespace Clarity.Events;

public static class EventServices
{
    /// <summary>
    /// The write path's parts: the unit of work (<see cref="Changes"/>), the outbox (<see cref="EventLog"/>), this node's
    /// feed and bus, leadership, and on PostgreSQL the sequencer. Hosted services start in this order, before the server
    /// listens: leadership first, then the feed, so no event committed after start-up is missed.
    /// </summary>
    public static IServiceCollection AddEvents(this IServiceCollection services, bool postgres)
    {
        services.AddSingleton<EventBus>();
        services.AddSingleton<IEventBus>(sp => sp.GetRequiredService<EventBus>());
        services.AddSingleton<EventLog>();
        services.AddSingleton<Changes>();
        services.AddSingleton<Leadership>();
        services.AddHostedService(sp => sp.GetRequiredService<Leadership>());
        services.AddSingleton<EventFeed>();
        services.AddHostedService(sp => sp.GetRequiredService<EventFeed>());
        if (postgres)
        {
            services.AddSingleton<EventSequencer>();
            services.AddHostedService(sp => sp.GetRequiredService<EventSequencer>());
        }

        return services;
    }
}
