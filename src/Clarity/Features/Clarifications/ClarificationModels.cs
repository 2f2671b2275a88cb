namespace Clarity.Features.Clarifications;

public static class ClarificationStatus
{
    public const string Pending = "pending";
    public const string Answered = "answered";
    public const string Expired = "expired";
    public const string Cancelled = "cancelled";

    public static readonly IReadOnlyList<string> All = [Pending, Answered, Expired, Cancelled];
}

public static class OnExpiry
{
    public const string Fail = "fail";
    public const string Default = "default";
}

public sealed record CreateClarificationRequest(string? LeaseToken, string? Question, IReadOnlyList<string>? Options, int? ExpiresInSeconds, string? OnExpiry, string? DefaultAnswer);

public sealed record AnswerRequest(string? Answer);

