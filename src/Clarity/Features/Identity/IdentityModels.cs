namespace Clarity.Features.Identity;

public sealed record SetupRequest(string? Org, string? OrgName, string? Email, string? Password, string? DisplayName);

public sealed record LoginRequest(string? Email, string? Password);

public sealed record CreateOrgRequest(string? Slug, string? Name);

public sealed record ChangeRoleRequest(string? Role);

public sealed record CreateApiKeyRequest(string? Name, string? Role);

/// <param name="ExpiresInHours">How long the invitation stays open: 1 to 720 hours, 168 (a week) when absent.</param>
public sealed record CreateInvitationRequest(string? Email, string? Role, int? ExpiresInHours);

/// <summary>Accepting an invitation through its link as a new account: the link's token, and the new account's password.</summary>
public sealed record AcceptInvitationRequest(string? Token, string? Password, string? DisplayName);

/// <summary>What an API key resolves to when it authenticates a request.</summary>
public sealed record ApiKeyPrincipal(Guid Id, Guid OrgId, string Name, string Prefix, string Role, bool Revoked, long? LastUsedAt)
{
    /// <summary>The person responsible for the key (who created it, or the person behind the key that created it).</summary>
    public Guid? CreatedBy { get; init; }
}

public sealed record UserCredentials(Guid Id, string Email, string? PasswordHash);
