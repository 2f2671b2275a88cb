using System.Globalization;
using Clarity.Events;
using Clarity.Features.Notifications.OnCall;
using Clarity.Features.Workflows.Runs;
using Clarity.Hosting;
using Clarity.Storage;
using Dapper;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Notifications;

/// <summary>
/// The outbox consumer of notifications, on the leader (<see cref="OutboxConsumer"/>, cursor
/// <see cref="NotificationStore.CursorName"/>): it maps the events that mean a notification (<see cref="NotifiableEvent.TypeOf"/>),
/// matches them against the enabled rules of their org (event types, then filters), expands each rule's channels into
/// recipients, and writes one delivery per (event, channel, recipient) in the same transaction as it advances the
/// cursor. On the way: a recipient who muted the channel gets a <c>suppressed</c> delivery (recorded, never sent); one
/// inside their quiet hours gets a delivery held until the quiet hours end; and a burst (more than
/// <c>Notifications:DigestThreshold</c> deliveries of one event type to one recipient and channel within
/// <c>DigestWindowSeconds</c>) is grouped: the rest become <c>grouped</c> rows of one digest delivery, sent when the
/// window closes. The unique (event_seq, channel, recipient) key keeps a second pass over the same events from adding any.
/// </summary>
public sealed partial class NotificationDispatcher(
    EventLog log, ConsumerCursors cursors, NotificationStore store, NotificationViews views, NotificationSender sender, EscalationService escalations, IEventBus bus,
    IOptions<ClarityOptions> options, TimeProvider clock, Leadership leadership, ILogger<NotificationDispatcher> logger)
    : OutboxConsumer(log, cursors, bus, clock, leadership, logger)
{
    /// <summary>
    /// A digest due sooner than this (5 s, or a quarter of the window when that is shorter) is not extended with more
    /// events: the sender may be reading it already.
    /// </summary>
    private long DigestClosingMargin => Math.Min(5000L, Settings.DigestWindowSeconds * 1000L / 4);

    private readonly NotificationStore _store = store;
    private readonly NotificationViews _views = views;

    protected override string Name => "notification fan-out";

    protected override string CursorName => NotificationStore.CursorName;

    protected override string LogSubject => "Notifications";

    private NotificationOptions Settings => options.Value.Notifications;

    /// <summary>One pass, as the loop runs it (tests run passes of their own, as a second dispatcher would).</summary>
    internal Task<bool> PassAsync(CancellationToken ct) => RunOnceAsync(ct);

    protected override async Task<OutboxWork> HandleAsync(OutboxBatch batch, CancellationToken ct)
    {
        var events = new List<NotifiableEvent>();
        foreach (var (row, evt) in batch.Events)
        {
            if (evt.OrgId != Guid.Empty && NotifiableEvent.TypeOf(evt) is { } type)
            {
                events.Add(new NotifiableEvent(row, evt, type));
            }
        }

        var (deliveries, starts) = events.Count == 0 ? ([], []) : await PlanAsync(events, batch.Now, ct);

        // An approval decided (or its step skipped or cancelled) ends the escalations about it, as an answer does a question's.
        var decided = batch.Events
            .Select(e => e.Event).OfType<RunStepChanged>().Where(s => s.Kind == "approval" && StepStatuses.IsFinal(s.Status))
            .Select(s => (Subject: StepSubject(s), Outcome: s.Decision ?? s.Status)).ToList();
        if (deliveries.Count == 0 && starts.Count == 0 && decided.Count == 0)
        {
            return OutboxWork.None;
        }

        return new OutboxWork(
            (c, t) => NotificationStore.InsertDeliveriesAsync(c, t, deliveries),
            deliveries.Any(d => d.Status == NotificationDeliveryStatuses.Pending) ? sender.Wake : null,
            starts.Count == 0 && decided.Count == 0 ? null : change => EscalateAsync(change, starts, decided));
    }

    /// <summary>The escalations the batch starts and the approvals it decided, each in a savepoint of its own (<see cref="StartEscalationsAsync"/>).</summary>
    private async Task EscalateAsync(Change change, List<EscalationStart> starts, List<(Guid Subject, string Outcome)> decided)
    {
        await StartEscalationsAsync(change, starts);
        foreach (var (subject, outcome) in decided)
        {
            if (await change.TryAsync(() => escalations.ResolveApprovalAsync(change, subject, outcome)) is { } failed)
            {
                Log.ResolveFailed(Logger, failed, subject);
            }
        }
    }

    /// <summary>
    /// Starts the escalations of rules with a policy that fired, in the unit of work that advances the cursor and writes
    /// the deliveries. Once per (rule, subject): a rule that already started one about the subject (an event read again)
    /// starts none, and a policy deleted meanwhile starts none. Each start runs in a savepoint of its own: one that fails
    /// (a policy whose stored levels no longer read, say) is logged and skipped, and the deliveries, the other starts and
    /// the cursor still commit. Without that, the same failing event would be read again and again, and no notification
    /// of any org would go out behind it.
    /// </summary>
    private async Task StartEscalationsAsync(Change change, List<EscalationStart> starts)
    {
        foreach (var start in starts)
        {
            var failed = await change.TryAsync(async () =>
            {
                if (!await EscalationStore.StartedByRuleAsync(change, start.RuleId, start.Subject.Id)
                    && await OnCallStore.GetPolicyAsync(change, start.OrgId, start.PolicyId) is not null
                    && await StillOpenAsync(change, start.Subject))
                {
                    await escalations.StartAsync(change, start.OrgId, start.PolicyId, start.Subject, start.CorrelationId, start.View, start.RuleId);
                }
            });
            if (failed is not null)
            {
                Log.StartFailed(Logger, failed, start.RuleId, start.Subject.Id);
            }
        }
    }

    /// <summary>
    /// Whether the question is still pending (read under its row lock on PostgreSQL, so an answer committing meanwhile
    /// either comes first, and no escalation starts, or waits, and resolves the one started here). A question answered,
    /// expired or cancelled before the fan-out read its event (a backlog, a failover) pages nobody. An approval decided
    /// meanwhile is resolved by its own later event in this or a following pass.
    /// </summary>
    private static async Task<bool> StillOpenAsync(Change change, EscalationSubject subject) =>
        subject.Kind != EscalationSubjects.Clarification
        || await change.Connection.ExecuteScalarAsync<string?>(
            $"SELECT status FROM clarifications WHERE id = @id {change.Dialect.ForUpdate}", new { id = subject.Id }, change.Transaction) == "pending";

    /// <summary>An escalation a rule with a policy starts: about a question or an approval, under the event's correlation id.</summary>
    private sealed record EscalationStart(Guid RuleId, Guid OrgId, Guid PolicyId, EscalationSubject Subject, string CorrelationId, NotificationView View);

    /// <summary>
    /// The deliveries of these events (matched, expanded, deduplicated, muted, held and grouped), and the escalations the
    /// rules with a policy start. Pages (escalation.page) match no rule: their deliveries are the page's targets.
    /// </summary>
    private async Task<(List<NotificationDeliveryRow> Deliveries, List<EscalationStart> Starts)> PlanAsync(List<NotifiableEvent> events, DateTimeOffset now, CancellationToken ct)
    {
        var pages = events.Where(e => e.Type == NotificationEvents.EscalationPage).ToList();
        var paged = pages.Count == 0 ? [] : await PagesAsync(pages, now, ct);
        events = [.. events.Where(e => e.Type != NotificationEvents.EscalationPage)];
        var rules = events.Count == 0 ? [] : await _store.EnabledRulesOfOrgsAsync([.. events.Select(e => e.Row.OrgId).Distinct()], ct);
        if (rules.Count == 0)
        {
            return (paged, []);
        }

        var byOrg = rules
            .Select(r => (Row: r, Events: r.EventList, Channels: r.ChannelList, Filters: r.FilterSet))
            .GroupBy(r => r.Row.OrgId)
            .ToDictionary(g => g.Key, g => g.ToList());
        var relevant = events.Where(e => byOrg.TryGetValue(e.Row.OrgId, out var list) && list.Any(r => r.Events.Contains(e.Type))).ToList();
        if (relevant.Count == 0)
        {
            return (paged, []);
        }

        var orgIds = relevant.Select(e => e.Row.OrgId).Distinct().ToList();
        var views = await _views.BuildAsync(relevant, ct);
        var members = (await _store.MembersOfOrgsAsync(orgIds, ct)).GroupBy(m => m.OrgId).ToDictionary(
            g => g.Key,
            g => (ById: g.ToDictionary(m => m.UserId, m => m.Email), ByEmail: g.GroupBy(m => m.Email.ToLowerInvariant()).ToDictionary(x => x.Key, x => x.First().UserId)));
        var nowDb = DbTime.ToDb(now);

        // Match and expand: one candidate per (event, channel, recipient), the first matching rule's.
        var candidates = new List<NotificationDeliveryRow>();
        var starts = new List<EscalationStart>();
        var keys = new HashSet<(long, string, string)>();
        foreach (var e in relevant)
        {
            var facets = views[e.Row.Seq].Facets;
            var people = members.GetValueOrDefault(e.Row.OrgId);
            foreach (var (rule, types, channels, filters) in byOrg[e.Row.OrgId])
            {
                if (!types.Contains(e.Type) || !Passes(filters, facets)
                    || (rule.OwnerUserId is { } owner && (people.ById is null || !people.ById.ContainsKey(owner))))
                {
                    continue;
                }

                if (rule.EscalationPolicyId is { } policy && rule.OwnerUserId is null && Subject(e) is { } subject)
                {
                    starts.Add(new EscalationStart(rule.Id, e.Row.OrgId, policy, subject, e.Row.CorrelationId ?? $"evt_{e.Row.Seq}", views[e.Row.Seq].View));
                }

                foreach (var channel in channels)
                {
                    foreach (var (recipient, userId) in Recipients(channel, people.ById, people.ByEmail))
                    {
                        if (keys.Add((e.Row.Seq, channel.Type, recipient)))
                        {
                            candidates.Add(new NotificationDeliveryRow
                            {
                                Id = Guid.CreateVersion7(),
                                OrgId = e.Row.OrgId,
                                RuleId = rule.Id,
                                EventSeq = e.Row.Seq,
                                EventType = e.Type,
                                EventAt = e.Row.CreatedAt,
                                Channel = channel.Type,
                                Recipient = recipient,
                                RecipientUserId = userId,
                                Status = NotificationDeliveryStatuses.Pending,
                                NextAttemptAt = nowDb,
                                CreatedAt = nowDb,
                            });
                        }
                    }
                }
            }
        }

        if (candidates.Count == 0)
        {
            return (paged, starts);
        }

        // A pass over events that already have deliveries (a former leader's pass that committed) adds nothing for them.
        var existing = await _store.ExistingKeysAsync([.. candidates.Select(c => c.EventSeq!.Value).Distinct()], ct);
        candidates = [.. candidates.Where(c => !existing.Contains((c.EventSeq!.Value, c.Channel, c.Recipient)))];
        ApplyPreferences(candidates, await _store.PreferencesOfOrgsAsync(orgIds, ct), now);
        var digests = await GroupAsync(candidates, orgIds, nowDb, ct);
        candidates.AddRange(digests);
        candidates.AddRange(paged);
        return (candidates, starts);
    }

    /// <summary>What a rule's escalation is about: the question asked, or the approval step waiting (its run's step).</summary>
    private static EscalationSubject? Subject(NotifiableEvent e) => e.Type switch
    {
        NotificationEvents.ClarificationAsked when e.ClarificationId is { } question => new EscalationSubject(EscalationSubjects.Clarification, question),
        NotificationEvents.ApprovalPending when e.Event is RunStepChanged step => new EscalationSubject(EscalationSubjects.Approval, StepSubject(step)),
        _ => null,
    };

    private static Guid StepSubject(RunStepChanged step) => EscalationSubjects.ApprovalStep(step.RunId, step.StepId);

    /// <summary>
    /// The deliveries of pages: one per target of the page's event (email to the person's address, web push to their user
    /// id, a Slack DM to their address, found in Slack when sent), keyed by the page event's seq. A page is urgent: it is
    /// never held for quiet hours and never grouped into a digest; a channel the person muted is recorded as suppressed,
    /// except email, which always goes, so that a page always reaches the person somewhere.
    /// </summary>
    private async Task<List<NotificationDeliveryRow>> PagesAsync(List<NotifiableEvent> pages, DateTimeOffset now, CancellationToken ct)
    {
        var orgIds = pages.Select(p => p.Row.OrgId).Distinct().ToList();
        var emails = (await _store.MembersOfOrgsAsync(orgIds, ct)).ToDictionary(m => (m.OrgId, m.UserId), m => m.Email);
        var muted = (await _store.PreferencesOfOrgsAsync(orgIds, ct)).ToDictionary(p => (p.OrgId, p.UserId), p => p.MutedList);
        var nowDb = DbTime.ToDb(now);
        var result = new List<NotificationDeliveryRow>();
        foreach (var e in pages)
        {
            foreach (var target in ((EscalationChanged)e.Event).Targets ?? [])
            {
                if (!emails.TryGetValue((e.Row.OrgId, target.UserId), out var email) || !NotificationChannels.All.Contains(target.Channel))
                {
                    continue;
                }

                var suppressed = target.Channel != NotificationChannels.Email
                    && muted.TryGetValue((e.Row.OrgId, target.UserId), out var list) && list.Contains(target.Channel, StringComparer.Ordinal);
                result.Add(new NotificationDeliveryRow
                {
                    Id = Guid.CreateVersion7(),
                    OrgId = e.Row.OrgId,
                    EventSeq = e.Row.Seq,
                    EventType = NotificationEvents.EscalationPage,
                    EventAt = e.Row.CreatedAt,
                    Channel = target.Channel,
                    Recipient = target.Channel == NotificationChannels.WebPush ? target.UserId.ToString() : email,
                    RecipientUserId = target.UserId,
                    Status = suppressed ? NotificationDeliveryStatuses.Suppressed : NotificationDeliveryStatuses.Pending,
                    NextAttemptAt = suppressed ? null : nowDb,
                    Note = suppressed ? $"muted: the recipient muted {target.Channel} (a page still goes by email)" : "on-call page",
                    CreatedAt = nowDb,
                });
            }
        }

        if (result.Count == 0)
        {
            return result;
        }

        var existing = await _store.ExistingKeysAsync([.. result.Select(c => c.EventSeq!.Value).Distinct()], ct);
        return [.. result.Where(c => !existing.Contains((c.EventSeq!.Value, c.Channel, c.Recipient)))];
    }

    /// <summary>Mutes first (suppressed, never sent), then quiet hours (held until they end).</summary>
    private static void ApplyPreferences(List<NotificationDeliveryRow> candidates, IReadOnlyList<PreferenceRow> preferences, DateTimeOffset now)
    {
        var byUser = preferences.ToDictionary(p => (p.OrgId, p.UserId));
        foreach (var d in candidates)
        {
            if (d.RecipientUserId is not { } user || !byUser.TryGetValue((d.OrgId, user), out var pref))
            {
                continue;
            }

            if (pref.MutedList.Contains(d.Channel, StringComparer.Ordinal))
            {
                d.Status = NotificationDeliveryStatuses.Suppressed;
                d.NextAttemptAt = null;
                d.Note = $"muted: the recipient muted {d.Channel}";
            }
            else if (pref.Quiet?.EndsAfter(now) is { } end)
            {
                d.NextAttemptAt = DbTime.ToDb(end);
                d.Note = "held for the recipient's quiet hours until " + end.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);
            }
        }
    }

    /// <summary>
    /// Burst grouping. A delivery is grouped when its key (org, channel, recipient, event type) already has
    /// <c>DigestThreshold</c> deliveries whose events happened in the <c>DigestWindowSeconds</c> before its own. Grouped
    /// deliveries join the key's open digest (one not yet due), or start one, due when the window of its first event
    /// closes (or later, when the recipient's quiet hours hold it longer). Returns the new digests.
    /// </summary>
    private async Task<List<NotificationDeliveryRow>> GroupAsync(List<NotificationDeliveryRow> candidates, List<Guid> orgIds, long now, CancellationToken ct)
    {
        var live = candidates.Where(c => c.Status == NotificationDeliveryStatuses.Pending).ToList();
        if (live.Count == 0)
        {
            return [];
        }

        var window = Settings.DigestWindowSeconds * 1000L;
        var recent = await _store.RecentAsync(orgIds, live.Min(c => c.EventAt) - window, ct);
        var times = recent.Where(r => r.IsDigest == 0).GroupBy(Key).ToDictionary(g => g.Key, g => g.Select(r => r.EventAt).ToList());
        var open = recent
            .Where(r => r.IsDigest == 1 && r.NextAttemptAt > now + DigestClosingMargin)
            .GroupBy(Key)
            .ToDictionary(g => g.Key, g => g.OrderByDescending(r => r.NextAttemptAt).First());
        var created = new List<NotificationDeliveryRow>();
        foreach (var d in live.OrderBy(c => c.EventSeq))
        {
            var key = Key(d);
            if (!times.TryGetValue(key, out var list))
            {
                times[key] = list = [];
            }

            var before = list.Count(at => at > d.EventAt - window && at <= d.EventAt);
            list.Add(d.EventAt);
            if (before < Settings.DigestThreshold)
            {
                continue;
            }

            if (!open.TryGetValue(key, out var digest))
            {
                digest = new NotificationDeliveryRow
                {
                    Id = Guid.CreateVersion7(),
                    OrgId = d.OrgId,
                    RuleId = d.RuleId,
                    EventType = d.EventType,
                    EventAt = d.EventAt,
                    Channel = d.Channel,
                    Recipient = d.Recipient,
                    RecipientUserId = d.RecipientUserId,
                    Status = NotificationDeliveryStatuses.Pending,
                    IsDigest = 1,
                    NextAttemptAt = Math.Max(d.EventAt + window, d.NextAttemptAt ?? now),
                    Note = $"digest of a burst: more than {Settings.DigestThreshold} {d.EventType} within {Settings.DigestWindowSeconds} s",
                    CreatedAt = now,
                };
                open[key] = digest;
                created.Add(digest);
            }

            d.Status = NotificationDeliveryStatuses.Grouped;
            d.DigestId = digest.Id;
            d.NextAttemptAt = null;
            d.Note = "grouped into digest " + digest.Id;
        }

        return created;
    }

    private static (Guid, string, string, string) Key(NotificationDeliveryRow d) => (d.OrgId, d.Channel, d.Recipient, d.EventType);

    /// <summary>
    /// Whether an event passes a rule's filters. A filter that is set needs the event to have what it filters, and to
    /// match: a queue filter lets through only task and question events of those queues, a labels filter only those whose
    /// task carries one of the labels, a workflows filter only events of runs of those workflows (and their tasks).
    /// </summary>
    public static bool Passes(RuleFilters filters, EventFacets facets) =>
        (filters.Queues is not { } queues || (facets.Queue is { } queue && queues.Contains(queue, StringComparer.Ordinal)))
        && (filters.Labels is not { } labels || facets.Labels.Any(l => labels.Contains(l, StringComparer.Ordinal)))
        && (filters.Workflows is not { } workflows || (facets.Workflow is { } workflow && workflows.Contains(workflow, StringComparer.Ordinal)));

    /// <summary>
    /// The recipients of a rule's channel: each address (with the member who has it, if any), the Slack channel, each web
    /// push user who is still a member, the webhook endpoint.
    /// </summary>
    private static IEnumerable<(string Recipient, Guid? UserId)> Recipients(RuleChannel channel, Dictionary<Guid, string>? byId, Dictionary<string, Guid>? byEmail)
    {
        switch (channel.Type)
        {
            case NotificationChannels.Email:
                foreach (var to in channel.To ?? [])
                {
                    yield return (to, byEmail is not null && byEmail.TryGetValue(to.ToLowerInvariant(), out var user) ? user : null);
                }

                break;
            case NotificationChannels.Slack when channel.Channel is { } name:
                yield return (name, null);
                break;
            case NotificationChannels.WebPush:
                foreach (var user in channel.Users ?? [])
                {
                    if (byId is not null && byId.ContainsKey(user))
                    {
                        yield return (user.ToString(), user);
                    }
                }

                break;
            case NotificationChannels.Webhook when channel.Endpoint is { } endpoint:
                yield return (endpoint.ToString(), null);
                break;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Notifications: could not start the escalation of rule {RuleId} about {SubjectId}; skipped it, and the fan-out goes on")]
        public static partial void StartFailed(ILogger logger, Exception error, Guid ruleId, Guid subjectId);

        [LoggerMessage(2, LogLevel.Error, "Notifications: could not resolve the escalations of approval {SubjectId}; skipped it, and the fan-out goes on")]
        public static partial void ResolveFailed(ILogger logger, Exception error, Guid subjectId);
    }
}
