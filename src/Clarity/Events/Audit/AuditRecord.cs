using Clarity.Hosting.Compliance;
using Microsoft.Extensions.Compliance.Classification;

namespace Clarity.Events.Audit;

/// <summary>What an action acted on: a type (<c>task</c>, <c>member</c>, <c>apikey</c>, …), its id, and a label for people.</summary>
public sealed record AuditTarget(string Type, string? Id, string? Label = null)
{
    public AuditTarget(string type, Guid id, string? label = null)
        : this(type, id.ToString(), label)
    {
    }

    /// <summary>The label's data class (an email tried at sign-in is <see cref="ClarityTaxonomy.Personal"/>); none by default.</summary>
    public DataClassification LabelClass { get; init; } = DataClassification.None;
}

/// <summary>
/// One audit entry a change writes, in its own transaction (<see cref="Storage.Change.Audit"/>): the action
/// (<c>subject.verb</c>), its target, and the state before and after. <see cref="OrgId"/> names the org's chain; null puts
/// the entry on the instance's own chain (setup, sign-in, sign-out). The actor is the change's unless <see cref="Actor"/>
/// says otherwise; the correlation id, address and user agent come from the request.
/// </summary>
public sealed record AuditRecord(Guid? OrgId, string Action, AuditTarget? Target, AuditFields? Before = null, AuditFields? After = null)
{
    /// <summary>Someone other than the change's actor (a person acting on their own behalf inside a system change).</summary>
    public Events.Actor? Actor { get; init; }

    /// <summary>How people know the actor (an email, a key's name); optional.</summary>
    public string? ActorLabel { get; init; }

    /// <summary>False for a refused attempt (a failed sign-in).</summary>
    public bool Succeeded { get; init; } = true;
}

/// <summary>
/// The named values of an entry's before or after, in order, each with its data class: a value classed
/// <see cref="ClarityTaxonomy.Secret"/> is erased before it is written, whatever it is.
/// </summary>
public sealed class AuditFields
{
    private readonly List<AuditField> _fields = [];

    public IReadOnlyList<AuditField> Fields => _fields;

    /// <summary>A plain value: a string, number, bool, Guid, time, a list of strings, or null.</summary>
    public AuditFields Add(string name, object? value)
    {
        _fields.Add(new AuditField(name, value, DataClassification.None));
        return this;
    }

    public AuditFields Personal(string name, string? value)
    {
        _fields.Add(new AuditField(name, value, ClarityTaxonomy.Personal));
        return this;
    }

    public AuditFields Secret(string name, string? value)
    {
        _fields.Add(new AuditField(name, value, ClarityTaxonomy.Secret));
        return this;
    }
}

public readonly record struct AuditField(string Name, object? Value, DataClassification Class);

/// <summary>The address and user agent of the request being served on this async flow (null for background work), set by middleware.</summary>
public sealed record RequestClient(string? Address, string? UserAgent)
{
    private static readonly AsyncLocal<RequestClient?> s_current = new();

    public static RequestClient? Current
    {
        get => s_current.Value;
        set => s_current.Value = value;
    }

    /// <summary>Sets <see cref="Current"/> for the request; early in the pipeline, after trusted proxies have set the address.</summary>
    public static Task Middleware(HttpContext context, RequestDelegate next)
    {
        var agent = context.Request.Headers.UserAgent.ToString();
        Current = new RequestClient(
            context.Connection.RemoteIpAddress?.ToString(),
            string.IsNullOrEmpty(agent) ? null : agent.Length <= 300 ? agent : agent[..300]);
        return next(context);
    }
}
