namespace Clarity.Features.Clarifications;

public sealed record CreateClarificationRequest(string? LeaseToken, string? Question, IReadOnlyList<string>? Options, int? ExpiresInSeconds, string? OnExpiry, string? DefaultAnswer);

public sealed record AnswerRequest(string? Answer);


/// <summary>The channels a question can be answered through; the clarification records the one whose answer won.</summary>
public static class AnswerChannels
{
    public const string Dashboard = "dashboard";
    public const string Api = "api";
    public const string Email = "email";
    public const string Slack = "slack";
    public const string WebPush = "webpush";
    public const string Mcp = "mcp";
}

/// <summary>
/// Who answers and through which channel. <paramref name="ActorId"/> is the user (or API key) recorded as
/// <c>answeredBy</c>, null for an answerer who is no member (an email link's recipient); <paramref name="Name"/> is what
/// a person reads (when null: the user's email, or the API key's name).
/// </summary>
public sealed record Answerer(Clarity.Events.Actor Actor, Guid? ActorId, string? Name, string Via)
{
    public static Answerer Of(Clarity.Hosting.Caller caller, string via) => new(caller.Actor, caller.ActorId, null, via);
}
