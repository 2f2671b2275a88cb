namespace Clarity.Features.Identity;

public sealed record SetupRequest(string? Org, string? OrgName, string? Email, string? Password, string? DisplayName);

public sealed record SetupStatus(bool Required);

public sealed record LoginRequest(string? Email, string? Password);

public sealed record LoginResponse(string Token, DateTimeOffset ExpiresAt);

public sealed record CreateOrgRequest(string? Slug, string? Name);

public sealed record AddMemberRequest(string? Email, string? Password, string? Role, string? DisplayName);

public sealed record ChangeRoleRequest(string? Role);

public sealed record CreateApiKeyRequest(string? Name, string? Role);

public sealed record Org(Guid Id, string Slug, string Name, DateTimeOffset CreatedAt);

public sealed record User(Guid Id, string Email, string DisplayName, DateTimeOffset CreatedAt);

public sealed record OrgMembership(string Slug, string Name, string Role);

public sealed record Member(Guid UserId, string Email, string DisplayName, string Role, DateTimeOffset JoinedAt);

public sealed record Me(User? User, IReadOnlyList<OrgMembership> Orgs, ApiKeyIdentity? ApiKey);

public sealed record ApiKeyIdentity(Guid Id, string Name, string Prefix, string Role, string Org);

public sealed record ApiKeyInfo(Guid Id, string Name, string Prefix, string Role, DateTimeOffset CreatedAt, DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt);

/// <summary>Returned once, at creation: the only time the secret is ever shown.</summary>
public sealed record CreatedApiKey(Guid Id, string Name, string Prefix, string Role, DateTimeOffset CreatedAt, string Secret);

/// <summary>What an API key resolves to when it authenticates a request.</summary>
public sealed record ApiKeyPrincipal(Guid Id, Guid OrgId, string Name, string Prefix, string Role, bool Revoked, long? LastUsedAt);

public sealed record UserCredentials(Guid Id, string Email, string? PasswordHash);
