namespace Clarity.Features.Clarifications;

public sealed record CreateClarificationRequest(string? LeaseToken, string? Question, IReadOnlyList<string>? Options, int? ExpiresInSeconds, string? OnExpiry, string? DefaultAnswer);

public sealed record AnswerRequest(string? Answer);

