namespace Clarity.Features.Identity;

public sealed record SetupRequest(string? Org, string? OrgName, string? Email, string? Password, string? DisplayName);

public sealed record LoginRequest(string? Email, string? Password);

public sealed record CreateOrgRequest(string? Slug, string? Name);

public sealed record AddMemberRequest(string? Email, string? Password, string? Role, string? DisplayName);

public sealed record ChangeRoleRequest(string? Role);

public sealed record CreateApiKeyRequest(string? Name, string? Role);

/// <summary>What an API key resolves to when it authenticates a request.</summary>
public sealed record ApiKeyPrincipal(Guid Id, Guid OrgId, string Name, string Prefix, string Role, bool Revoked, long? LastUsedAt);

public sealed record UserCredentials(Guid Id, string Email, string? PasswordHash);
