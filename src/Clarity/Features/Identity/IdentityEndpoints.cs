using Clarity.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Clarity.Features.Identity;

public static class IdentityEndpoints
{
    public static IEndpointRouteBuilder MapIdentityEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").WithTags("Identity");
        api.MapGet("/setup", GetSetupStatus).Public();
        api.MapPost("/setup", Setup).Public();
        api.MapPost("/auth/login", Login).Public();
        api.MapPost("/auth/logout", Logout).Public();
        api.MapGet("/me", GetMe).RequireCaller();
        api.MapPost("/orgs", CreateOrg).RequireUser();

        var org = api.MapGroup("/orgs/{org}");
        org.MapGet("", GetOrg).RequirePermission(Permissions.OrgRead);
        org.MapGet("/members", ListMembers).RequirePermission(Permissions.MembersRead);
        org.MapPost("/members", AddMember).RequirePermission(Permissions.MembersManage);
        org.MapPut("/members/{userId:guid}", ChangeRole).RequirePermission(Permissions.MembersManage);
        org.MapDelete("/members/{userId:guid}", RemoveMember).RequirePermission(Permissions.MembersManage);
        org.MapGet("/api-keys", ListApiKeys).RequirePermission(Permissions.ApiKeysManage);
        org.MapPost("/api-keys", CreateApiKey).RequirePermission(Permissions.ApiKeysManage);
        org.MapDelete("/api-keys/{id:guid}", RevokeApiKey).RequirePermission(Permissions.ApiKeysManage);
        return app;
    }

    private static async Task<Ok<SetupStatus>> GetSetupStatus(IdentityStore store, CancellationToken ct) =>
        TypedResults.Ok(new SetupStatus(!await store.AnyUserAsync(ct)));

    private static async Task<Created<SetupResult>> Setup(SetupRequest request, IdentityService identity, CancellationToken ct)
    {
        var (org, user) = await identity.SetupAsync(request, ct);
        return TypedResults.Created($"/api/v1/orgs/{org.Slug}", new SetupResult(org, user));
    }

    private static async Task<Ok<LoginResult>> Login(LoginRequest request, IdentityService identity, HttpContext http, CancellationToken ct)
    {
        var (token, expiresAt) = await identity.LoginAsync(request, ct);
        SessionCookie.Append(http, token, expiresAt);
        return TypedResults.Ok(new LoginResult(token, expiresAt));
    }

    private static NoContent Logout(HttpContext http)
    {
        SessionCookie.Delete(http);
        return TypedResults.NoContent();
    }

    private static async Task<Ok<Me>> GetMe(HttpContext http, IdentityService identity, CancellationToken ct) =>
        TypedResults.Ok(await identity.MeAsync(http.Features.Get<Caller>()!, ct));

    private static async Task<Created<Org>> CreateOrg(CreateOrgRequest request, HttpContext http, IdentityService identity, CancellationToken ct)
    {
        var org = await identity.CreateOrgAsync(http.Features.Get<Caller>()!, request, ct);
        return TypedResults.Created($"/api/v1/orgs/{org.Slug}", org);
    }

    private static async Task<Ok<Org>> GetOrg(OrgContext org, IdentityService identity, CancellationToken ct) =>
        TypedResults.Ok(await identity.GetOrgAsync(org, ct));

    private static async Task<Ok<IReadOnlyList<Member>>> ListMembers(OrgContext org, IdentityService identity, CancellationToken ct) =>
        TypedResults.Ok(await identity.ListMembersAsync(org, ct));

    private static async Task<Created<Member>> AddMember(OrgContext org, AddMemberRequest request, IdentityService identity, CancellationToken ct)
    {
        var member = await identity.AddMemberAsync(org, request, ct);
        return TypedResults.Created($"/api/v1/orgs/{org.Slug}/members/{member.UserId}", member);
    }

    private static async Task<Ok<Member>> ChangeRole(OrgContext org, Guid userId, ChangeRoleRequest request, IdentityService identity, CancellationToken ct) =>
        TypedResults.Ok(await identity.ChangeRoleAsync(org, userId, request, ct));

    private static async Task<NoContent> RemoveMember(OrgContext org, Guid userId, IdentityService identity, CancellationToken ct)
    {
        await identity.RemoveMemberAsync(org, userId, ct);
        return TypedResults.NoContent();
    }

    private static async Task<Ok<IReadOnlyList<ApiKeyInfo>>> ListApiKeys(OrgContext org, IdentityService identity, CancellationToken ct) =>
        TypedResults.Ok(await identity.ListApiKeysAsync(org, ct));

    private static async Task<Created<CreatedApiKey>> CreateApiKey(OrgContext org, CreateApiKeyRequest request, IdentityService identity, CancellationToken ct)
    {
        var key = await identity.CreateApiKeyAsync(org, request, ct);
        return TypedResults.Created($"/api/v1/orgs/{org.Slug}/api-keys/{key.Id}", key);
    }

    private static async Task<NoContent> RevokeApiKey(OrgContext org, Guid id, IdentityService identity, CancellationToken ct)
    {
        await identity.RevokeApiKeyAsync(org, id, ct);
        return TypedResults.NoContent();
    }
}
